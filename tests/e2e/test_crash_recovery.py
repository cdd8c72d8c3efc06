"""A run killed at any point, then started again, ends with the same silver, gold and audit figures
as an uninterrupted run: nothing lost, nothing doubled.

The kill is real: an Airflow listener plugin (test-only, dropped into the run's AIRFLOW_HOME)
calls `os._exit` after a task succeeds, or while the Spark job is running.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline import plan, sample_data

from . import runner

pytestmark = pytest.mark.e2e

SPEC = sample_data.SampleSpec(
    seed=11, days=3, customers=120, agents=6, orders_per_day=100, second_currency=None
)

CRASH_PLUGIN = """
import os
import threading

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

CRASH = os.environ.get("CDI_TEST_CRASH", "")


class CrashListener:
    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        if CRASH.startswith(f"during:{task_instance.task_id}:"):
            delay = float(CRASH.rsplit(":", 1)[1])
            threading.Timer(delay, lambda: os._exit(137)).start()

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        if CRASH == f"after:{task_instance.task_id}":
            os._exit(137)


class CrashPlugin(AirflowPlugin):
    name = "cdi_test_crash"
    listeners = [CrashListener()]
"""


def cdi_run(landing: Path, output: Path, run_after: str, crash: str = "") -> subprocess.CompletedProcess[str]:
    plugins = output / "airflow" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "crash_listener.py").write_text(CRASH_PLUGIN)
    return runner.cdi_run(landing, output, run_after, CDI_TEST_CRASH=crash)


def figures(output: Path) -> dict[str, Any]:
    """Everything a user would count, without run ids (the restart is a different run)."""
    queries = {
        "silver.transactions": "select * exclude (run_id) from silver.transactions order by all",
        "silver.customers": "select * exclude (run_id) from silver.customers order by all",
        "silver.agents": "select * exclude (run_id) from silver.agents order by all",
        "quarantine": "select * exclude (run_id) from audit.quarantine order by all",
        "file_stats": "select * exclude (run_id) from audit.file_stats order by all",
        "processed": "select source_file, content_sha256, status from audit.processed_files order by all",
        **{f"gold.{t}": f"select * from gold.{t} order by all" for t in runner.GOLD_TABLES},
    }
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        return {name: con.sql(sql).fetchall() for name, sql in queries.items()}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("landing")
    sample_data.generate(path, SPEC)
    return path


@pytest.fixture(scope="module")
def uninterrupted(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("clean")
    result = cdi_run(landing, output, "2025-01-04T00:00:00+00:00")
    assert result.returncode == 0, result.stderr[-5000:]
    return figures(output)


# Every task boundary, and once in the middle of the Spark step. Each case is two full runs, so
# `make test` takes the two that leave the most behind: files claimed and the job's staging half
# written (killed inside Spark), and silver committed with no gold (after load_silver); `make
# test-crash` (CDI_FULL_CRASH_MATRIX=1) runs them all.
ALL_CRASHES = [
    "after:claim_files",
    "after:clean_raw",
    "after:load_silver",
    "after:dq_checks",
    *(f"after:{step.task_id}" for step in plan.GOLD_STEPS),
    "after:reconcile",
    "after:archive_files",
    "after:publish",
    "during:clean_raw:4",
]
QUICK_CRASHES = ["after:load_silver", "during:clean_raw:4"]
CRASHES = ALL_CRASHES if os.environ.get("CDI_FULL_CRASH_MATRIX") else QUICK_CRASHES


@pytest.mark.parametrize("crash", CRASHES)
def test_a_killed_run_restarted_ends_like_an_uninterrupted_one(
    crash: str, landing: Path, uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    output = tmp_path / "out"
    killed = cdi_run(landing, output, "2025-01-04T00:00:00+00:00", crash=crash)
    assert killed.returncode == 137, f"the run was not killed at {crash}: {killed.stderr[-3000:]}"
    restarted = cdi_run(landing, output, "2025-01-04T06:00:00+00:00")
    assert restarted.returncode == 0, restarted.stderr[-5000:]
    assert figures(output) == uninterrupted

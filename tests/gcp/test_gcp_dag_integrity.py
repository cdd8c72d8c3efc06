"""The gcp DAG's integrity: it imports without credentials or network and fast, builds the same graph
as the local target, and every task carries its retry, timeout, pool and alert policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator
from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger
from airflow.sdk import Asset, AssetOrTimeSchedule

from pipeline import notify, plan
from pipeline.config import ENV, REPO_ROOT, SQL_DIR
from pipeline.gcp import BIGQUERY_POOL, DATAPROC_POOL, schedule
from pipeline.schedule import DAILY_CRON, LANDING_ASSET

from .conftest import GCP_ENV

DAG_FILE = REPO_ROOT / "pipeline" / "dags" / "customer_analytics.py"
EXPECTED_TASKS = set(plan.TASK_IDS)

# Runs in a fresh interpreter: sockets and Google's credential lookup raise, so any cloud call at
# parse time fails the import. Times the DAG file beyond the provider imports, per target.
PARSE_PROBE = r"""
import json, os, runpy, socket, sys, time

def refuse(*args, **kwargs):
    raise OSError("network is off in this test")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse

import google.auth

def no_credentials(*args, **kwargs):
    raise AssertionError("google.auth.default() called while parsing the DAG")

google.auth.default = no_credentials

t0 = time.perf_counter()
import airflow.sdk
import airflow.providers.google.cloud.hooks.bigquery
import airflow.providers.google.cloud.hooks.gcs
import airflow.providers.google.cloud.operators.bigquery
import airflow.providers.google.cloud.operators.dataproc
import airflow.providers.google.cloud.triggers.bigquery
import airflow.providers.google.cloud.triggers.pubsub
import airflow.providers.http.hooks.http
providers = time.perf_counter() - t0
out = {"providers_s": providers}
for target in sys.argv[2:]:
    os.environ["CDI_TARGET"] = target
    for name in [m for m in sys.modules if m.startswith("pipeline")]:
        del sys.modules[name]
    before = set(sys.modules)
    t1 = time.perf_counter()
    ns = runpy.run_path(sys.argv[1])
    out[target] = {
        "parse_s": time.perf_counter() - t1,
        "tasks": sorted(ns["dag"].task_ids),
        "heavy": sorted(m for m in ("pyspark", "duckdb", "sqlglot", "pandas") if m in set(sys.modules) - before),
    }
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def parse_probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "GOOGLE_"))}
    env.update(GCP_ENV)
    env.update(AIRFLOW_HOME=str(home), PYTHONPATH=str(REPO_ROOT))
    env.pop("STORAGE_EMULATOR_HOST", None)
    env.pop("BIGQUERY_EMULATOR_HOST", None)
    done = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAG_FILE), "gcp", "local"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0, done.stderr[-4000:]
    assert lines, done.stdout[-4000:]
    return json.loads(lines[-1][len("RESULT ") :])  # type: ignore[no-any-return]


def test_the_dag_file_imports_without_credentials_or_network(parse_probe: dict[str, Any]) -> None:
    for target in ("gcp", "local"):
        assert set(parse_probe[target]["tasks"]) == EXPECTED_TASKS


def test_the_dag_file_parses_in_under_a_second_beyond_the_providers(parse_probe: dict[str, Any]) -> None:
    print(f"providers {parse_probe['providers_s']:.2f}s, gcp DAG {parse_probe['gcp']['parse_s']:.3f}s")
    assert parse_probe["gcp"]["parse_s"] < 1.0
    # The DAG file itself brings no Spark, DuckDB, sqlglot or pandas onto Composer's parse path.
    assert parse_probe["gcp"]["heavy"] == []


def test_both_targets_have_the_same_task_ids_and_graph(gcp_dag: Any) -> None:
    from pipeline.dag import build_dag

    local = build_dag("local")
    assert set(gcp_dag.task_ids) == set(local.task_ids) == EXPECTED_TASKS
    graph = {t.task_id: sorted(t.upstream_task_ids) for t in gcp_dag.tasks}
    assert graph == {t.task_id: sorted(t.upstream_task_ids) for t in local.tasks}
    assert graph["clean_raw"] == ["claim_files"]
    assert graph["gold_customer_rfm"] == ["gold_customer_daily", "gold_customer_state"]
    assert graph["gold_peak_hours"] == ["gold_peak_hours_daily"]
    assert graph["gold_cohort_retention"] == ["gold_customer_daily"]
    assert graph["gold_segment_migration"] == ["gold_customer_daily", "gold_customer_rfm"]
    assert graph["publish"] == ["archive_files", "reconcile"]
    # Archiving waits for gold, not for reconciliation: a bad file fails the run but is not
    # claimed again by every later run.
    assert "reconcile" not in graph["archive_files"]


def test_no_cycles(gcp_dag: Any) -> None:
    from airflow.utils.dag_cycle_tester import check_cycle

    check_cycle(gcp_dag)


def test_the_dagbag_loads_the_gcp_dag(gcp_settings_env: dict[str, str]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    assert set(bag.dags["customer_analytics"].task_ids) == EXPECTED_TASKS


def test_operators_are_the_google_ones_and_deferrable(gcp_dag: Any) -> None:
    clean = gcp_dag.get_task("clean_raw")
    assert isinstance(clean, DataprocCreateBatchOperator)
    assert clean.deferrable
    bigquery_tasks = ["load_silver", "dq_checks", *(s.task_id for s in plan.GOLD_STEPS), "reconcile"]
    for task_id in bigquery_tasks:
        task = gcp_dag.get_task(task_id)
        assert isinstance(task, BigQueryInsertJobOperator), task_id
        assert task.deferrable, task_id
        assert task.pool == BIGQUERY_POOL, task_id
    assert clean.pool == DATAPROC_POOL


def test_every_task_retries_with_backoff_times_out_and_alerts(gcp_dag: Any) -> None:
    for task in gcp_dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff >= 2.0, task.task_id  # a multiplier in Airflow 3.3
        assert task.max_retry_delay is not None, task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert any(isinstance(c, notify.FailureNotifier) for c in task.on_failure_callback), task.task_id
    assert gcp_dag.get_task("clean_raw").execution_timeout > gcp_dag.get_task("claim_files").execution_timeout


def test_the_same_notifiers_serve_both_targets(gcp_dag: Any) -> None:
    from pipeline.dag import build_dag

    for dag in (gcp_dag, build_dag("local")):
        assert all(
            any(isinstance(c, notify.FailureNotifier) for c in t.on_failure_callback) for t in dag.tasks
        )
        report = dag.get_task("report")
        assert str(report.trigger_rule) in ("all_done", "TriggerRule.ALL_DONE")
        assert any(isinstance(c, notify.RunSummaryNotifier) for c in report.on_success_callback)


def test_schedule_daily_and_on_file_arrival_without_overlap(gcp_dag: Any) -> None:
    assert gcp_dag.max_active_runs == 1
    assert gcp_dag.catchup is False
    timetable = gcp_dag.timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    assert timetable.timetable.expression == DAILY_CRON
    asset = timetable.asset_condition
    assert isinstance(asset, Asset)
    assert asset.name == LANDING_ASSET
    assert asset.uri == f"gs://{GCP_ENV['CDI_LANDING_BUCKET']}/"
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, PubsubPullTrigger)
    # The subscription Composer's environment names (infra sets it to the one it creates and grants:
    # tests/gcp/test_contract.py checks that side against the stacks).
    assert watcher.trigger.subscription == GCP_ENV[ENV["landing_subscription"]]
    assert watcher.trigger.project_id == GCP_ENV["CDI_PROJECT"]


def test_freshness_deadline_alert(gcp_dag: Any) -> None:
    (alert,) = gcp_dag.deadline
    assert alert.interval == schedule.FRESHNESS
    assert alert.callback.path == "pipeline.notify.LateRunNotifier"


def test_sql_is_found_through_the_template_searchpath(gcp_dag: Any) -> None:
    assert str(SQL_DIR) in gcp_dag.template_searchpath
    assert Path(SQL_DIR, plan.GOLD_STEPS[0].sql).is_file()

"""The local DAG: it imports fast, has the expected graph and no cycles."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline import plan
from pipeline.dag import build_dag

# Written out, not derived: this is the graph a user sees in the Airflow UI.
EXPECTED_TASKS = {
    "claim_files",
    "clean_raw",
    "load_silver",
    "dq_checks",
    "plan_gold",
    "gold_aov_daily",
    "gold_agent_performance",
    "gold_customer_daily",
    "gold_peak_hours_daily",
    "gold_customer_state",
    "gold_customer_rfm",
    "gold_peak_hours",
    "gold_cohort_retention",
    "gold_segment_migration",
    "reconcile",
    "archive_files",
    "publish",
    "report",
}


@pytest.fixture(scope="module")
def dag():  # type: ignore[no-untyped-def]
    return build_dag("local")


def test_it_has_the_expected_tasks(dag) -> None:  # type: ignore[no-untyped-def]
    assert set(dag.task_ids) == EXPECTED_TASKS == set(plan.TASK_IDS)


def test_it_has_no_cycles(dag) -> None:  # type: ignore[no-untyped-def]
    from airflow.utils.dag_cycle_tester import check_cycle

    check_cycle(dag)


def test_gold_waits_for_the_quality_gate_and_its_inputs(dag) -> None:  # type: ignore[no-untyped-def]
    # The restatement plan (pipeline/restate.py) sits between the quality gate and gold.
    assert dag.get_task("plan_gold").upstream_task_ids == {"dq_checks"}
    assert dag.get_task("gold_aov_daily").upstream_task_ids == {"plan_gold"}
    assert dag.get_task("gold_customer_state").upstream_task_ids == {"gold_customer_daily"}
    assert dag.get_task("gold_customer_rfm").upstream_task_ids == {
        "gold_customer_daily",
        "gold_customer_state",
    }
    assert dag.get_task("gold_peak_hours").upstream_task_ids == {"gold_peak_hours_daily"}
    assert dag.get_task("gold_cohort_retention").upstream_task_ids == {"gold_customer_daily"}
    assert dag.get_task("gold_segment_migration").upstream_task_ids == {
        "gold_customer_daily",
        "gold_customer_rfm",
    }
    assert dag.get_task("clean_raw").upstream_task_ids == {"claim_files"}


def test_report_runs_whatever_happened(dag) -> None:  # type: ignore[no-untyped-def]
    report = dag.get_task("report")
    assert str(report.trigger_rule) in ("all_done", "TriggerRule.ALL_DONE")
    assert {"reconcile", "archive_files", "gold_aov_daily"} <= report.upstream_task_ids
    # A run's state comes from its leaves: publish must stay one, or a failed run would end green.
    assert {t.task_id for t in dag.tasks if not t.downstream_task_ids} == {"publish", "report"}


def test_schedule_is_daily_without_catchup(dag) -> None:  # type: ignore[no-untyped-def]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.dag_id == "customer_analytics"


def test_the_dag_file_imports_fast_without_spark_or_duckdb() -> None:
    code = (
        "import time, sys; import airflow.sdk; t = time.perf_counter();"
        "import pipeline.dags.customer_analytics as m; dt = time.perf_counter() - t;"
        "heavy = [n for n in ('pyspark', 'duckdb', 'plotly', 'pandas') if n in sys.modules];"
        "print('RESULT', dt, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    _, seconds, heavy = result.split(" ", 2)
    assert float(seconds) < 1.0, out.stdout
    assert heavy == "[]", f"heavy modules imported at parse time: {heavy}"

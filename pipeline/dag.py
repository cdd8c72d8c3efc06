"""customer_analytics: raw landing files -> silver -> data-quality gates -> gold -> publish.

Both targets share this graph, its task ids, the SQL under `sql/` and the PySpark job under
`spark/`; only the thin operators that move data differ (`pipeline/targets/<target>.py`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from pipeline import plan
from pipeline.config import DAG_ID, Settings, Target

DOC_MD = """
### customer_analytics
Claims newly landed files, cleans them with the PySpark job (quarantining bad rows with a reason),
merges the affected days into **silver**, runs data-quality checks, rebuilds the **gold** rows of the
affected days (AOV, agent performance, RFM, peak hours), reconciles, archives and publishes.
The `report` task always runs and records the run in `audit.pipeline_runs`.
"""


def _default_args(target: Target) -> dict[str, Any]:
    if target == "local":
        # A laptop run fails fast; the report task says what failed.
        return {"owner": "data-platform", "retries": 0}
    return {
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    }


def build_dag(target: Target | None = None) -> DAG:
    """The DAG for one target (default: `CDI_TARGET`, else local)."""
    target = target or Settings.from_env().target
    with DAG(
        dag_id=DAG_ID,
        description="Customer analytics: landing -> silver -> gold, with data-quality gates",
        doc_md=DOC_MD,
        schedule="@daily",
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(target),
        tags=["customer-analytics", target],
    ) as dag:
        if target == "local":
            from pipeline.targets import local as operators
        else:
            from pipeline.targets import gcp as operators  # type: ignore[no-redef]
        t = operators.make_tasks()
        gold = [t[step.task_id] for step in plan.GOLD_STEPS]

        t["claim_files"] >> t["clean_raw"] >> t["load_silver"] >> t["dq_checks"]
        for step in plan.GOLD_STEPS:
            upstream = [t[f"gold_{name}"] for name in step.after] or [t["dq_checks"]]
            upstream >> t[step.task_id]
        gold >> t["reconcile"] >> t["archive_files"] >> t["publish"]
        [t["reconcile"], t["archive_files"], *gold] >> t["report"]
    return dag

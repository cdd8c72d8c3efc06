"""customer_analytics: raw landing files -> silver -> data-quality gates -> gold -> publish.

Both targets share this graph, its task ids, the SQL under `sql/` and the PySpark job under
`spark/`; only the thin operators that move data differ (`pipeline/targets/<target>.py`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from pipeline import notify, plan, restate
from pipeline.config import DAG_ID, SQL_DIR, Settings, Target

DOC_MD = """
### customer_analytics
Claims newly landed files, cleans them with the PySpark job (quarantining bad rows with a reason),
merges the affected days into **silver**, runs data-quality checks, rebuilds the **gold** rows of the
affected days (AOV, agent performance, RFM, peak hours), reconciles, archives and publishes.
The `report` task always runs and records the run in `audit.pipeline_runs`.
A gold table whose SQL changed since it was built is restated over its whole history (`plan_gold`);
trigger a run with the **rebuild** params to restate tables over a range of days.
"""


def _default_args(target: Target) -> dict[str, Any]:
    # The same alerts on both targets (each channel is skipped when its connection is not set).
    alerts = {"on_failure_callback": [notify.FailureNotifier()]}
    if target == "local":
        # A laptop run fails fast; the report task says what failed.
        return {"owner": "data-platform", "retries": 0, **alerts}
    return {
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        # Airflow 3.3: a multiplier (True would be 1.0, a constant delay); per task type in targets/gcp.py.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        **alerts,
    }


def _schedule(target: Target) -> Any:
    """Daily and on file arrival (`pipeline.schedule`): the landing folder watched locally
    (`pipeline.landing_watch`, under `cdi ui`), the landing bucket's Pub/Sub on GCP."""
    settings = Settings.from_env()
    if target == "local":
        from pipeline.landing_watch import landing_asset
        from pipeline.schedule import asset_or_daily

        return asset_or_daily(landing_asset(settings))
    from pipeline.gcp import schedule

    return schedule.schedule(settings)


def _deadline(target: Target) -> Any:
    """GCP: a Deadline Alert for the freshness promise (the local target has none)."""
    if target == "local":
        return None
    from pipeline.gcp import schedule

    return schedule.freshness_deadline()


def build_dag(target: Target | None = None) -> DAG:
    """The DAG for one target (default: `CDI_TARGET`, else local)."""
    target = target or Settings.from_env().target
    with DAG(
        dag_id=DAG_ID,
        description="Customer analytics: landing -> silver -> gold, with data-quality gates",
        doc_md=DOC_MD,
        schedule=_schedule(target),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(target),
        template_searchpath=[str(SQL_DIR)],
        tags=["customer-analytics", target],
        deadline=_deadline(target),
        params=restate.dag_params(),
    ) as dag:
        if target == "local":
            from pipeline.targets import local as operators
        else:
            from pipeline.targets import gcp as operators  # type: ignore[no-redef]
        t = operators.make_tasks()
        report = getattr(t["report"], "operator", t["report"])  # TaskFlow: the XComArg's operator
        report.on_success_callback = [notify.RunSummaryNotifier()]  # the run's summary, both targets
        gold = [t[step.task_id] for step in plan.GOLD_STEPS]

        gold_plan = t[plan.GOLD_PLAN_TASK_ID]
        t["claim_files"] >> t["clean_raw"] >> t["load_silver"] >> t["dq_checks"] >> gold_plan
        for step in plan.GOLD_STEPS:
            upstream = [t[f"gold_{name}"] for name in step.after] or [gold_plan]
            upstream >> t[step.task_id]
        # Files are archived once gold is built, even when reconciliation fails (a bad file fails the
        # run after loading what is good, and is not claimed again by every later run).
        gold >> t["reconcile"] >> t["publish"]
        gold >> t["archive_files"] >> t["publish"]
        # `publish` stays a leaf beside `report` (trigger rule ALL_DONE): Airflow derives a run's state
        # from its leaves, so a report downstream of everything would turn every run green. The CLI's
        # summary reads publish's final state after the run.
        [t["reconcile"], t["archive_files"], *gold] >> t["report"]
    return dag

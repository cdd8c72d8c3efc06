"""The gcp target: landing bucket -> Dataproc Serverless (PySpark) -> BigQuery, with Google's operators.

Same task ids, SQL files, Spark job and XCom shapes as the local target. Data moves through the
provider's operators (`DataprocCreateBatchOperator`, `BigQueryInsertJobOperator`, deferrable, their
bodies finished in `pipeline.gcp.operators`) and hooks (GCS, HTTP); the glue tasks are TaskFlow.
Nothing here calls a cloud API at import time.

Per task type: retries with exponential backoff, an execution timeout, and a pool for BigQuery and
Dataproc (with the DAG's max_active_runs=1, runs touching the same tables never overlap).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import TriggerRule, get_current_context, task

from pipeline import plan
from pipeline.config import Settings
from pipeline.gcp import (
    BIGQUERY_POOL,
    DASHBOARD_CONN_ID,
    DATAPROC_POOL,
    GCP_CONN_ID,
)
from pipeline.gcp.operators import ChecksOperator, CleanBatchOperator, GoldQueryOperator, LoadSilverOperator
from pipeline.gcp.restate import GoldPlanOperator
from pipeline.runs import timed, window

log = logging.getLogger(__name__)

# Retry and timeout policy per task type: the API calls of GCS and BigQuery fail fast and transiently
# (retry soon, back off); a Dataproc batch is long (fewer retries, longer delay).
GCS_TASK: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=15),
}
DATAPROC_TASK: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=20),
    "execution_timeout": timedelta(hours=3),
    "pool": DATAPROC_POOL,
}
BIGQUERY_TASK: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=1),
    "pool": BIGQUERY_POOL,
}
HTTP_TASK: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "execution_timeout": timedelta(minutes=5),
}
REPORT_TASK: dict[str, Any] = {**GCS_TASK, "pool": BIGQUERY_POOL}


def _storage_client() -> Any:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    return GCSHook(gcp_conn_id=GCP_CONN_ID).get_conn()


@task(task_id="claim_files", **GCS_TASK)
@timed
def claim_files() -> dict[str, Any]:
    """Move every new landing object into this run's archive prefix (a rerun keeps its own files)."""
    from pipeline.gcp import storage
    from pipeline.source_settings import load_sources, settings_for

    settings = Settings.from_env()
    run = window(get_current_context())
    sources = load_sources(settings)  # sources.yaml from the DAG folder; a bad one fails before claiming
    claims = storage.claim_objects(
        _storage_client(),
        landing_bucket=settings.landing_bucket,
        archive_bucket=settings.archive_bucket,
        run_key=run.key,
    )
    log.info("claimed %d file(s) from gs://%s", len(claims), settings.landing_bucket)
    files = [
        {**c, "settings": settings_for(sources, str(c["entity"]), str(c["source_file"])).to_json()}
        for c in claims
    ]
    return {"files": files}


@task(task_id="archive_files", **GCS_TASK)
@timed
def archive_files() -> dict[str, Any]:
    """Mark the run's claimed files processed (they were moved into the archive at claim time), the
    days it built in gold (`audit.run_days`) and the gold tables whose whole history it built with
    their SQL's fingerprints (`pipeline.gcp.restate`)."""
    from datetime import date

    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    from pipeline.gcp import bigquery, restate, storage

    settings = Settings.from_env()
    context = get_current_context()
    run = window(context)
    claims = (context["ti"].xcom_pull(task_ids="claim_files") or {}).get("files", [])
    days = (context["ti"].xcom_pull(task_ids="load_silver") or {}).get("affected_days", [])
    if days:
        hook = BigQueryHook(gcp_conn_id=GCP_CONN_ID, location=settings.bq_location)
        job = hook.insert_job(
            configuration=bigquery.file_job(
                plan.BUILT_DAYS_SQL, {"days": [date.fromisoformat(d) for d in days]}
            ),
            project_id=settings.project or hook.project_id,
            location=settings.bq_location,
        )
        job.result()
    gold_plan = context["ti"].xcom_pull(task_ids=plan.GOLD_PLAN_TASK_ID)
    recorded = restate.record_fingerprints(settings, gold_plan, run.run_id)
    files = storage.write_manifest(
        _storage_client(),
        archive_bucket=settings.archive_bucket,
        run_key=run.key,
        run_id=run.run_id,
        claims=claims,
    )
    return {"files": files, "fingerprints_recorded": recorded}


@task(task_id="publish", **HTTP_TASK)
@timed
def publish() -> dict[str, Any]:
    """Build the dashboard, the run-health page and the data docs from BigQuery into the private
    reports bucket (`pipeline.gcp.pages`), then call the dashboard-refresh webhook (connection
    `dashboard_refresh`).

    The pages are written first: a failing refresh leaves them published (and its retries rewrite
    them). The webhook is skipped when the stack has no dashboard refresh; when it configured one
    (`CDI_REQUIRED_CONNECTIONS`), a missing connection fails the task instead of passing unseen.
    """
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from pipeline.gcp import pages

    settings = Settings.from_env()
    context = get_current_context()
    run = window(context)
    hook = BigQueryHook(gcp_conn_id=GCP_CONN_ID, location=settings.bq_location)
    published = pages.publish(settings, hook, _storage_client(), run_id=run.run_id, run_date=run.run_date)
    log.info(
        "pages: %d object(s) in gs://%s, %s", published["objects"], published["bucket"], published["url"]
    )

    try:
        BaseHook.get_connection(DASHBOARD_CONN_ID)
    except AirflowNotFoundException:
        if DASHBOARD_CONN_ID in settings.required_connections:
            raise RuntimeError(
                f"connection {DASHBOARD_CONN_ID!r} is configured for this stack but missing "
                "(Secret Manager secret airflow-connections-dashboard_refresh)"
            ) from None
        log.info("no connection %r: no dashboard to refresh", DASHBOARD_CONN_ID)
        return {"pages": published, "refresh": None}
    silver = context["ti"].xcom_pull(task_ids="load_silver") or {}
    payload = {
        "dag_id": context["dag"].dag_id,
        "run_id": run.run_id,
        "affected_days": silver.get("affected_days", []),
        "tables": [s.table for s in plan.GOLD_STEPS],
    }
    response = HttpHook(method="POST", http_conn_id=DASHBOARD_CONN_ID).run(json=payload)
    return {
        "pages": published,
        "refresh": {"dashboard": DASHBOARD_CONN_ID, "status": int(response.status_code)},
    }


@task(task_id="report", trigger_rule=TriggerRule.ALL_DONE, **REPORT_TASK)
def report() -> dict[str, Any]:
    """Write audit.pipeline_runs and the JSON report for the run, whatever its outcome."""
    from pipeline.gcp import report as reporting

    built = reporting.build_and_write(Settings.from_env(), get_current_context(), GCP_CONN_ID)
    log.info("report: %s", built["summary"])
    return dict(built["summary"])


def make_tasks() -> dict[str, Any]:
    settings = Settings.from_env()
    common: dict[str, Any] = {"gcp_conn_id": GCP_CONN_ID, "settings": settings}
    tasks: dict[str, Any] = {
        "claim_files": claim_files(),
        "clean_raw": CleanBatchOperator(task_id="clean_raw", **common, **DATAPROC_TASK),
        "load_silver": LoadSilverOperator(task_id="load_silver", **common, **BIGQUERY_TASK),
        "dq_checks": ChecksOperator(task_id="dq_checks", stage="silver", **common, **BIGQUERY_TASK),
        plan.GOLD_PLAN_TASK_ID: GoldPlanOperator(task_id=plan.GOLD_PLAN_TASK_ID, **common, **BIGQUERY_TASK),
    }
    for step in plan.GOLD_STEPS:
        tasks[step.task_id] = GoldQueryOperator(task_id=step.task_id, step=step, **common, **BIGQUERY_TASK)
    tasks.update(
        reconcile=ChecksOperator(task_id="reconcile", stage="gold", **common, **BIGQUERY_TASK),
        archive_files=archive_files(),
        publish=publish(),
        report=report(),
    )
    return tasks

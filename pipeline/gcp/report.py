"""The run report on GCP: the same figures as the local `report.json`, read from BigQuery.

The report goes to `audit.pipeline_runs` (one row per run, replaced on rerun) and, as JSON, to
`gs://<archive>/reports/<run_key>.json`. Its `summary` is what the success notifier sends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from pipeline import plan
from pipeline import report as local_report
from pipeline.config import DAG_ID, Settings
from pipeline.gcp import bigquery, pages
from pipeline.runs import window


def summarize(
    *,
    run_id: str,
    states: dict[str, str | None],
    claims: list[dict[str, Any]],
    affected_days: list[str],
    figures: list[dict[str, Any]],
    duration_seconds: float | None,
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Turn the figure rows of `runs/report_figures.sql` into the report (pure); `links` (name ->
    URL: the Looker Studio report, the dashboard this run published) go into the summary the
    notifications send."""
    files = [f for f in figures if f["kind"] == "file"]
    totals = local_report.figure_totals(figures, len(claims))
    data_quality = local_report.figure_checks(figures)
    warnings = sum(1 for c in data_quality if not c["passed"])
    outcome = local_report._outcome(states, totals["rows_quarantined"], warnings)
    gold_rows = local_report.figure_gold_rows(figures)
    nothing_new = None
    days = [date.fromisoformat(d) for d in affected_days]
    if states.get("claim_files") == "success" and plan.nothing_new(len(claims), days):
        nothing_new = local_report.nothing_new_note(*local_report.figure_runs(figures))
    summary = {
        "run_id": run_id,
        "outcome": outcome,
        **totals,
        "affected_days": len(affected_days),
        "gold_rows": gold_rows,
        "nothing_new": nothing_new,
        "duration_seconds": duration_seconds,
        "data_quality": local_report.dq_status(data_quality),
        "links": dict(links or {}),
    }
    return {
        "run_id": run_id,
        "target": "gcp",
        "outcome": outcome,
        "task_states": states,
        "totals": totals,
        "quarantine_reasons": local_report.figure_reasons(figures),
        "files": [
            {
                "source_file": f["figure"],
                "rows_read": f["a"],
                "rows_valid": f["b"],
                "rows_quarantined": f["c"],
                "error": f["detail"],
            }
            for f in files
        ],
        "affected_days": affected_days,
        "nothing_new": nothing_new,
        "data_quality": data_quality,
        "gold_rows": gold_rows,
        "summary": summary,
    }


def _links(settings: Settings) -> dict[str, str]:
    """The Looker Studio report, when the stack has one, and the dashboard `publish` writes (its
    authenticated browser URL, `pipeline.gcp.pages`).

    The dashboard's link is its fixed place, not a run's copy: `publish` stays a leaf of the DAG
    (`pipeline/dag.py`), so it may still be running when this report is sent. The page names the run
    that wrote it."""
    links = {"Looker Studio": settings.looker_studio_url} if settings.looker_studio_url else {}
    if settings.reports_bucket:
        links["Dashboard"] = pages.dashboard_url(settings.reports_bucket)
    return links


def build_and_write(settings: Settings, context: Any, gcp_conn_id: str) -> dict[str, Any]:
    """Collect the figures, write audit.pipeline_runs and the JSON report; return the report."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from pipeline.gcp import storage

    run = window(context)
    ti = context["ti"]
    states: dict[str, str | None] = (
        ti.get_task_states(dag_id=DAG_ID, run_ids=[run.run_id]).get(run.run_id, {}) or {}
    )
    claims = (ti.xcom_pull(task_ids="claim_files") or {}).get("files", [])
    affected = (ti.xcom_pull(task_ids="load_silver") or {}).get("affected_days", [])
    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, location=settings.bq_location)
    project = settings.project or hook.project_id
    job = hook.insert_job(
        configuration=bigquery.file_job(
            plan.REPORT_FIGURES_SQL, {"run_id": run.run_id, "logical_date": run.logical_date}
        ),
        project_id=project,
        location=settings.bq_location,
    )
    rows: Any = job.result()
    figures = [dict(row.items()) for row in rows]
    built = summarize(
        run_id=run.run_id,
        states=states,
        claims=claims,
        affected_days=affected,
        figures=figures,
        duration_seconds=local_report.run_seconds(context),
        links=_links(settings),
    )
    t = built["totals"]
    values = {
        "run_id": run.run_id,
        "logical_date": run.logical_date,
        "target": "gcp",
        "files": t["files"],
        "rows_read": t["rows_read"],
        "rows_valid": t["rows_valid"],
        "rows_quarantined": t["rows_quarantined"],
        "affected_days": json.dumps(affected),
        "step_seconds": json.dumps({}),
        "outcome": built["outcome"],
    }
    hook.insert_job(
        configuration=bigquery.file_job(plan.PIPELINE_RUN_SQL, values),
        project_id=project,
        location=settings.bq_location,
    )
    if settings.archive_bucket:
        uri = f"gs://{settings.archive_bucket}/reports/{run.key}.json"
        storage.upload_json(GCSHook(gcp_conn_id=gcp_conn_id).get_conn(), uri, built)
        built["report_uri"] = uri
    return built

"""The local target: landing folder -> PySpark in local mode -> DuckDB, as TaskFlow tasks.

Every task opens the warehouse, does one idempotent unit of work keyed on the run id, and
returns a small summary (XCom). Heavy imports (Spark, DuckDB, Plotly) happen inside tasks.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from airflow.sdk import TriggerRule, get_current_context, task

from pipeline import plan
from pipeline.config import Settings
from pipeline.runs import timed, window

log = logging.getLogger(__name__)


def _settings() -> Settings:
    return Settings.from_env()


def _days(values: list[str]) -> list[date]:
    return [date.fromisoformat(v) for v in values]


def _xcom(task_id: str) -> Any:
    return get_current_context()["ti"].xcom_pull(task_ids=task_id)


def _params(settings: Settings) -> dict[str, Any]:
    run = window(get_current_context())
    silver = _xcom("load_silver") or {}
    clean = _xcom("clean_raw") or {}
    return plan.query_parameters(
        run_id=run.run_id,
        days=_days(silver.get("affected_days", [])),
        run_date=run.run_date,
        reporting_tz=settings.reporting_tz,
        rows_valid=int(clean.get("transactions_valid", 0)),
        reporting_currency=settings.reporting_currency,
        fx_max_gap_days=settings.fx_max_gap_days,
    )


@task(task_id="claim_files")
@timed
def claim_files() -> dict[str, Any]:
    """Copy the files this run reads (new landing files, those rejected whole under other source
    settings, or the ones `cdi reprocess` names) into its archive folder and record the claims."""
    from pipeline import warehouse
    from pipeline.claim import claim_files as claim
    from pipeline.claim import rejected_files, settings_sha256
    from pipeline.source_settings import load_sources, settings_for

    settings = _settings()
    run = window(get_current_context())
    sources = load_sources(settings)  # a bad settings file fails here, before any file is claimed
    with warehouse.connect(settings.warehouse_path) as con:
        claims = claim(
            con,
            landing=settings.landing_dir,
            archive_dir=settings.archive_dir,
            run_id=run.run_id,
            run_key=run.key,
            settings_sha256=settings_sha256(settings.sources_path),
            # `cdi reprocess`: the source files to claim again from the archive, and only those.
            reprocess=(get_current_context()["dag_run"].conf or {}).get("reprocess", []),
            settle_seconds=settings.landing_settle_seconds,
        )
        for rejected in rejected_files(con):
            log.warning(
                "%s was rejected whole by run %s and waits for a change to %s (or `cdi reprocess`)",
                rejected.source_file,
                rejected.run_id,
                settings.sources_path,
            )
    log.info("claimed %d file(s) from %s", len(claims), settings.landing_dir)
    files = [
        {**c.as_dict(), "settings": settings_for(sources, c.entity, c.source_file).to_json()} for c in claims
    ]
    return {"files": files}


@task(task_id="clean_raw")
@timed
def clean_raw() -> dict[str, Any]:
    """Run the PySpark cleaning job on the claimed files (Spark in local mode)."""
    settings = _settings()
    run = window(get_current_context())
    files = (_xcom("claim_files") or {}).get("files", [])
    output = settings.staging_dir / run.key
    if not files:
        log.info("no new files: nothing to clean")
        return {"output": str(output), "files": 0, "transactions_valid": 0, "metrics": {}}
    from pipeline.spark_session import get_spark
    from spark.job import InputFile, JobConfig, run_job
    from spark.sources import SourceSettings

    if output.exists():
        shutil.rmtree(output)
    config = JobConfig(
        run_id=run.run_id,
        inputs=tuple(
            InputFile(
                f["entity"], f["archive_path"], f["source_file"], SourceSettings.from_json(f["settings"])
            )
            for f in files
        ),
        output=str(output),
        logical_end=run.logical_end,
        source_tz=settings.source_tz,
        default_currency=settings.default_currency,
        csv_delimiter=settings.csv_delimiter,
    )
    metrics = run_job(get_spark(sum(int(f["size_bytes"]) for f in files)), config)
    valid = metrics.get("entities", {}).get("transactions", {}).get("rows_valid", 0)
    return {"output": str(output), "files": len(files), "transactions_valid": int(valid), "metrics": metrics}


@task(task_id="load_silver")
@timed
def load_silver() -> dict[str, Any]:
    """Stage the job's output and MERGE it into silver; record quarantine and file stats
    (`pipeline.silver_load.load_run`).

    One DuckDB transaction: a crash leaves silver as it was, and a rerun of the run gives the
    same tables (its quarantine and stats rows are replaced, MERGE is keyed).
    """
    from pipeline import silver_load, warehouse

    settings = _settings()
    run = window(get_current_context())
    clean = _xcom("clean_raw") or {}
    if not clean.get("files"):
        with warehouse.connect(settings.warehouse_path) as con:
            return {"affected_days": silver_load.pending_days(con), "merged": {}}
    output = Path(clean["output"])
    with warehouse.connect(settings.warehouse_path) as con:
        loaded = silver_load.load_run(
            con,
            output,
            run.run_id,
            currency=plan.currency_parameters(
                reporting_currency=settings.reporting_currency, fx_max_gap_days=settings.fx_max_gap_days
            ),
        )
    # Quarantined rows also stay as Parquet beside the warehouse, per run.
    target = settings.quarantine_dir / run.key
    if target.exists():
        shutil.rmtree(target)
    if (output / "quarantine").is_dir():
        shutil.copytree(output / "quarantine", target)
    return loaded


def _run_checks(stage: str) -> list[dict[str, Any]]:
    from pipeline import dq, warehouse

    settings = _settings()
    params = _params(settings)
    with warehouse.connect(settings.warehouse_path) as con:
        results = dq.run_checks(con, plan.checks(stage, on_bad_file=settings.on_bad_file), params)
    failed = dq.failed_errors(results)
    for r in results:
        if not r["passed"]:
            log.warning("check %s (%s) failed: %s", r["check_name"], r["severity"], r["detail"])
    if failed:
        names = ", ".join(f"{r['check_name']} ({r['detail']})" for r in failed)
        raise RuntimeError(f"data-quality checks with severity error failed: {names}")
    return results


@task(task_id="dq_checks")
@timed
def dq_checks() -> dict[str, Any]:
    """Silver-stage checks; an error-severity failure stops the gold build."""
    return {"results": _run_checks("silver")}


@task(task_id=plan.GOLD_PLAN_TASK_ID)
@timed
def plan_gold() -> dict[str, Any]:
    """Which gold tables the run restates over their history: those whose SQL changed since they
    were built, and those its rebuild params name (`pipeline.restate`)."""
    from pipeline import restate, warehouse

    settings = _settings()
    with warehouse.connect(settings.warehouse_path) as con:
        return restate.plan_local(con, settings, get_current_context()["params"])


@task(task_id="reconcile")
@timed
def reconcile() -> dict[str, Any]:
    """Gold-stage checks: silver and gold agree, and every claimed file loaded."""
    return {"results": _run_checks("gold")}


def gold_task(step: plan.GoldStep) -> Any:
    @task(task_id=step.task_id)
    @timed
    def build() -> dict[str, Any]:
        from pipeline import restate, warehouse

        settings = _settings()
        gold_plan = _xcom(plan.GOLD_PLAN_TASK_ID)
        params = restate.step_params(step, _params(settings), gold_plan)
        if plan.nothing_new(int((_xcom("clean_raw") or {}).get("files", 0)), params["days"]):
            log.info("%s: nothing new, nothing rebuilt", step.table)
            return {"rows": 0, "skipped": "nothing new"}
        with warehouse.connect(settings.warehouse_path) as con:
            rows = restate.build_gold_step(con, step, params, gold_plan)
        log.info("%s: %d rows", step.table, rows)
        return {"rows": rows}

    build.__doc__ = f"Rebuild {step.table} from sql/{step.sql}."
    return build()


@task(task_id="archive_files")
@timed
def archive_files() -> dict[str, Any]:
    """Mark the run's claimed files processed, or rejected when rejected whole (their archive
    copies were made at claim time; `claim.mark_processed`), its days built, and the gold tables
    whose whole history it built with their SQL's fingerprints."""
    from pipeline import restate, silver_load, warehouse
    from pipeline.claim import mark_processed

    settings = _settings()
    run = window(get_current_context())
    days = _days((_xcom("load_silver") or {}).get("affected_days", []))
    with warehouse.connect(settings.warehouse_path) as con:
        warehouse.execute_file(con, plan.BEGIN_SQL)
        silver_load.mark_days_built(con, days)
        files = mark_processed(con, run.run_id)
        recorded = restate.record(con, _xcom(plan.GOLD_PLAN_TASK_ID), run.run_id)
        warehouse.execute_file(con, plan.COMMIT_SQL)
    return {"files": files, "fingerprints_recorded": recorded}


@task(task_id="publish")
@timed
def publish() -> dict[str, Any]:
    """Refresh the local dashboard from gold, the run-health page and the data docs beside it."""
    from pipeline import dashboard, data_docs, health_page
    from pipeline.dashboard import DOCS_DIR

    settings = _settings()
    run = window(get_current_context())
    page = dashboard.render(
        settings.warehouse_path,
        settings.dashboard_dir,
        run_id=run.run_id,
        run_date=run.run_date,
        currency=settings.reporting_currency,
        reporting_tz=settings.reporting_tz,
    )
    health = health_page.render(
        settings.warehouse_path, settings.dashboard_dir, run_id=run.run_id, run_date=run.run_date
    )
    docs = data_docs.write(settings.dashboard_dir / DOCS_DIR)
    return {"dashboard": [str(page), str(health)], "docs": len(docs)}


@task(task_id="report", trigger_rule=TriggerRule.ALL_DONE)
def report() -> dict[str, Any]:
    """Write report.json and audit.pipeline_runs for the run, whatever its outcome."""
    from pipeline import report as reporting

    settings = _settings()
    context = get_current_context()
    built = reporting.build(settings, context)
    reporting.write(settings, built)
    log.info("report: %s", json.dumps(built["summary"]))
    return built["summary"]


def make_tasks() -> dict[str, Any]:
    tasks: dict[str, Any] = {
        "claim_files": claim_files(),
        "clean_raw": clean_raw(),
        "load_silver": load_silver(),
        "dq_checks": dq_checks(),
        plan.GOLD_PLAN_TASK_ID: plan_gold(),
    }
    for step in plan.GOLD_STEPS:
        tasks[step.task_id] = gold_task(step)
    tasks.update(reconcile=reconcile(), archive_files=archive_files(), publish=publish(), report=report())
    return tasks

"""The local target: landing folder -> PySpark in local mode -> DuckDB, as TaskFlow tasks.

Every task opens the warehouse, does one idempotent unit of work keyed on the run id, and
returns a small summary (XCom). Heavy imports (Spark, DuckDB, matplotlib) happen inside tasks.
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
    )


@task(task_id="claim_files")
@timed
def claim_files() -> dict[str, Any]:
    """Copy every new landing file into this run's archive folder and record the claim."""
    from pipeline import warehouse
    from pipeline.claim import claim_files as claim

    settings = _settings()
    run = window(get_current_context())
    with warehouse.connect(settings.warehouse_path) as con:
        claims = claim(
            con,
            landing=settings.landing_dir,
            archive_dir=settings.archive_dir,
            run_id=run.run_id,
            run_key=run.key,
        )
    log.info("claimed %d file(s) from %s", len(claims), settings.landing_dir)
    return {"files": [c.as_dict() for c in claims]}


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

    if output.exists():
        shutil.rmtree(output)
    config = JobConfig(
        run_id=run.run_id,
        inputs=tuple(InputFile(f["entity"], f["archive_path"], f["source_file"]) for f in files),
        output=str(output),
        logical_end=run.logical_end,
        source_tz=settings.source_tz,
        default_currency=settings.default_currency,
        csv_delimiter=settings.csv_delimiter,
    )
    metrics = run_job(get_spark(), config)
    valid = metrics.get("entities", {}).get("transactions", {}).get("rows_valid", 0)
    return {"output": str(output), "files": len(files), "transactions_valid": int(valid), "metrics": metrics}


def _record_days(con: Any, run_id: str, days: list[date]) -> None:
    """Queue the run's affected days for the gold build (kept if the run is rerun)."""
    con.execute(
        "INSERT INTO audit.run_days SELECT ?, day, 'pending' FROM (SELECT UNNEST(?::DATE[]) AS day) "
        "WHERE day NOT IN (SELECT day FROM audit.run_days WHERE run_id = ?)",
        [run_id, days, run_id],
    )


def _pending_days(con: Any) -> list[str]:
    """Every day whose gold is not rebuilt yet: this run's, and those of a run that died."""
    rows = con.execute(
        "SELECT DISTINCT day FROM audit.run_days WHERE status = 'pending' ORDER BY day"
    ).fetchall()
    return [r[0].isoformat() for r in rows]


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


@task(task_id="load_silver")
@timed
def load_silver() -> dict[str, Any]:
    """Stage the job's output and MERGE it into silver; record quarantine and file stats.

    One DuckDB transaction: a crash leaves silver as it was, and a rerun of the run gives the
    same tables (its quarantine and stats rows are replaced, MERGE is keyed).
    """
    from pipeline import warehouse

    settings = _settings()
    run = window(get_current_context())
    clean = _xcom("clean_raw") or {}
    if not clean.get("files"):
        with warehouse.connect(settings.warehouse_path) as con:
            return {"affected_days": _pending_days(con), "merged": {}}
    output = Path(clean["output"])
    run_files = [f["source_file"] for f in (_xcom("claim_files") or {}).get("files", [])]
    with warehouse.connect(settings.warehouse_path) as con:
        for entity in plan.SILVER_ENTITIES:
            warehouse.load_parquet(
                con, f"silver.{entity}", _parquet_files(output / "silver" / entity), staging=True
            )
        days = [r["day"] for r in warehouse.fetch_dicts(con, "silver/affected_days.sql")]
        params = {"run_id": run.run_id}
        con.execute("BEGIN TRANSACTION")
        try:
            # The run's own rows are replaced; DUPLICATE_KEY rows it displaced from earlier files
            # stay (after a committed MERGE a rerun cannot find them again).
            con.execute(
                "DELETE FROM audit.quarantine WHERE run_id = ? AND list_contains(?, source_file)",
                [run.run_id, run_files],
            )
            con.execute("DELETE FROM audit.file_stats WHERE run_id = ?", [run.run_id])
            warehouse.load_parquet(
                con, "audit.quarantine", _parquet_files(output / "quarantine"), staging=False
            )
            warehouse.load_parquet(
                con, "audit.file_stats", _parquet_files(output / "file_stats"), staging=False
            )
            displaced = warehouse.transpile(warehouse.catalog.read_sql("silver/transactions_displaced.sql"))
            cols = ", ".join(warehouse.catalog.table("audit.quarantine").column_names)
            con.execute(
                f"INSERT INTO audit.quarantine ({cols}) SELECT {cols} FROM ({displaced}) AS d", params
            )
            merged = {}
            for entity in plan.SILVER_ENTITIES:
                warehouse.execute_file(con, f"silver/{entity}_merge.sql", params)
                merged[entity] = warehouse.table_rows(con, f"silver.{entity}_staging")
            _record_days(con, run.run_id, days)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        for entity in plan.SILVER_ENTITIES:
            con.execute(f"DROP TABLE IF EXISTS silver.{entity}_staging")
        pending = _pending_days(con)
    # Quarantined rows also stay as Parquet beside the warehouse, per run.
    target = settings.quarantine_dir / run.key
    if target.exists():
        shutil.rmtree(target)
    if (output / "quarantine").is_dir():
        shutil.copytree(output / "quarantine", target)
    return {"affected_days": pending, "merged": merged}


def _run_checks(stage: str) -> list[dict[str, Any]]:
    from pipeline import warehouse

    settings = _settings()
    params = _params(settings)
    results = []
    with warehouse.connect(settings.warehouse_path) as con:
        for check in plan.checks(stage):
            row = warehouse.fetch_dicts(con, check.sql, params)[0]
            failures = int(row["failures"] or 0)
            results.append(
                {
                    "check_name": check.name,
                    "severity": check.severity,
                    "passed": failures == 0,
                    "failures": failures,
                    "detail": row.get("detail"),
                }
            )
        con.execute("BEGIN TRANSACTION")
        for r in results:
            con.execute(
                "DELETE FROM audit.dq_results WHERE run_id = ? AND check_name = ?",
                [params["run_id"], r["check_name"]],
            )
            con.execute(
                "INSERT INTO audit.dq_results VALUES (?, ?, ?, ?, ?, ?)",
                [params["run_id"], r["check_name"], r["severity"], r["passed"], r["failures"], r["detail"]],
            )
        con.execute("COMMIT")
    failed = [r for r in results if r["severity"] == "error" and not r["passed"]]
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


@task(task_id="reconcile")
@timed
def reconcile() -> dict[str, Any]:
    """Gold-stage checks: silver and gold agree, and every claimed file loaded."""
    return {"results": _run_checks("gold")}


def gold_task(step: plan.GoldStep) -> Any:
    @task(task_id=step.task_id)
    @timed
    def build() -> dict[str, Any]:
        from pipeline import warehouse

        settings = _settings()
        params = _params(settings)
        with warehouse.connect(settings.warehouse_path) as con:
            if step.mode == "partitions":
                rows = warehouse.overwrite_partitions(con, step.table, step.sql, params["days"], params)
            else:
                rows = warehouse.replace_table(con, step.table, step.sql, params)
        log.info("%s: %d rows", step.table, rows)
        return {"rows": rows}

    build.__doc__ = f"Rebuild {step.table} from sql/{step.sql}."
    return build()


@task(task_id="archive_files")
@timed
def archive_files() -> dict[str, Any]:
    """Mark the run's claimed files processed (their archive copies were made at claim time) and
    its days built."""
    from pipeline import warehouse
    from pipeline.claim import mark_processed

    settings = _settings()
    run = window(get_current_context())
    days = _days((_xcom("load_silver") or {}).get("affected_days", []))
    with warehouse.connect(settings.warehouse_path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "UPDATE audit.run_days SET status = 'built' WHERE status = 'pending' AND list_contains(?, day)",
            [days],
        )
        files = mark_processed(con, run.run_id)
        con.execute("COMMIT")
    return {"files": files}


@task(task_id="publish")
@timed
def publish() -> dict[str, Any]:
    """Refresh the local dashboard from gold."""
    from pipeline import dashboard

    settings = _settings()
    run = window(get_current_context())
    pages = dashboard.render(settings.warehouse_path, settings.dashboard_dir, run_id=run.run_id)
    return {"dashboard": [str(p) for p in pages]}


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
    }
    for step in plan.GOLD_STEPS:
        tasks[step.task_id] = gold_task(step)
    tasks.update(reconcile=reconcile(), archive_files=archive_files(), publish=publish(), report=report())
    return tasks

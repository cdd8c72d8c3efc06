"""`cdi run` on the local target: the project-local Airflow it runs in, its DAG runs, and what the
console shows of them.

Airflow is configured through environment variables before it is first imported (AIRFLOW_HOME and
the metadata DB live in OUTPUT/airflow). `dag.test()` runs every task in this process, so the
SparkSession is started once per command and shared by its runs (the demo has two).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import output_folder, run_logs
from pipeline.config import ENV, REPO_ROOT, Settings, cache_dir
from pipeline.console import Terminal
from pipeline.landing import landing_files
from pipeline.runs import run_key


class RunError(Exception):
    """A DAG run that ended without its report: `cdi: <message>`, exit status 1."""


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A value generated once per OUTPUT and kept in `path`, readable by its owner only."""
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    value = make()
    path.write_text(value, encoding="utf-8")
    path.chmod(0o600)
    return value


def _fernet_key(airflow_home: Path) -> str:
    """The key Airflow encrypts what it stores with (a trigger's arguments, connections): one per
    OUTPUT for every process that opens its metadata DB. Left to Airflow, each process that finds
    no airflow.cfg writes one with a key of its own, and `cdi ui`'s four processes start together:
    the triggerer then cannot read the trigger the DAG processor stored. An airflow.cfg an
    earlier run wrote keeps its key."""
    import configparser

    config = configparser.ConfigParser(interpolation=None)
    config.read(airflow_home / "airflow.cfg")
    if key := config.get("core", "fernet_key", fallback=""):
        return key

    def make() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()

    return kept_secret(airflow_home / "fernet-key", make)


def configure_environment(landing: Path, output: Path) -> None:
    """Everything Airflow and the tasks read; must happen before airflow is imported."""
    airflow_home = output / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(airflow_home),
            ENV["target"]: "local",
            ENV["landing_dir"]: str(landing),
            ENV["output_dir"]: str(output),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "pipeline" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("CDI_LOG_LEVEL", "WARNING"),
            "PYSPARK_PYTHON": sys.executable,
        }
    )


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, whatever its journal holds (the backup API)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def migrate_airflow_db(output: Path) -> None:
    """Create the run's Airflow metadata DB: a copy of a migrated template cached per Airflow
    version (migrating from scratch costs ~10 s, more than a small run itself)."""
    marker = output / "airflow" / ".migrated"
    if marker.exists():
        return
    from importlib.metadata import version

    database = output / "airflow" / "airflow.db"
    cache = cache_dir()
    template = cache / f"airflow-{version('apache-airflow-core')}.db"
    if template.exists() and not database.exists():
        _copy_sqlite(template, database)
    else:
        from airflow import settings
        from airflow.utils.db import upgradedb

        upgradedb()
        if settings.engine is not None:
            settings.engine.dispose()
        cache.mkdir(parents=True, exist_ok=True)
        partial = template.with_suffix(f".{os.getpid()}.tmp")
        _copy_sqlite(database, partial)
        partial.replace(template)
    marker.write_text("ok\n")


def manual_run_id(run_after: datetime) -> str:
    """The run id `dag.test()` gives a run due at `run_after` (`DagRun.generate_run_id` of a manual
    run with a logical date), known before Airflow is imported so that its import logs go to the
    run's log too."""
    return f"manual__{run_after.astimezone(UTC).isoformat()}"


def _bytes_to_read(landing: Path, warehouse_path: Path, reprocess: Collection[str] = ()) -> int:
    """The bytes of the files the run may read: the `reprocess` files (their latest attempts), else
    the landed files but those a run processed as they are now (same size, same modification time
    as the archived copy of a processed attempt, which `claim.claim_files` copies with its time).

    When there are any, the JVM is worth starting before Airflow is up; a day with nothing new
    starts none. Their size decides the JVM's options (`spark_session.SMALL_INPUT_BYTES`). A file
    changed in place to the same size and time is still claimed (by its hash), only without this
    early start's sizing.
    """
    # Here, not at the top: every `cdi` command imports this module, and only a run needs DuckDB.
    from pipeline import claim, warehouse

    attempts: list[claim.Attempt] = []
    if warehouse_path.exists():
        with warehouse.connect(warehouse_path, read_only=True) as con:
            attempts = claim.attempts(con)
    if reprocess:
        latest = claim.latest_by_file(attempts)
        return sum(latest[f].size_bytes for f in reprocess if f in latest)
    done: dict[str, list[claim.Attempt]] = {}
    for a in attempts:
        if a.status == claim.PROCESSED:
            done.setdefault(a.source_file, []).append(a)

    def processed(path: Path) -> bool:
        stat = path.stat()
        for a in done.get(str(path.resolve()), []):
            copy = Path(a.archive_path)
            if a.size_bytes == stat.st_size and copy.exists() and copy.stat().st_mtime_ns == stat.st_mtime_ns:
                return True
        return False

    files = landing_files(landing) if landing.is_dir() else []
    return sum(path.stat().st_size for _, path in files if not processed(path))


def run_dag(
    run_after: datetime, output: Path, term: Terminal, run_conf: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One DAG run through Airflow itself (`dag.test()`), a line per task, then its report.
    `run_conf` is the run's `dag_run.conf` (`cdi reprocess` names the files to read again there)."""
    log = run_logs.log_path(output, run_key(manual_run_id(run_after)))
    term.capture_to(log)
    if not term.verbose:
        term.say(f"  logs: {log}")
    settings = Settings.from_env()
    reprocess = (run_conf or {}).get("reprocess", ())
    if landed := _bytes_to_read(settings.landing_dir, settings.warehouse_path, reprocess):
        from pipeline.spark_session import start_in_background

        start_in_background(landed)
    with term.status("starting Airflow"):
        migrate_airflow_db(output)
        from pipeline.dag import build_dag
        from pipeline.progress import TaskProgress

        dag = build_dag("local")
    started = time.monotonic()
    with TaskProgress(term.console, live=term.live) as progress:
        dag_run = dag.test(logical_date=run_after, run_after=run_after, run_conf=run_conf)
    where = "above" if term.verbose else f"in {log}"
    if not settings.report_path.exists():
        raise RunError(f"the run wrote no report ({settings.report_path}); see the log {where}")
    report: dict[str, Any] = json.loads(settings.report_path.read_text())
    if report["run_id"] != dag_run.run_id:
        raise RunError(f"report {settings.report_path} is not of run {dag_run.run_id}; see the log {where}")
    progress.not_run(report["task_states"])
    # The report task records the states while it runs, and tasks that are not upstream of it (the
    # dashboard's publish) may end after it: the summary shows how every task ended.
    report["task_states"] = {**report["task_states"], **progress.finished}
    report["task_errors"] = {**progress.errors, **(report.get("task_errors") or {})}
    report["dag_run_state"] = str(dag_run.state)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    return report


def print_report(term: Terminal, report: dict[str, Any], output: Path) -> None:
    from pipeline.report import render_summary

    term.say(render_summary(report))
    log = run_logs.log_path(output, run_key(report["run_id"]))
    if not term.verbose and log.exists():
        term.say(f"  {'logs':<10} {log}")
    term.say(f"  (run took {report['wall_seconds']} s)")


def demo(output: Path, *, seed: int, days: int, term: Terminal) -> list[dict[str, Any]]:
    """The demo: an initial load of `days - 1` days of sample data, then day `days` landed and the
    incremental daily run. Deletes only what an earlier demo created in `output`."""
    from pipeline import sample_data

    present_before = output_folder.prepare_demo(output)
    reports: list[dict[str, Any]] = []
    try:
        landing = output / "landing"
        spec = sample_data.SampleSpec(seed=seed, days=days)
        configure_environment(landing, output)
        first = datetime.combine(spec.start, datetime.min.time(), UTC) + timedelta(days=spec.days - 1)
        term.say(f"demo: initial load of {spec.days - 1} days of sample data from {landing}")
        with term.status("writing sample data"):
            sample_data.write_reference_data(landing, spec)
            sample_data.write_transaction_days(landing, spec, range(spec.days - 1))
        reports.append(run_dag(first, output, term))
        print_report(term, reports[-1], output)
        sample_data.write_transaction_days(landing, spec, [spec.days - 1])
        term.say(f"demo: day {spec.days} landed; incremental daily run")
        reports.append(run_dag(first + timedelta(days=1), output, term))
        print_report(term, reports[-1], output)
    finally:
        output_folder.record_demo_entries(output, present_before)
    return reports


def on_landing(landing: Path, output: Path, *, run_after: datetime, term: Terminal) -> dict[str, Any]:
    """One run on the user's landing folder (never modified)."""
    configure_environment(landing, output)
    report = run_dag(run_after, output, term)
    print_report(term, report, output)
    return report


def failed(reports: list[dict[str, Any]]) -> bool:
    return any(r["outcome"] == "failed" or "success" not in r["dag_run_state"] for r in reports)

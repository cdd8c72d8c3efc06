"""`cdi`: run the local pipeline end to end through Airflow (`cdi run`), or write sample data.

`cdi run` with no `--input` is the demo: it generates deterministic sample data, runs an initial
load of 29 days, then lands day 30 and runs the incremental daily run. With `--input DIR` it runs
once on the user's landing folder (never modified) into `--output` (default `var/`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.config import ENV, REPO_ROOT

DEMO_MARKER = ".cdi-demo"


class UsageError(Exception):
    """A problem with the command line or the folders it names."""


def _configure_environment(landing: Path, output: Path) -> None:
    """Everything Airflow and the tasks read; must happen before airflow is imported."""
    airflow_home = output / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
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


def _migrate_airflow_db(output: Path) -> None:
    """Create the run's Airflow metadata DB: a copy of a migrated template cached per Airflow
    version (migrating from scratch costs ~10 s, more than a small run itself)."""
    marker = output / "airflow" / ".migrated"
    if marker.exists():
        return
    from importlib.metadata import version

    database = output / "airflow" / "airflow.db"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cdi"
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


def _run_dag(run_after: datetime) -> dict[str, Any]:
    """One DAG run through Airflow itself (`dag.test()`), then its report."""
    from pipeline.config import Settings
    from pipeline.dag import build_dag

    dag = build_dag("local")
    started = time.monotonic()
    dag_run = dag.test(logical_date=run_after, run_after=run_after)
    settings = Settings.from_env()
    if not settings.report_path.exists():
        raise RuntimeError(f"the run wrote no report ({settings.report_path}); see the log above")
    report: dict[str, Any] = json.loads(settings.report_path.read_text())
    if report["run_id"] != dag_run.run_id:
        raise RuntimeError(f"report {settings.report_path} is not of run {dag_run.run_id}")
    report["dag_run_state"] = str(dag_run.state)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    return report


def _print_report(report: dict[str, Any]) -> None:
    from pipeline.report import render_summary

    print(render_summary(report))
    print(f"  (run took {report['wall_seconds']} s)")


def _prepare_demo_output(output: Path) -> None:
    if output.exists() and any(output.iterdir()):
        if not (output / DEMO_MARKER).exists():
            raise UsageError(
                f"{output} is not empty and not a previous demo output: choose another --output "
                "(the demo starts from an empty folder)"
            )
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / DEMO_MARKER).write_text("written by `cdi run` without --input; safe to delete\n")


def run(args: argparse.Namespace) -> int:
    output = Path(args.output).resolve()
    reports: list[dict[str, Any]] = []
    if args.input is None:
        from pipeline import sample_data

        _prepare_demo_output(output)
        landing = output / "landing"
        spec = sample_data.SampleSpec(seed=args.seed, days=args.days)
        _configure_environment(landing, output)
        _migrate_airflow_db(output)
        sample_data.write_reference_data(landing, spec)
        sample_data.write_transaction_days(landing, spec, range(spec.days - 1))
        first = datetime.combine(spec.start, datetime.min.time(), UTC) + timedelta(days=spec.days - 1)
        print(f"demo: initial load of {spec.days - 1} days of sample data from {landing}")
        reports.append(_run_dag(first))
        _print_report(reports[-1])
        sample_data.write_transaction_days(landing, spec, [spec.days - 1])
        print(f"demo: day {spec.days} landed; incremental daily run")
        reports.append(_run_dag(first + timedelta(days=1)))
        _print_report(reports[-1])
    else:
        landing = Path(args.input).resolve()
        if not (landing / "transactions").is_dir():
            raise UsageError(
                f"{landing} has no transactions/ folder: the landing folder holds transactions/ "
                "(required), customers/ and agents/ (optional)"
            )
        if output == landing or landing in output.parents:
            raise UsageError(f"--output {output} must not be inside the input folder {landing}")
        output.mkdir(parents=True, exist_ok=True)
        _configure_environment(landing, output)
        _migrate_airflow_db(output)
        run_after = (
            datetime.fromisoformat(args.run_after).astimezone(UTC)
            if args.run_after
            else datetime.now(UTC).replace(microsecond=0)
        )
        reports.append(_run_dag(run_after))
        _print_report(reports[-1])
    failed = [r for r in reports if r["outcome"] == "failed" or "success" not in r["dag_run_state"]]
    return 1 if failed else 0


def generate(args: argparse.Namespace) -> int:
    from pipeline import sample_data

    landing = Path(args.landing).resolve()
    spec = sample_data.SampleSpec(seed=args.seed, days=args.days)
    paths = sample_data.generate(landing, spec)
    print(f"wrote {len(paths)} files under {landing}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdi", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the pipeline end to end on the local target")
    r.add_argument("--input", help="landing folder with transactions/ (customers/, agents/ optional)")
    r.add_argument("--output", default="var", help="output folder (default: var)")
    r.add_argument("--seed", type=int, default=42, help="sample data seed (demo only)")
    r.add_argument("--days", type=int, default=30, help="days of sample data (demo only)")
    r.add_argument(
        "--run-after",
        help="ISO timestamp the run is due at (default: now); rows later than it are FUTURE_TIMESTAMP",
    )
    r.set_defaults(func=run)
    g = sub.add_parser("generate", help="write the deterministic sample landing data")
    g.add_argument("--landing", required=True, help="folder to write transactions/, customers/, agents/")
    g.add_argument("--seed", type=int, default=42, help="random seed")
    g.add_argument("--days", type=int, default=30, help="days of transactions")
    g.set_defaults(func=generate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except UsageError as err:
        print(f"cdi: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

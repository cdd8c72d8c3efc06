"""The run report: every figure of the printed summary, as `report.json` and `audit.pipeline_runs`.

The figures come from `sql/runs/report_figures.sql`, the statement the GCP report (`pipeline.gcp.report`)
runs too; the `figure_*` functions read its rows for both targets.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipeline import plan
from pipeline.config import DAG_ID, Settings
from pipeline.runs import run_key, window

STEP_IDS = tuple(t for t in plan.TASK_IDS if t != "report")


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _outcome(states: dict[str, str | None], quarantined: int, warnings: int) -> str:
    finished = {k: v for k, v in states.items() if k in STEP_IDS and k != "publish"}
    if any(v in ("failed", "upstream_failed") for v in finished.values()):
        return "failed"
    if quarantined or warnings:
        return "warning"
    return "success"


def figure_totals(figures: list[dict[str, Any]], files: int) -> dict[str, int]:
    """The run's totals from the rows of `runs/report_figures.sql`; `files` is how many files the
    run claimed (locally its `claimed` figure, on GCP the objects `claim_files` moved)."""
    stats = _kind(figures, "file")
    return {
        "files": files,
        "rows_read": sum(int(f["a"]) for f in stats),
        "rows_valid": sum(int(f["b"]) for f in stats),
        "rows_quarantined": sum(int(f["c"]) for f in stats),
        "duplicates_replaced_in_silver": sum(int(f["a"]) for f in figures if f["kind"] == "displaced"),
    }


def figure_reasons(figures: list[dict[str, Any]]) -> dict[str, int]:
    """Quarantined rows by reason code, in code order."""
    return {str(f["figure"]): int(f["a"]) for f in sorted(_kind(figures, "reason"), key=_figure)}


def figure_checks(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's data-quality results by check name: severity, passed, failing rows, detail."""
    details = {str(f["figure"]): f["detail"] for f in _kind(figures, "check_detail")}
    return [
        {
            "check_name": str(c["figure"]),
            "severity": c["detail"],
            "passed": bool(c["b"]),
            "failures": int(c["a"]),
            "detail": details.get(str(c["figure"])),
        }
        for c in sorted(_kind(figures, "check"), key=_figure)
    ]


def figure_gold_rows(figures: list[dict[str, Any]]) -> dict[str, int]:
    """The rows of each gold table, in build order (`plan.GOLD_STEPS`)."""
    counts = {str(f["figure"]): int(f["a"]) for f in _kind(figures, "gold")}
    return {s.table: counts[s.table] for s in plan.GOLD_STEPS if s.table in counts}


def figure_runs(figures: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """The run before this one and the latest that claimed a file (None on a first run)."""
    runs = {
        str(f["kind"]): str(f["figure"]) for f in figures if f["kind"] in ("previous_run", "last_file_run")
    }
    return runs.get("previous_run"), runs.get("last_file_run")


def _kind(figures: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in figures if f["kind"] == kind]


def _figure(row: dict[str, Any]) -> str:
    return str(row["figure"])


def dq_status(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data-quality results as the run summary carries them on both targets (and the summary
    e-mail shows them): each check's name, severity, whether it passed, and its failing rows."""
    return [
        {
            "check_name": str(r["check_name"]),
            "severity": str(r["severity"]),
            "passed": bool(r["passed"]),
            "failures": int(r.get("failures") or 0),
        }
        for r in results
    ]


def run_seconds(context: Any) -> float | None:
    """How long the run has taken so far (the report is its last task), from its start date. Not
    for `dag.test()` (`cdi run`), which starts a run at its logical date, however long ago."""
    from airflow.sdk import timezone

    started = getattr(context.get("dag_run"), "start_date", None)
    return round((timezone.utcnow() - started).total_seconds(), 1) if started else None


def summary_links(settings: Settings) -> dict[str, str]:
    """What the run summary links to locally: the dashboard (`publish`, a leaf beside `report`,
    may still be redrawing it when the summary goes), and the Looker Studio report when
    `CDI_LOOKER_STUDIO_URL` is set."""
    links = {"Dashboard": (settings.dashboard_dir / "index.html").resolve().as_uri()}
    if settings.looker_studio_url:
        links["Looker Studio"] = settings.looker_studio_url
    return links


def nothing_new_note(previous_run: str | None, last_file_run: str | None) -> str:
    """The summary line of a run that claimed no file and had no day to build (`plan.nothing_new`):
    since when nothing is new, so that a quiet day reads as one and a long silence shows."""
    if last_file_run is None:
        since = f" (previous run {previous_run})" if previous_run else ""
        return f"nothing new: no file has landed yet{since}"
    if previous_run in (None, last_file_run):
        return f"nothing new since the previous run {last_file_run}"
    return f"nothing new since the previous run {previous_run} (the last file came in run {last_file_run})"


def build(settings: Settings, context: Any) -> dict[str, Any]:
    """Collect the run's figures from the warehouse and the task results."""
    from pipeline import task_errors, warehouse

    run = window(context)
    ti = context["ti"]
    states: dict[str, str | None] = (
        ti.get_task_states(dag_id=DAG_ID, run_ids=[run.run_id]).get(run.run_id, {}) or {}
    )
    xcoms = {task_id: ti.xcom_pull(task_ids=task_id) for task_id in STEP_IDS}
    with warehouse.connect(settings.warehouse_path) as con:
        # The figures the GCP report reads too (`pipeline.gcp.report`), from the same statement.
        figures = warehouse.fetch_dicts(
            con, plan.REPORT_FIGURES_SQL, {"run_id": run.run_id, "logical_date": run.logical_date}
        )
        files = sorted(
            (json.loads(f["detail"]) for f in _kind(figures, "file_record")),
            key=lambda f: (f["entity"], f["source_file"]),
        )
        reasons = figure_reasons(figures)
        dq = figure_checks(figures)
        gold_rows = figure_gold_rows(figures)
        # Not a figure of runs/report_figures.sql: silver.transactions takes no query without a
        # partition filter on BigQuery; the rows of a table are its metadata there (numRows).
        silver_rows = {f"silver.{e}": warehouse.table_rows(con, f"silver.{e}") for e in plan.SILVER_ENTITIES}
        claimed = sum(int(f["a"]) for f in _kind(figures, "claimed"))
        totals = figure_totals(figures, claimed)
        affected = (xcoms.get("load_silver") or {}).get("affected_days", [])
        warnings = sum(1 for r in dq if not r["passed"])
        outcome = _outcome(states, totals["rows_quarantined"], warnings)
        seconds = {
            k: round(float(v["seconds"]), 3)
            for k, v in xcoms.items()
            if isinstance(v, dict) and "seconds" in v
        }
        nothing_new = None
        if states.get("claim_files") == "success" and plan.nothing_new(totals["files"], affected):
            nothing_new = nothing_new_note(*figure_runs(figures))
        warehouse.execute_file(
            con,
            plan.PIPELINE_RUN_SQL,
            {
                "run_id": run.run_id,
                "logical_date": run.logical_date,
                "target": settings.target,
                "files": totals["files"],
                "rows_read": totals["rows_read"],
                "rows_valid": totals["rows_valid"],
                "rows_quarantined": totals["rows_quarantined"],
                "affected_days": json.dumps(affected),
                "step_seconds": json.dumps(seconds, sort_keys=True),
                "outcome": outcome,
            },
        )
    clean_metrics = (xcoms.get("clean_raw") or {}).get("metrics") or {}
    # The error of each task that ended failed (upstream_failed tasks never ran: they have none).
    recorded = task_errors.read(settings.reports_dir, run.key)
    errors = {
        task: recorded[task] for task, state in states.items() if state == "failed" and task in recorded
    }
    summary = {
        "run_id": run.run_id,
        "outcome": outcome,
        **totals,
        "affected_days": len(affected),
        "gold_rows": gold_rows,
        "nothing_new": nothing_new,
        "data_quality": dq_status(dq),
        "links": summary_links(settings),
    }
    return {
        "run_id": run.run_id,
        "logical_date": run.logical_date,
        "target": settings.target,
        "outcome": outcome,
        "task_states": states,
        "task_errors": errors,
        "step_seconds": seconds,
        "totals": totals,
        "quarantine_reasons": reasons,
        "files": files,
        "affected_days": affected,
        "nothing_new": nothing_new,
        "data_quality": dq,
        "silver_rows": silver_rows,
        "gold_rows": gold_rows,
        "spark_metrics": clean_metrics,
        "outputs": {
            "warehouse": settings.warehouse_path,
            "quarantine": settings.quarantine_dir,
            "archive": settings.archive_dir,
            "dashboard": settings.dashboard_dir / "index.html",
            "report": settings.report_path,
        },
        "summary": summary,
    }


def write(settings: Settings, report: dict[str, Any]) -> Path:
    """Write the run's report under reports/ and as the latest report.json."""
    text = json.dumps(report, indent=2, default=_json_default, sort_keys=False) + "\n"
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / f"{run_key(report['run_id'])}.json").write_text(text, encoding="utf-8")
    settings.report_path.write_text(text, encoding="utf-8")
    return settings.report_path


def _read_lines(file_stats: dict[str, Any]) -> list[str]:
    """How a file was read, when anything was not the plain default (`audit.file_stats.read_settings`):
    what was detected or set, and a date order the file did not settle, with the setting that does."""
    settings = json.loads(file_stats.get("read_settings") or "{}")
    name = Path(file_stats["source_file"]).name
    shown = []
    for key, default in (("encoding", "utf-8"), ("delimiter", ","), ("decimal", "."), ("date_order", None)):
        value, source = settings.get(key), settings.get(f"{key}_source")
        if (
            value is None
            or value == "undetermined"
            or (value == default and source in (None, "default", "detected"))
        ):
            continue
        confidence = settings.get(f"{key}_confidence")
        how = f"{source}, confidence {confidence}" if confidence is not None else source
        shown.append(f"{key} {value!r}" + (f" ({how})" if how else ""))
    lines = [f"  read {name}: {', '.join(shown)}"] if shown else []
    if settings.get("date_order") == "undetermined":
        lines.append(
            f"  date order of {name} not determined (AMBIGUOUS_DATE rows): set `date_order: dmy` or "
            f"`mdy` for it in sources.yaml, then `cdi reprocess {file_stats['source_file']}`"
        )
    return lines


def render_summary(report: dict[str, Any]) -> str:
    """The short human summary the CLI prints."""
    t = report["totals"]
    lines = [
        f"run {report['run_id']}: {report['outcome'].upper()}",
        f"  files {t['files']}  rows in {t['rows_read']}  valid {t['rows_valid']}  "
        f"quarantined {t['rows_quarantined']}  days touched {len(report['affected_days'])}",
    ]
    if report.get("nothing_new"):
        lines.insert(1, f"  {report['nothing_new']}")
    if report["quarantine_reasons"]:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(report["quarantine_reasons"].items()))
        lines.append(f"  quarantine reasons: {reasons}")
    drift_columns = ("columns_added", "columns_renamed", "columns_missing", "types_coerced")
    for f in report["files"]:
        drift = {c: f.get(c) for c in drift_columns if f.get(c) not in (None, "[]", "{}")}
        if drift:
            described = "  ".join(
                f"{c.replace('columns_', '').replace('_', ' ')} {v}" for c, v in drift.items()
            )
            lines.append(f"  drift {Path(f['source_file']).name}: {described}")
    for f in report["files"]:
        lines.extend(_read_lines(f))
    for f in report["files"]:
        if f.get("error"):
            error = str(f["error"]).removeprefix(f"{f['source_file']}: ")
            lines.append(f"  rejected file {f['source_file']}: {error}")
    failed = [d for d in report["data_quality"] if not d["passed"]]
    for d in failed:
        lines.append(f"  check {d['check_name']} ({d['severity']}): {d['detail']}")
    states = report["task_states"]
    errors = report.get("task_errors") or {}
    for task in sorted(k for k, v in states.items() if v == "failed"):
        lines.append(f"  failed task {task}: {errors.get(task, 'no error recorded: see the log')}")
    not_run = sorted(k for k, v in states.items() if v == "upstream_failed")
    if not_run:
        lines.append(f"  not run (an upstream task failed): {', '.join(not_run)}")
    gold = "  ".join(f"{k.split('.', 1)[1]} {v}" for k, v in report["gold_rows"].items())
    lines.append(f"  gold rows: {gold}")
    lines.extend(f"  {label:<10} {path}" for label, path in existing_outputs(report))
    return "\n".join(lines)


def existing_outputs(report: dict[str, Any]) -> list[tuple[str, Path]]:
    """The run's outputs that exist, by name: its own quarantine and archive folders, and the
    dashboard only when this run published it (an older one may be there, stale)."""
    o = report["outputs"]
    key = run_key(report["run_id"])
    published = report["task_states"].get("publish") == "success"
    candidates = [
        ("warehouse", Path(o["warehouse"])),
        ("report", Path(o["report"])),
        ("dashboard", Path(o["dashboard"]) if published else None),
        ("quarantine", Path(o["quarantine"]) / key),
        ("archive", Path(o["archive"]) / key),
    ]
    return [(label, path) for label, path in candidates if path is not None and path.exists()]

"""`cdi show RUN`: one run's report in the terminal, from `OUTPUT/reports/<run_key>.json` (the
same figures the run printed, then its tasks with their times and errors, its files and its
data-quality checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline import plan, run_logs
from pipeline.config import Settings
from pipeline.runs import run_key
from pipeline.usage_error import UsageError

STATE_STYLES = {"success": "green", "failed": "bold red", "upstream_failed": "yellow", "skipped": "yellow"}


def find(output: Path, run: str) -> Path:
    """The report of `run`: `latest`, a run id, its path-safe key, or the path of a report file."""
    settings = Settings(output_dir=output)
    if run == "latest":
        if settings.report_path.is_file():
            return settings.report_path
        raise UsageError(f"{output} has no report yet ({settings.report_path.name}): no run wrote there")
    if run.endswith(".json") and Path(run).is_file():
        return Path(run)
    for name in (run_key(run), run.removesuffix(".json")):
        candidate = settings.reports_dir / f"{name}.json"
        if candidate.is_file():
            return candidate
    known = sorted(settings.reports_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    listed = ", ".join(p.stem for p in known[:5]) or "none"
    raise UsageError(f"no report of run {run!r} in {settings.reports_dir}; latest reports: {listed}")


def load(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def _tasks(report: dict[str, Any]) -> Table:
    states: dict[str, str | None] = report.get("task_states") or {}
    seconds = report.get("step_seconds") or {}
    errors = report.get("task_errors") or {}
    order = {t: i for i, t in enumerate(plan.TASK_IDS)}
    t = Table(title="tasks", title_justify="left", title_style="bold")
    t.add_column("task", no_wrap=True)
    t.add_column("state")
    t.add_column("time", justify="right")
    t.add_column("error")
    for task in sorted(states, key=lambda k: (order.get(k, len(order)), k)):
        state = str(states[task])
        if task == "report" and state == "running":
            state = "wrote this report"  # the report task records the states while it runs
        took = f"{seconds[task]:.1f} s" if task in seconds else ""
        t.add_row(task, Text(state, style=STATE_STYLES.get(state, "")), took, Text(errors.get(task, "")))
    return t


def _files(report: dict[str, Any]) -> Table:
    t = Table(title="files", title_justify="left", title_style="bold")
    t.add_column("file")
    t.add_column("entity")
    for name in ("rows in", "valid", "quarantined"):
        t.add_column(name, justify="right")
    t.add_column("error")
    for f in report.get("files") or []:
        t.add_row(
            Text(str(f["source_file"])),
            str(f.get("entity", "")),
            f"{int(f.get('rows_read') or 0):,}",
            f"{int(f.get('rows_valid') or 0):,}",
            f"{int(f.get('rows_quarantined') or 0):,}",
            Text(str(f.get("error") or "")),
        )
    return t


def _checks(report: dict[str, Any]) -> Table:
    t = Table(title="data-quality checks", title_justify="left", title_style="bold")
    for name in ("check", "severity", "passed", "failures", "detail"):
        t.add_column(name, justify="right" if name == "failures" else "left")
    for d in report.get("data_quality") or []:
        passed = Text("yes", style="green") if d["passed"] else Text("no", style="bold red")
        t.add_row(
            d["check_name"],
            d["severity"],
            passed,
            str(d.get("failures", "")),
            Text(str(d.get("detail") or "")),
        )
    return t


def print_report(console: Console, report: dict[str, Any], output: Path) -> None:
    from pipeline.report import render_summary

    console.print(Text(render_summary(report)), soft_wrap=True)
    console.print()
    console.print(_tasks(report))
    if report.get("files"):
        console.print(_files(report))
    if report.get("data_quality"):
        console.print(_checks(report))
    log = run_logs.log_path(output, run_key(report["run_id"]))
    if log.exists():
        console.print(Text(f"logs: {log}"), soft_wrap=True)

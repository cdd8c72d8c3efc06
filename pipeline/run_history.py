"""`cdi runs`: the run history of an OUTPUT, from `audit.pipeline_runs` (one row per run, which
the `report` task of every run writes, whatever its outcome), newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import duckdb

OUTCOME_STYLES = {"success": "green", "warning": "yellow", "failed": "bold red"}


def due_time(run_id: str) -> datetime | None:
    """When a run was due, from its Airflow id (`manual__2025-01-30T00:00:00+00:00`): the table
    has the logical date only, and the id is the run's own record of its time."""
    _, _, suffix = run_id.partition("__")
    try:
        due = datetime.fromisoformat(suffix.split("_", 1)[0])
    except ValueError:
        return None
    return due if due.tzinfo is not None else due.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    logical_date: date
    outcome: str
    files: int
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    days_touched: int
    seconds: float
    """The sum of the tasks' times (`dag.test()` runs them one after another)."""

    @property
    def when(self) -> datetime:
        due = due_time(self.run_id)
        return due if due is not None else datetime.combine(self.logical_date, datetime.min.time(), UTC)


def load(con: duckdb.DuckDBPyConnection) -> list[RunRow]:
    """Every recorded run, newest first (by when it was due, then run id)."""
    from pipeline import plan, warehouse

    runs = [
        RunRow(
            run_id=r["run_id"],
            logical_date=r["logical_date"],
            outcome=r["outcome"],
            files=r["files"],
            rows_read=r["rows_read"],
            rows_valid=r["rows_valid"],
            rows_quarantined=r["rows_quarantined"],
            days_touched=len(json.loads(r["affected_days"] or "[]")),
            seconds=sum(float(s) for s in json.loads(r["step_seconds"] or "{}").values()),
        )
        for r in warehouse.fetch_dicts(con, plan.RUN_HISTORY_SQL)
    ]
    return sorted(runs, key=lambda r: (r.when, r.run_id), reverse=True)


def table(runs: list[RunRow]) -> Table:
    t = Table(title="runs, newest first", title_justify="left", title_style="bold")
    t.add_column("when")
    t.add_column("run", no_wrap=True)
    t.add_column("outcome")
    for name in ("files", "rows in", "valid", "quarantined", "days", "duration"):
        t.add_column(name, justify="right")
    for r in runs:
        t.add_row(
            r.when.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
            r.run_id,
            Text(r.outcome, style=OUTCOME_STYLES.get(r.outcome, "")),
            str(r.files),
            f"{r.rows_read:,}",
            f"{r.rows_valid:,}",
            f"{r.rows_quarantined:,}",
            str(r.days_touched),
            f"{r.seconds:.1f} s",
        )
    return t

"""`cdi quarantine`: the rejected rows of an OUTPUT (`audit.quarantine`) with their raw values as
columns, as a table or a CSV file.

`audit.quarantine` keeps each row's raw values as JSON text (`raw_record`), one schema for every
entity and every drifted file. Here each raw field becomes a column of its own, in the order the
rows first name it; a raw field named like one of the quarantine's own columns is prefixed `raw_`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from pipeline.runs import run_key
from pipeline.usage_error import UsageError

if TYPE_CHECKING:
    import duckdb

COLUMNS = ("run_id", "entity", "source_file", "record_number", "reason", "detail")
QUARANTINED_ROWS_SQL = "runs/quarantined_rows.sql"


@dataclass(frozen=True)
class Rejected:
    columns: list[str]
    rows: list[dict[str, Any]]


def resolve_run(con: duckdb.DuckDBPyConnection, run: str) -> str:
    """The run id `run` names: an id, its path-safe key (`pipeline.runs.run_key`) or `latest`."""
    from pipeline import run_history

    runs = [r.run_id for r in run_history.load(con)]
    if run == "latest" and runs:
        return runs[0]
    for run_id in runs:
        if run in (run_id, run_key(run_id)):
            return run_id
    known = ", ".join(runs[:5]) or "none"
    raise UsageError(f"no run {run!r} in this warehouse; newest runs: {known}")


def select(
    con: duckdb.DuckDBPyConnection,
    *,
    run: str | None = None,
    reason: str | None = None,
    file: str | None = None,
) -> Rejected:
    """The quarantined rows matching every filter given: a run (id, key or `latest`), a reason
    code (any case), a file (its landing path, or the end of it: `orders.csv`,
    `transactions/orders.csv`)."""
    from pipeline import warehouse

    # A filter not given is null, which filters nothing (runs/quarantined_rows.sql).
    filters = {
        "run_id": resolve_run(con, run) if run is not None else None,
        "reason": reason,
        "file": file,
    }
    found = warehouse.fetch_dicts(con, QUARANTINED_ROWS_SQL, filters)
    # By run, file and record (an unreadable file's row, with no record, first): a query's output
    # has no order.
    found.sort(
        key=lambda r: (
            r["run_id"],
            r["source_file"],
            r["record_number"] is not None,
            r["record_number"] or 0,
            r["reason"],
        )
    )
    columns = list(COLUMNS)
    rows = []
    for r in found:
        row = {c: r[c] for c in COLUMNS}
        for name, value in (json.loads(r["raw_record"]) if r["raw_record"] else {}).items():
            column = f"raw_{name}" if name in COLUMNS else name
            if column not in columns:
                columns.append(column)
            row[column] = value
        rows.append(row)
    return Rejected(columns, rows)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def write_csv(rejected: Rejected, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(rejected.columns)
        for row in rejected.rows:
            writer.writerow([_text(row.get(c)) for c in rejected.columns])


def table(rejected: Rejected, limit: int) -> Table:
    """The first `limit` rows; the run and entity columns only when the rows have more than one,
    the file by name (the CSV has every column in full)."""
    shown = rejected.rows[:limit]
    columns = [
        c
        for c in rejected.columns
        if c not in ("run_id", "entity") or len({r.get(c) for r in rejected.rows}) > 1
    ]
    title = "rejected rows"
    runs = {r["run_id"] for r in rejected.rows}
    if len(runs) == 1:
        title += f" of run {next(iter(runs))}"
    t = Table(title=title, title_justify="left", title_style="bold")
    for c in columns:
        header = {"source_file": "file", "record_number": "record"}.get(c, c)
        t.add_column(header, justify="right" if c == "record_number" else "left")
    for row in shown:
        cells = [_text(row.get(c)) for c in columns]
        if "source_file" in columns:
            i = columns.index("source_file")
            cells[i] = Path(cells[i]).name
        t.add_row(*(Text(c) for c in cells))
    return t

"""The run-health page: is the data fresh, did the checks pass, how did the latest runs end, and
which files the quarantined rows came from.

Written by `publish` beside the dashboard (`dashboard/health.html`, linked from its page) as one
self-contained HTML file that opens from `file://`. Every figure comes from a SQL file under
`sql/health/` (BigQuery dialect, run on DuckDB through the transpile like the rest); the run that
publishes is not in `audit.pipeline_runs` yet (its `report` task writes it last), so its own
data-quality results are read by its run id.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline.dashboard import HEALTH_FILE, Fetch
from pipeline.page_style import BASE_STYLE
from pipeline.plan import RUN_HISTORY_SQL

FRESHNESS_SQL = "health/freshness.sql"
RUN_CHECKS_SQL = "health/run_checks.sql"
LATEST_RUNS = 20
"""Runs the page lists, newest first (from `runs/run_history.sql`, the statement of `cdi runs`)."""
QUARANTINE_SQL = "health/quarantine_reasons.sql"

_STYLE = (
    BASE_STYLE
    + """
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { padding: 0 0.4rem; border-radius: 0.3rem; color: white; }
.success, .passed { background: #2e7d32; } .warning, .warn { background: #b26a00; }
.failed, .error { background: #c62828; }
"""
)
_OUTCOME_CLASS = {"success": "success", "warning": "warning", "failed": "failed"}


def _cell(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _badge(text: str, css: str) -> str:
    return f'<span class="badge {html.escape(css)}">{html.escape(text)}</span>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f"<p>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(data: Mapping[str, Any], *, run_id: str, generated_at: datetime) -> str:
    """The page for `data` (the rows of the four SQL files, by name): pure, so it is tested alone."""
    fresh = (data["freshness"] or [{}])[0]
    latest = fresh.get("latest_transaction")
    checks = data["run_checks"]
    failed = [c for c in checks if not c["passed"]]
    worst = "error" if any(c["severity"] == "error" for c in failed) else "warn" if failed else "passed"
    status = {"passed": "all checks passed", "warn": "warnings", "error": "errors"}[worst]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Run health</title>',
        f"<style>{_STYLE}</style></head><body>",
        '<p><a href="index.html">Dashboard</a></p>',
        "<h1>Run health</h1>",
        f"<p>Generated at {generated_at:%Y-%m-%d %H:%M:%S} UTC by run <code>{html.escape(run_id)}</code>.</p>",
        '<h2 id="freshness">Freshness</h2>',
        f"<p>Latest transaction: <b>{html.escape(str(latest) if latest else 'none in the last 400 days')}</b>"
        f" ({fresh.get('days_with_transactions', 0)} days with transactions in the last 400).</p>",
        f'<h2 id="checks">Data quality of this run: {_badge(status, worst)}</h2>',
        _table(
            ["check", "severity", "result", "failures", "detail"],
            [
                [
                    _cell(c["check_name"]),
                    _cell(c["severity"]),
                    "<td>"
                    + _badge(
                        "passed" if c["passed"] else "failed", "passed" if c["passed"] else c["severity"]
                    )
                    + "</td>",
                    _cell(c["failures"]),
                    _cell(c["detail"]),
                ]
                for c in checks
            ],
            "This run recorded no data-quality results (it stopped before its checks).",
        ),
        '<h2 id="runs">Latest runs</h2>',
        _table(
            ["due", "run", "outcome", "files", "rows in", "valid", "quarantined"],
            [
                [
                    _cell(r["logical_date"]),
                    _cell(r["run_id"]),
                    "<td>" + _badge(r["outcome"], _OUTCOME_CLASS.get(r["outcome"], "failed")) + "</td>",
                    _cell(r["files"]),
                    _cell(r["rows_read"]),
                    _cell(r["rows_valid"]),
                    _cell(r["rows_quarantined"]),
                ]
                for r in data["latest_runs"]
            ],
            "No run recorded yet.",
        ),
        '<h2 id="quarantine">Quarantine reasons over time</h2>',
        _table(
            ["due", "run", "reason", "source file", "rows"],
            [
                [
                    _cell(q["logical_date"] or "this run"),
                    _cell(q["run_id"]),
                    _cell(q["reason"]),
                    _cell(q["source_file"]),
                    _cell(q["rows_quarantined"]),
                ]
                for q in data["quarantine"]
            ],
            "No row was ever quarantined.",
        ),
        "</body></html>",
        "",
    ]
    return "\n".join(parts)


def load(fetch: Fetch, *, run_id: str, run_date: date) -> dict[str, list[dict[str, Any]]]:
    """The page's rows, from its four SQL files, in the order a person reads them (a query's output
    has none): failed checks first, then newest runs first, a run not recorded yet (the one
    publishing) before them."""
    data = {
        "freshness": fetch(FRESHNESS_SQL, {"run_date": run_date}),
        "run_checks": fetch(RUN_CHECKS_SQL, {"run_id": run_id}),
        "latest_runs": fetch(RUN_HISTORY_SQL, {}),
        "quarantine": fetch(QUARANTINE_SQL, {}),
    }
    data["run_checks"].sort(key=lambda c: (c["passed"], c["severity"], c["check_name"]))
    data["latest_runs"].sort(key=lambda r: (r["logical_date"], r["run_id"]), reverse=True)
    del data["latest_runs"][LATEST_RUNS:]
    data["quarantine"].sort(key=lambda q: (q["reason"], q["source_file"]))
    data["quarantine"].sort(
        key=lambda q: (q["logical_date"] is None, q["logical_date"] or date.min, q["run_id"]), reverse=True
    )
    return data


def render(warehouse_path: Path, out_dir: Path, *, run_id: str, run_date: date) -> Path:
    """Read the local warehouse and write `out_dir/health.html`."""
    from pipeline import local_pages, warehouse

    with warehouse.connect(warehouse_path, read_only=True) as con:
        data = load(local_pages.warehouse_fetch(con), run_id=run_id, run_date=run_date)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / HEALTH_FILE
    path.write_text(page(data, run_id=run_id, generated_at=datetime.now(UTC)), encoding="utf-8")
    return path

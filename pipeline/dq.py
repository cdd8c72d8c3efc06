"""Run data-quality checks on the local (DuckDB) warehouse and record them in audit.dq_results:
the body of the local `dq_checks` / `reconcile` tasks, as a plain function the tasks and the
benchmark (`bench.incremental`) both call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb

from pipeline import plan, warehouse
from pipeline.silver_load import Observe, _no_observe


def run_checks(
    con: duckdb.DuckDBPyConnection,
    checks: Iterable[plan.Check],
    params: Mapping[str, Any],
    *,
    observe: Observe = _no_observe,
) -> list[dict[str, Any]]:
    """Evaluate each check (one row: `failures`, `detail`) and replace the run's results for it."""
    results = []
    for check in checks:
        with observe(con, check.sql, params):
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
    return results


def failed_errors(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in results if r["severity"] == "error" and not r["passed"]]

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
    results: list[dict[str, Any]] = []
    for check in checks:
        with observe(con, check.sql, params):
            row = warehouse.fetch_dicts(con, check.sql, params)[0]
        results.append(plan.check_result(check, row))
    # The same statement as the BigQuery target's (`dq/results_merge.sql`): one MERGE, atomic.
    recorded = {"run_id": params["run_id"], **plan.check_result_parameters(results)}
    warehouse.execute_file(con, plan.CHECK_RESULTS_SQL, recorded)
    return results


def failed_errors(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in results if r["severity"] == "error" and not r["passed"]]

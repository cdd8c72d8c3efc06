"""Load one run's Spark output into the local (DuckDB) silver layer: the body of the local target's
`load_silver` task, as a plain function the task and the benchmark (`bench.incremental`) both call.

Steps: stage the job's Parquet (entities, quarantine, file stats), read the affected days
(`silver/affected_days.sql`), then in one transaction run the same files as the BigQuery target
(`plan.SILVER_AUDIT_FILES`: replace the run's quarantine and file-stats rows; then
`plan.SILVER_MERGE_FILES`: quarantine the silver rows the load displaces, MERGE the key index and
each entity, queue the days in `audit.run_days`), with, between the two, what only the local target
does: take out what earlier attempts of the files it claims again left in silver and quarantine
(`claim.withdraw_earlier_attempts`; their days are affected too). A crash leaves silver as it was,
and a rerun of the run gives the same tables.

The displaced query, the key index MERGE and the transactions MERGE read only the affected days:
they are bound `days`, `first_day` and `last_day` (`plan.day_bounds`) next to `run_id`.

The affected days of keys already in silver come from the key -> day index `silver.transaction_keys`,
kept in step by `silver/transaction_keys_merge.sql` in the same transaction (and filled from silver
once, by `ensure_key_index`, for a warehouse whose silver predates it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipeline import claim, plan, warehouse

Step = Callable[[str], AbstractContextManager[object]]
"""Wraps each named step (`load_staging`, `affected_days`, ..., `pending_days`), e.g. to time it."""
Observe = Callable[[duckdb.DuckDBPyConnection, str, Mapping[str, Any]], AbstractContextManager[object]]
"""Wraps each run of a SQL file (connection, `sql/` relative path, parameters), e.g. to profile it."""


def _no_step(name: str) -> AbstractContextManager[object]:
    return nullcontext()


def _no_observe(
    con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any]
) -> AbstractContextManager[object]:
    return nullcontext()


def parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def mark_days_built(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    """The gold build of `days` is done: they leave the queue (`archive_files`, once gold is built)."""
    warehouse.execute_file(con, plan.BUILT_DAYS_SQL, {"days": days})


def pending_days(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every day whose gold is not rebuilt yet: this run's, and those of a run that died."""
    return sorted(r["day"].isoformat() for r in warehouse.fetch_dicts(con, plan.PENDING_DAYS_SQL))


def ensure_key_index(con: duckdb.DuckDBPyConnection) -> bool:
    """Fill `silver.transaction_keys` from every silver row when it is empty and silver is not (a
    warehouse from before the index); True when it did. An index that is merely out of step is left
    alone for `checks/silver_transaction_keys_complete.sql` to report."""
    if warehouse.table_rows(con, "silver.transaction_keys") or not warehouse.table_rows(
        con, "silver.transactions"
    ):
        return False
    # In day order, as the daily MERGEs append it: zone maps then prune the index by day too.
    warehouse.append_rows(
        con, "silver.transaction_keys", "silver/transaction_keys.sql", {}, order_by=("transaction_date",)
    )
    return True


def unconverted_days(con: duckdb.DuckDBPyConnection, currency: Mapping[str, Any]) -> list[date]:
    """The days a warehouse from before `silver.transactions.amount_reporting` left unconverted
    (`ensure_tables` added the column empty): the run converts them and rebuilds their gold, once.
    Without it the gold a changed SQL file restates would count those orders as nothing."""
    rows = warehouse.fetch_dicts(con, "silver/unconverted_days.sql", currency)
    return [r["day"] for r in rows]


def _run_files(
    con: duckdb.DuckDBPyConnection,
    files: tuple[str, ...],
    params: Mapping[str, Any],
    step: Step,
    observe: Observe,
) -> None:
    for relative in files:
        with step(Path(relative).stem), observe(con, relative, params):
            warehouse.execute_file(con, relative, params)


def load_run(
    con: duckdb.DuckDBPyConnection,
    output: Path,
    run_id: str,
    *,
    step: Step = _no_step,
    observe: Observe = _no_observe,
    currency: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Stage the job's output under `output` and MERGE it into silver; record quarantine and file
    stats. Returns `{"affected_days": [ISO day, ...], "merged": {entity: rows}}`: the days still
    pending a gold build (this run's, and any left by a run that died).

    The statements are the BigQuery target's (`plan.SILVER_AUDIT_FILES`, `plan.SILVER_MERGE_FILES`);
    only `claim.withdraw_earlier_attempts` is the local target's own (GCS claims move objects).
    `currency`: the reporting currency and the rates' gap (`plan.currency_parameters`; defaults
    when None)."""
    currency = currency or plan.currency_parameters()
    with step("load_staging"):
        for qualified, folder in plan.STAGED_TABLES.items():
            warehouse.load_parquet(con, qualified, parquet_files(output / folder), staging=True)
    with step("ensure_key_index"):
        ensure_key_index(con)
    with step("affected_days"), observe(con, "silver/affected_days.sql", currency):
        days = [r["day"] for r in warehouse.fetch_dicts(con, "silver/affected_days.sql", currency)]
    # A file claimed again takes back what its earlier attempts left in silver: their days too.
    days = sorted({*days, *claim.withdrawn_days(con, run_id), *unconverted_days(con, currency)})
    # Every key the displaced query and the transactions MERGE can match sits on one of `days`.
    params = {"run_id": run_id, "days": days, **plan.day_bounds(days), **currency}
    merged: dict[str, int] = {}
    warehouse.execute_file(con, plan.BEGIN_SQL)
    try:
        _run_files(con, plan.SILVER_AUDIT_FILES, params, step, observe)
        with step("withdraw_earlier_attempts"):
            claim.withdraw_earlier_attempts(con, run_id)
        _run_files(con, plan.SILVER_MERGE_FILES, params, step, observe)
        with step("commit"):
            warehouse.execute_file(con, plan.COMMIT_SQL)
    except Exception:
        con.rollback()
        raise
    for entity in plan.SILVER_ENTITIES:
        merged[entity] = warehouse.table_rows(con, f"silver.{entity}_staging")
    with step("drop_staging"):
        for qualified in plan.STAGED_TABLES:
            warehouse.drop_table(con, warehouse.staging_name(qualified))
    with step("pending_days"):
        pending = pending_days(con)
    return {"affected_days": pending, "merged": merged}

"""Load one run's Spark output into the local (DuckDB) silver layer: the body of the local target's
`load_silver` task, as a plain function the task and the benchmark (`bench.incremental`) both call.

Steps: stage the entities' Parquet, read the affected days (`silver/affected_days.sql`), then in one
transaction replace the run's quarantine and file-stats rows, take out what earlier attempts of the
files it claims again left in silver and quarantine (`claim.withdraw_earlier_attempts`; their days
are affected too), quarantine the silver rows the load displaces
(`silver/transactions_displaced.sql`), MERGE each entity and queue the days in `audit.run_days`.
A crash leaves silver as it was, and a rerun of the run gives the same tables.

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
from sql import catalog

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


def record_days(con: duckdb.DuckDBPyConnection, run_id: str, days: list[date]) -> None:
    """Queue the run's affected days for the gold build. A rerun queues again every day the run
    recorded before (a committed MERGE hides the old day of a moved row from a recomputation)."""
    con.execute("UPDATE audit.run_days SET status = 'pending' WHERE run_id = ?", [run_id])
    con.execute(
        "INSERT INTO audit.run_days SELECT ?, day, 'pending' FROM (SELECT UNNEST(?::DATE[]) AS day) "
        "WHERE day NOT IN (SELECT day FROM audit.run_days WHERE run_id = ?)",
        [run_id, days, run_id],
    )


def mark_days_built(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    """The gold build of `days` is done: they leave the queue (`archive_files`, once gold is built)."""
    con.execute(
        "UPDATE audit.run_days SET status = 'built' WHERE status = 'pending' AND list_contains(?, day)",
        [days],
    )


def pending_days(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every day whose gold is not rebuilt yet: this run's, and those of a run that died."""
    rows = con.execute(
        "SELECT DISTINCT day FROM audit.run_days WHERE status = 'pending' ORDER BY day"
    ).fetchall()
    return [r[0].isoformat() for r in rows]


def ensure_key_index(con: duckdb.DuckDBPyConnection) -> bool:
    """Fill `silver.transaction_keys` from every silver row when it is empty and silver is not (a
    warehouse from before the index); True when it did. An index that is merely out of step is left
    alone for `checks/silver_transaction_keys_complete.sql` to report."""
    if warehouse.table_rows(con, "silver.transaction_keys") or not warehouse.table_rows(
        con, "silver.transactions"
    ):
        return False
    # In day order, as the daily MERGEs append it: zone maps then prune the index by day too.
    text = catalog.read_sql("silver/transaction_keys.sql")
    cols = ", ".join(catalog.table("silver.transaction_keys").column_names)
    con.execute(
        f"INSERT INTO silver.transaction_keys ({cols}) SELECT {cols} FROM ({warehouse.transpile(text)}) "
        "AS index_rows ORDER BY transaction_date",
        warehouse.bind(text, {}),
    )
    return True


def load_run(
    con: duckdb.DuckDBPyConnection,
    output: Path,
    run_id: str,
    run_files: list[str],
    *,
    step: Step = _no_step,
    observe: Observe = _no_observe,
) -> dict[str, Any]:
    """Stage the job's output under `output` and MERGE it into silver; record quarantine and file
    stats. `run_files` are the source files the run claimed (their earlier quarantine rows of this
    run are replaced). Returns `{"affected_days": [ISO day, ...], "merged": {entity: rows}}`: the
    days still pending a gold build (this run's, and any left by a run that died)."""
    with step("load_staging"):
        for entity in plan.SILVER_ENTITIES:
            warehouse.load_parquet(
                con, f"silver.{entity}", parquet_files(output / "silver" / entity), staging=True
            )
    with step("ensure_key_index"):
        ensure_key_index(con)
    with step("affected_days"), observe(con, "silver/affected_days.sql", {}):
        days = [r["day"] for r in warehouse.fetch_dicts(con, "silver/affected_days.sql")]
    # A file claimed again takes back what its earlier attempts left in silver: their days too.
    days = sorted({*days, *claim.withdrawn_days(con, run_id)})
    # Every key the displaced query and the transactions MERGE can match sits on one of `days`.
    params = {"run_id": run_id, "days": sorted(days), **plan.day_bounds(days)}
    merged: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        with step("audit_load"):
            # The run's own rows are replaced; DUPLICATE_KEY rows it displaced from earlier files
            # stay (after a committed MERGE a rerun cannot find them again).
            con.execute(
                "DELETE FROM audit.quarantine WHERE run_id = ? AND list_contains(?, source_file)",
                [run_id, run_files],
            )
            con.execute("DELETE FROM audit.file_stats WHERE run_id = ?", [run_id])
            warehouse.load_parquet(
                con, "audit.quarantine", parquet_files(output / "quarantine"), staging=False
            )
            warehouse.load_parquet(
                con, "audit.file_stats", parquet_files(output / "file_stats"), staging=False
            )
        with step("withdraw_earlier_attempts"):
            claim.withdraw_earlier_attempts(con, run_id)
        relative = "silver/transactions_displaced.sql"
        with step("transactions_displaced"), observe(con, relative, params):
            text = catalog.read_sql(relative)
            cols = ", ".join(catalog.table("audit.quarantine").column_names)
            con.execute(
                f"INSERT INTO audit.quarantine ({cols}) SELECT {cols} FROM ({warehouse.transpile(text)}) AS d",
                warehouse.bind(text, params),
            )
        # Before the transactions MERGE: it reads the rows that MERGE replaces.
        relative = "silver/transaction_keys_merge.sql"
        with step("transaction_keys_merge"), observe(con, relative, params):
            warehouse.execute_file(con, relative, params)
        for entity in plan.SILVER_ENTITIES:
            relative = f"silver/{entity}_merge.sql"
            with step(f"{entity}_merge"):
                with observe(con, relative, params):
                    warehouse.execute_file(con, relative, params)
                merged[entity] = warehouse.table_rows(con, f"silver.{entity}_staging")
        with step("record_days"):
            record_days(con, run_id, days)
        with step("commit"):
            con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    with step("drop_staging"):
        for entity in plan.SILVER_ENTITIES:
            con.execute(f"DROP TABLE IF EXISTS silver.{entity}_staging")
    with step("pending_days"):
        pending = pending_days(con)
    return {"affected_days": pending, "merged": merged}

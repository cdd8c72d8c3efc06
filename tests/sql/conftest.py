"""Fixtures for the SQL tests: a fresh DuckDB warehouse per test (`wh`) with row builders that fill
the contract's defaults, and a seeded random order book (`orders`).

Helpers are reached through the `wh` fixture rather than imported, so that this folder needs no
package of its own (a `tests/sql` package would shadow the project's `sql` package).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from pipeline import plan, warehouse
from sql import catalog

UTC = dt.UTC

_DEFAULTS: dict[str, dict[str, Any]] = {
    "silver.transactions": {
        "quantity": 1,
        "currency": "USD",
        "status": "completed",
        "source_file": "landing/transactions/day.csv",
        "run_id": "run-1",
    },
    "silver.customers": {"source_file": "landing/customers/customers.csv", "run_id": "run-1"},
    "silver.agents": {"source_file": "landing/agents/agents.csv", "run_id": "run-1"},
    "silver.fx_rates": {"source_file": "landing/fx_rates/rates.csv", "run_id": "run-1"},
}


class Warehouse:
    """One DuckDB warehouse file created from the schemas, and the runner calls the DAG makes."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def insert(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert rows into `table` (or a `_staging` twin), filling the contract's defaults.

        `record_number` defaults to the row's position (1-based): every row is its own record.
        Rows inserted into silver.transactions are indexed too (silver.transaction_keys recomputed
        from silver) and converted into the reporting currency (`convert`), as a load leaves them.
        """
        schema = catalog.table(table.removesuffix("_staging"))
        defaults = _DEFAULTS.get(schema.qualified_name, {})
        records = []
        for number, row in enumerate(rows, start=1):
            unknown = set(row) - set(schema.column_names)
            if unknown:
                raise KeyError(f"{table} has no columns {sorted(unknown)}")
            records.append({**defaults, "record_number": number, **row})
        if not records:
            return
        # One columnar insert (executemany is row by row), cast to the schema's DuckDB types.
        arrow_rows = pa.table({f.name: pa.array([r.get(f.name) for r in records]) for f in schema.fields})
        casts = ", ".join(f"cast({f.name} as {warehouse.duckdb_type(f)})" for f in schema.fields)
        self.con.register("inserted_rows", arrow_rows)
        try:
            self.con.execute(
                f"insert into {table} ({', '.join(schema.column_names)}) select {casts} from inserted_rows"
            )
        finally:
            self.con.unregister("inserted_rows")
        if table == "silver.transactions":
            self.reindex()
            self.convert()

    def convert(self, **currency: Any) -> None:
        """Set amount_reporting on every day of silver.transactions (`silver/transactions_convert.sql`
        with `plan.currency_parameters(**currency)`), as the load does on its affected days."""
        days = [
            r[0] for r in self.rows("select distinct cast(transaction_ts as date) from silver.transactions")
        ]
        params = {"days": days, **plan.day_bounds(days), **plan.currency_parameters(**currency)}
        warehouse.execute_file(self.con, "silver/transactions_convert.sql", params)

    def reindex(self) -> None:
        """Recompute the key -> day index silver.transaction_keys from silver.transactions."""
        warehouse.replace_table(self.con, "silver.transaction_keys", "silver/transaction_keys.sql", {})

    def stage(self, entity: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace `silver.<entity>_staging` with `rows`, as the load task does before the merge."""
        qualified = f"silver.{entity}"
        staging = warehouse.staging_name(qualified)
        self.con.execute(f"drop table if exists {staging}")
        self.con.execute(warehouse.create_table_sql(catalog.table(qualified), staging))
        self.insert(staging, rows)
        # The load stages every entity (empty when the run has no file of it).
        for other in plan.SILVER_ENTITIES:
            other_staging = warehouse.staging_name(f"silver.{other}")
            exists = self.rows(
                "select count(*) from duckdb_tables() where schema_name = 'silver' and table_name = ?",
                [other_staging.removeprefix("silver.")],
            )[0][0]
            if not exists:
                self.con.execute(warehouse.create_table_sql(catalog.table(f"silver.{other}"), other_staging))

    def rows(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    def run(self, relative: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of `sql/<relative>` (BigQuery dialect, run through the transpile)."""
        return warehouse.fetch_dicts(self.con, relative, params)

    def table(self, qualified: str, order_by: str = "all") -> list[tuple[Any, ...]]:
        cols = ", ".join(catalog.table(qualified).column_names)
        return self.rows(f"select {cols} from {qualified} order by {order_by}")

    def build_gold(self, days: Sequence[dt.date], *, run_date: dt.date, reporting_tz: str = "UTC") -> None:
        """Rebuild gold for `days` as the DAG does, step by step in `plan.GOLD_STEPS` order: overwrite
        the daily partitions, advance the customer state, then replace the whole-table marts."""
        params = {
            "days": sorted(days),
            **plan.day_bounds(days),
            "run_date": run_date,
            "reporting_tz": reporting_tz,
        }
        for step in plan.GOLD_STEPS:
            warehouse.build_gold_step(self.con, step, params)


def generate_orders(seed: int = 7, count: int = 400) -> list[dict[str, Any]]:
    """A seeded random order book over 2025-03-25..2025-04-03 (across the Paris DST change).

    Mixed channels (and none), agents (and self-service), statuses, and amounts in whole cents so
    that half-cent averages occur.
    """
    rng = random.Random(seed)
    start = dt.datetime(2025, 3, 25, tzinfo=UTC)
    customers = [f"C{n:03d}" for n in range(1, 61)]
    agents = [f"A{n}" for n in range(1, 7)]
    return [
        {
            "transaction_id": f"T{number:05d}",
            "transaction_ts": start + dt.timedelta(seconds=rng.randrange(10 * 86400)),
            "customer_id": rng.choice(customers),
            "agent_id": rng.choice([*agents, None, None]),
            "channel": rng.choice(["store", "online", "phone", None]),
            "amount": Decimal(rng.randrange(1, 50_000)) / 100,
            "status": rng.choices(["completed", "refunded", "cancelled"], weights=[75, 15, 10])[0],
            "record_number": number,
        }
        for number in range(1, count + 1)
    ]


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    con = warehouse.connect(tmp_path / "w.duckdb")
    yield Warehouse(con)
    con.close()


@pytest.fixture
def orders() -> list[dict[str, Any]]:
    return generate_orders()


@pytest.fixture
def order_days(orders: list[dict[str, Any]]) -> list[dt.date]:
    return sorted({o["transaction_ts"].date() for o in orders})

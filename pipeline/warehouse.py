"""DuckDB in place of BigQuery for the local target.

Tables are created from the BigQuery JSON schemas (`sql.catalog`), and every SQL file is the
BigQuery-dialect file under `sql/`, transpiled with sqlglot at run time and run with its named
parameters (`@run_date` becomes DuckDB's `$run_date`). Nothing here holds business logic: it only
moves rows the way the BigQuery jobs do on GCP (load, MERGE, partition overwrite, table replace).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from pipeline import plan
from sql import catalog

_SIMPLE_TYPES = {
    "STRING": "VARCHAR",
    "INTEGER": "BIGINT",
    "INT64": "BIGINT",
    "FLOAT": "DOUBLE",
    "FLOAT64": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIME": "TIME",
    "JSON": "JSON",
    "BYTES": "BLOB",
}


def duckdb_type(field: catalog.Field) -> str:
    """DuckDB type of a BigQuery schema field (NUMERIC keeps its declared precision and scale)."""
    if field.type in ("NUMERIC", "BIGNUMERIC"):
        return f"DECIMAL({field.precision or 38}, {field.scale if field.scale is not None else 9})"
    try:
        return _SIMPLE_TYPES[field.type]
    except KeyError:
        raise ValueError(f"{field.name}: BigQuery type {field.type} has no DuckDB mapping") from None


def create_table_sql(table: catalog.Table, name: str | None = None) -> str:
    cols = ",\n    ".join(
        f"{f.name} {duckdb_type(f)}{' NOT NULL' if f.required else ''}" for f in table.fields
    )
    return f"CREATE TABLE IF NOT EXISTS {name or table.qualified_name} (\n    {cols}\n)"


# BigQuery functions the SQL files use that DuckDB lacks, as session macros of the same name.
# FARM_FINGERPRINT: only its role is kept (a deterministic 64-bit fingerprint of a string), not
# Google's FarmHash values: DuckDB's hash() with the top bit dropped, so it fits INT64. Fingerprints
# are stored (silver.transaction_keys), so hash() must not change under a DuckDB upgrade:
# tests/pipeline/test_warehouse.py pins known values.
FUNCTION_MACROS = {
    "farm_fingerprint": "CREATE OR REPLACE TEMP MACRO farm_fingerprint(value) AS CAST(hash(value) >> 1 AS BIGINT)",
}


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file with BigQuery's semantics for time (sessions run in UTC) and the
    BigQuery functions DuckDB lacks (`FUNCTION_MACROS`)."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    for macro in FUNCTION_MACROS.values():
        con.execute(macro)
    if not read_only:
        ensure_tables(con)
    return con


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the missing schemas and tables, and add the nullable columns a newer schema file
    declares to an existing table: an OUTPUT built by an earlier version keeps working, the way a
    BigQuery table takes an added NULLABLE column (a REQUIRED one cannot be added there either)."""
    for dataset in catalog.DATASETS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    existing: dict[str, set[str]] = {}
    for schema_name, table_name, column in con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns"
    ).fetchall():
        existing.setdefault(f"{schema_name}.{table_name}", set()).add(column)
    for table in catalog.tables():
        columns = existing.get(table.qualified_name)
        if columns is None:
            con.execute(create_table_sql(table))
            continue
        for f in table.fields:
            if f.name not in columns and not f.required:
                con.execute(f"ALTER TABLE {table.qualified_name} ADD COLUMN {f.name} {duckdb_type(f)}")


def _typed_array_parameter(node: exp.Expression) -> exp.Expression:
    """`@days` -> `CAST(@days AS ARRAY<DATE>)`: DuckDB types a bound empty list as INTEGER[] (and
    cannot UNNEST an untyped NULL), while BigQuery's parameter carries its type. A day with no new
    file binds no days, so the empty list is the common case, not an edge."""
    element = plan.ARRAY_PARAMETER_TYPES.get(node.name) if isinstance(node, exp.Parameter) else None
    if element is None or isinstance(node.parent, exp.Cast):
        return node
    return exp.cast(node.copy(), exp.DataType.build(f"ARRAY<{element}>", dialect="bigquery"))


@cache
def transpile(bigquery_sql: str) -> str:
    """The DuckDB text of one BigQuery statement (array parameters cast to their declared type)."""
    trees = sqlglot.parse(bigquery_sql, read="bigquery")
    if len(trees) != 1 or trees[0] is None:
        raise ValueError(f"expected one statement, got {len(trees)}")
    return trees[0].transform(_typed_array_parameter).sql(dialect="duckdb")


@cache
def parameters(bigquery_sql: str) -> frozenset[str]:
    """Named parameters (`@name`) a BigQuery statement uses."""
    tree = sqlglot.parse_one(bigquery_sql, read="bigquery")
    return frozenset(p.name for p in tree.find_all(exp.Parameter))


def bind(bigquery_sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of `params` the statement uses; a missing one is an error naming it."""
    needed = parameters(bigquery_sql)
    missing = sorted(needed - params.keys())
    if missing:
        raise KeyError(f"query parameters not bound: {', '.join('@' + m for m in missing)}")
    return {name: params[name] for name in needed}


def execute_file(
    con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run `sql/<relative>` (BigQuery dialect) on DuckDB with its named parameters bound."""
    text = catalog.read_sql(relative)
    try:
        return con.execute(transpile(text), bind(text, params or {}))
    except duckdb.Error as err:
        raise RuntimeError(f"sql/{relative} failed on DuckDB: {err}") from err


def fetch_dicts(
    con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    cur = execute_file(con, relative, params)
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> int:
    """The integer a `SELECT count(*)` returns. fetchall(), not fetchone(): DuckDB 2 keeps a
    fetchone() result open, and an open result makes the next `con.sql()`/`con.register()` on
    the connection raise ResourceInUseException."""
    rows = con.execute(sql, dict(params or {})).fetchall()
    return int(rows[0][0]) if rows else 0


def _select_into(table: catalog.Table, relative: str, order_by: Sequence[str] = ()) -> str:
    """The local twin of a BigQuery query job with a destination table (REST `destinationTable`,
    a job setting, not SQL): the rows of a SELECT file appended to a table, by column name."""
    cols = ", ".join(table.column_names)
    select = transpile(catalog.read_sql(relative))
    order = f" ORDER BY {', '.join(table.field(c).name for c in order_by)}" if order_by else ""
    return f"INSERT INTO {table.qualified_name} ({cols}) SELECT {cols} FROM ({select}) AS query_result{order}"


def append_rows(
    con: duckdb.DuckDBPyConnection,
    qualified_table: str,
    relative: str,
    params: Mapping[str, Any],
    *,
    order_by: Sequence[str] = (),
) -> None:
    """Append the rows of a SELECT file to a table (WRITE_APPEND), in `order_by` order."""
    text = catalog.read_sql(relative)
    con.execute(_select_into(catalog.table(qualified_table), relative, order_by), bind(text, params))


def overwrite_partitions(
    con: duckdb.DuckDBPyConnection,
    qualified_table: str,
    relative: str,
    days: Sequence[Any],
    params: Mapping[str, Any],
) -> int:
    """Replace the day partitions `days` of a table with the rows of a SELECT file, atomically.

    The local twin of a BigQuery query job writing `table$YYYYMMDD` with WRITE_TRUNCATE.
    """
    table = catalog.table(qualified_table)
    if table.partition_field is None:
        raise ValueError(f"{qualified_table} is not partitioned")
    text = catalog.read_sql(relative)
    first, last = params.get("first_day"), params.get("last_day")
    if days and first is not None and last is not None and not first <= min(days) <= max(days) <= last:
        # The range between the bounds is what prunes; days outside it would be rebuilt empty.
        raise ValueError(
            f"first_day {first} and last_day {last} do not bound the days {min(days)}..{max(days)}"
        )
    column = table.partition_field
    day_expr = f"CAST({column} AS DATE)" if table.field(column).type == "TIMESTAMP" else column
    execute_file(con, plan.BEGIN_SQL)
    try:
        con.execute(
            f"DELETE FROM {qualified_table} WHERE {day_expr} IN (SELECT UNNEST($days))", {"days": list(days)}
        )
        con.execute(_select_into(table, relative), bind(text, params))
        execute_file(con, plan.COMMIT_SQL)
    except Exception:
        con.rollback()
        raise
    return _count(
        con,
        f"SELECT count(*) FROM {qualified_table} WHERE {day_expr} IN (SELECT UNNEST($days))",
        {"days": list(days)},
    )


def replace_table(
    con: duckdb.DuckDBPyConnection, qualified_table: str, relative: str, params: Mapping[str, Any]
) -> int:
    """Replace a whole table with the rows of a SELECT file, atomically (WRITE_TRUNCATE)."""
    table = catalog.table(qualified_table)
    text = catalog.read_sql(relative)
    execute_file(con, plan.BEGIN_SQL)
    try:
        con.execute(f"DELETE FROM {qualified_table}")
        con.execute(_select_into(table, relative), bind(text, params))
        execute_file(con, plan.COMMIT_SQL)
    except Exception:
        con.rollback()
        raise
    return _count(con, f"SELECT count(*) FROM {qualified_table}")


def merge_table(
    con: duckdb.DuckDBPyConnection, qualified_table: str, relative: str, params: Mapping[str, Any]
) -> int:
    """Run a MERGE file that updates a table in place (one statement: atomic); the table's rows."""
    execute_file(con, relative, params)
    return _count(con, f"SELECT count(*) FROM {qualified_table}")


def build_gold_step(con: duckdb.DuckDBPyConnection, step: plan.GoldStep, params: Mapping[str, Any]) -> int:
    """Build one gold step the way its mode says (`plan.GoldStep.mode`); the rows it leaves (of the
    rebuilt days for a `partitions` step, of the table otherwise)."""
    if step.mode == "partitions":
        return overwrite_partitions(con, step.table, step.sql, params["days"], params)
    if step.mode == "merge":
        return merge_table(con, step.table, step.sql, params)
    return replace_table(con, step.table, step.sql, params)


def staging_name(qualified_table: str) -> str:
    return f"{qualified_table}_staging"


def load_parquet(
    con: duckdb.DuckDBPyConnection, qualified_table: str, files: Iterable[Path | str], *, staging: bool
) -> int:
    """Load Parquet files into a table (or its `_staging` twin, replaced), cast to the schema.

    The local twin of a BigQuery load job: WRITE_TRUNCATE into staging, WRITE_APPEND otherwise.
    """
    table = catalog.table(qualified_table)
    paths = [str(p) for p in files]
    target = staging_name(qualified_table) if staging else qualified_table
    if staging:
        con.execute(f"DROP TABLE IF EXISTS {target}")
        con.execute(create_table_sql(table, target))
    if not paths:
        return 0
    casts = ", ".join(f"CAST({f.name} AS {duckdb_type(f)}) AS {f.name}" for f in table.fields)
    before = _count(con, f"SELECT count(*) FROM {target}")
    con.execute(
        f"INSERT INTO {target} SELECT {casts} FROM read_parquet($paths, union_by_name = true)",
        {"paths": paths},
    )
    return _count(con, f"SELECT count(*) FROM {target}") - before


def drop_table(con: duckdb.DuckDBPyConnection, qualified_table: str) -> None:
    """Drop a (staging) table if it exists."""
    if not _IDENT.match(qualified_table):
        raise ValueError(f"not a table name: {qualified_table!r}")
    con.execute(f"DROP TABLE IF EXISTS {qualified_table}")


_IDENT = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def table_rows(con: duckdb.DuckDBPyConnection, qualified_table: str) -> int:
    if not _IDENT.match(qualified_table):
        raise ValueError(f"not a table name: {qualified_table!r}")
    return _count(con, f"SELECT count(*) FROM {qualified_table}")

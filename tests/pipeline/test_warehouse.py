"""The DuckDB warehouse is built from the schema files and runs BigQuery SQL through sqlglot."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline import plan, warehouse
from sql import catalog


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return warehouse.connect(tmp_path / "w.duckdb")


@pytest.mark.parametrize("table", catalog.tables(), ids=lambda t: t.qualified_name)
def test_every_table_matches_its_schema_file(con: duckdb.DuckDBPyConnection, table: catalog.Table) -> None:
    rows = con.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [table.dataset, table.name],
    ).fetchall()
    expected = [
        (f.name, warehouse.duckdb_type(f).replace(" ", ""), "NO" if f.required else "YES")
        for f in table.fields
    ]
    actual = [(name, dtype.replace(" ", ""), nullable) for name, dtype, nullable in rows]
    # DuckDB reports TIMESTAMPTZ as 'TIMESTAMP WITH TIME ZONE'.
    actual = [(n, "TIMESTAMPTZ" if t == "TIMESTAMPWITHTIMEZONE" else t, m) for n, t, m in actual]
    assert actual == expected


def test_sessions_run_in_utc_like_bigquery(con: duckdb.DuckDBPyConnection) -> None:
    day = con.execute("select cast(timestamptz '2025-01-01 23:30:00-05:00' as date)").fetchone()
    assert day == (date(2025, 1, 2),)


def test_named_parameters_are_bound_and_a_missing_one_is_named() -> None:
    sql = "select x from t where d in unnest(@days) and r = @run_date"
    assert warehouse.parameters(sql) == {"days", "run_date"}
    assert warehouse.bind(sql, {"days": [1], "run_date": 1, "unused": 2}) == {"days": [1], "run_date": 1}
    with pytest.raises(KeyError, match="@run_date"):
        warehouse.bind(sql, {"days": []})


@pytest.mark.parametrize(
    "relative",
    sorted(
        str(p.relative_to(catalog.SQL_DIR))
        for p in catalog.SQL_DIR.rglob("*.sql")
        if "unnest(@days)" in p.read_text(encoding="utf-8")
    ),
)
def test_every_file_over_the_days_runs_with_no_days(con: duckdb.DuckDBPyConnection, relative: str) -> None:
    """A day without a new file binds no days: DuckDB types a bare [] as INTEGER[] and cannot
    UNNEST a NULL, so each file must still run (the array parameters are cast to their type)."""
    params = plan.query_parameters(
        run_id="r", days=[], run_date=date(2025, 1, 2), reporting_tz="UTC", rows_valid=0
    )
    assert "CAST($days AS DATE[])" in warehouse.transpile(catalog.read_sql(relative))
    for entity in plan.SILVER_ENTITIES:  # the silver files read the load's (here empty) staging tables
        warehouse.load_parquet(con, f"silver.{entity}", [], staging=True)
    warehouse.execute_file(con, relative, params).fetchall()


def test_a_numeric_keeps_its_declared_scale() -> None:
    field = catalog.table("silver.transactions").field("amount")
    assert warehouse.duckdb_type(field) == "DECIMAL(18, 2)"


def test_load_parquet_stages_and_casts_to_the_schema(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "agents.parquet"
    con.execute(
        f"copy (select 'a1' as agent_id, 'Ann' as agent_name, 'north' as team, '2024-01-02' as hire_date, "
        f"null as extra, 'f.csv' as source_file, 1 as record_number, 'r1' as run_id) to '{path}' (format parquet)"
    )
    assert warehouse.load_parquet(con, "silver.agents", [path], staging=True) == 1
    row = con.execute("select agent_id, hire_date from silver.agents_staging").fetchone()
    assert row == ("a1", date(2024, 1, 2))
    assert warehouse.load_parquet(con, "silver.agents", [], staging=True) == 0
    assert warehouse.table_rows(con, "silver.agents_staging") == 0


def test_the_farm_fingerprint_stand_in_is_pinned(con: duckdb.DuckDBPyConnection) -> None:
    """silver.transaction_keys stores these fingerprints: a DuckDB whose hash() gives other values
    would miss every key already indexed (duplicates in silver). Then the index must be rebuilt
    (sql/silver/transaction_keys.sql) before the upgrade ships."""
    rows = con.execute(
        "select farm_fingerprint('TX-20250101-000001'), farm_fingerprint('abc'), farm_fingerprint(''), "
        "typeof(farm_fingerprint('abc'))"
    ).fetchall()
    assert rows == [(4556612459576856766, 962432233550539342, 2552464114275192544, "BIGINT")]


def test_function_macros_exist_on_read_only_connections(tmp_path: Path) -> None:
    warehouse.connect(tmp_path / "r.duckdb").close()
    with warehouse.connect(tmp_path / "r.duckdb", read_only=True) as ro:
        assert ro.execute("select farm_fingerprint('abc')").fetchall() == [(962432233550539342,)]


def test_an_older_warehouse_gets_the_nullable_columns_a_schema_file_added(tmp_path: Path) -> None:
    """An OUTPUT built before a column was added to a schema file opens, and takes rows, as before."""
    path = tmp_path / "old.duckdb"
    table = catalog.table("audit.file_stats")
    nullable = [f for f in table.fields if not f.required]
    assert nullable, "audit.file_stats needs a nullable column for this test"
    dropped = nullable[-1].name
    with duckdb.connect(str(path)) as old:
        old.execute("CREATE SCHEMA audit")
        old.execute(warehouse.create_table_sql(table))
        old.execute(f"ALTER TABLE audit.file_stats DROP COLUMN {dropped}")
    with warehouse.connect(path) as con:
        names = [r[0] for r in con.execute("DESCRIBE audit.file_stats").fetchall()]
    assert names == list(table.column_names)

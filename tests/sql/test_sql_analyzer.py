"""Every SQL file is accepted by the GoogleSQL analyzer (ZetaSQL, BigQuery's front end) against a
catalog built from the schema files, its output types match the table it feeds, and mistakes that
DuckDB would forgive fail here."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import plan, restate, sql_analyzer, warehouse
from sql import catalog

FILES = sql_analyzer.statement_files()

# BigQuery type names of the schema files -> the ZetaSQL type the analyzer reports.
SCHEMA_TYPE_NAMES = {"INTEGER": "INT64", "FLOAT": "DOUBLE", "BOOLEAN": "BOOL"}


def output_types(statement) -> list[tuple[str, str]]:
    return [(c.name, c.column.type.type_name()) for c in statement.output_column_list]


def schema_types(qualified: str) -> list[tuple[str, str]]:
    return [(f.name, SCHEMA_TYPE_NAMES.get(f.type, f.type)) for f in catalog.table(qualified).fields]


@pytest.mark.parametrize("relative", FILES)
def test_file_is_accepted(relative):
    sql_analyzer.analyze_file(relative)


@pytest.mark.parametrize(
    "relative", [f for f in FILES if f.startswith("gold/") and not f.endswith(("_merge.sql", "_reset.sql"))]
)
def test_gold_output_types_match_the_table_schema(relative):
    name = relative.removeprefix("gold/").removesuffix(".sql")
    assert output_types(sql_analyzer.analyze_file(relative)) == schema_types(f"gold.{name}")


def test_displaced_rows_have_the_types_of_audit_quarantine():
    statement = sql_analyzer.analyze_file("silver/transactions_displaced.sql")
    inserted = [(c.name, c.type.type_name()) for c in statement.insert_column_list]
    assert inserted == schema_types("audit.quarantine")
    assert [t for _, t in inserted] == [c.type.type_name() for c in statement.query_output_column_list]


@pytest.mark.parametrize("relative", FILES)
def test_an_insert_writes_each_column_a_value_of_its_own_type(relative):
    """No INSERT relies on a coercion (BigQuery and DuckDB coerce differently): every value has the
    type of the column it goes into."""
    statement = sql_analyzer.analyze_file(relative)
    if type(statement).__name__ != "ResolvedInsertStmt":
        return
    columns = [(c.name, c.type.type_name()) for c in statement.insert_column_list]
    values = [c.type.type_name() for c in statement.query_output_column_list]
    assert [t for _, t in columns] == values, relative


def test_the_key_index_has_the_types_of_its_table():
    statement = sql_analyzer.analyze_file("silver/transaction_keys.sql")
    assert output_types(statement) == schema_types("silver.transaction_keys")


@pytest.mark.parametrize("relative", [f for f in FILES if f.startswith("checks/")])
def test_check_returns_failures_and_detail(relative):
    statement = sql_analyzer.analyze_file(relative)
    assert output_types(statement) == [("failures", "INT64"), ("detail", "STRING")]


def test_catalog_has_every_table_and_the_staging_twins():
    statement = sql_analyzer.analyze(
        "select transaction_id, amount, transaction_ts, extra from silver.transactions_staging"
    )
    assert output_types(statement) == [
        ("transaction_id", "STRING"),
        ("amount", "NUMERIC"),
        ("transaction_ts", "TIMESTAMP"),
        ("extra", "JSON"),
    ]
    for table in catalog.tables():
        sql_analyzer.analyze(f"select count(*) from {table.qualified_name}")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select transaction_idd from silver.transactions", "Unrecognized name: transaction_idd"),
        ("select customer_id, amount from silver.transactions group by customer_id", "neither grouped"),
        ("select list_value(amount) from silver.transactions", "Function not found: list_value"),
        ("select strftime(transaction_ts, '%Y') from silver.transactions", "Function not found: strftime"),
        ("select amount::double from silver.transactions", "Syntax error"),
        ("select * from silver.transaction", "Table not found: silver.transaction"),
        ("select * from transactions", "Table not found: transactions"),
        ("select * from silver.transactions where run_id = @run", "Query parameter 'run' not found"),
        ("select * from silver.transactions where run_id = @days", "No matching signature"),
    ],
    ids=[
        "misspelled-column",
        "ungrouped-column",
        "duckdb-function",
        "duckdb-strftime",
        "duckdb-cast-syntax",
        "misspelled-table",
        "unqualified-table",
        "undeclared-parameter",
        "parameter-type",
    ],
)
def test_mistakes_are_rejected(sql, message):
    with pytest.raises(sql_analyzer.SqlAnalysisError, match=message):
        sql_analyzer.analyze(sql)


def test_a_misspelled_column_in_a_file_is_rejected(monkeypatch):
    text = catalog.read_sql("gold/aov_daily.sql").replace("coalesce(channel,", "coalesce(chanel,")
    with pytest.raises(sql_analyzer.SqlAnalysisError, match="Unrecognized name: chanel"):
        sql_analyzer.analyze(text, name="gold/aov_daily.sql")


def test_merge_with_a_misspelled_source_column_is_rejected():
    text = catalog.read_sql("silver/agents_merge.sql").replace("staged_agents.team", "staged_agents.teams")
    with pytest.raises(sql_analyzer.SqlAnalysisError, match="teams"):
        sql_analyzer.analyze(text)


def test_parameters_are_declared_with_their_types():
    statement = sql_analyzer.analyze("select @days as days, @run_date as run_date, @rows_valid as n")
    assert output_types(statement) == [("days", "ARRAY<DATE>"), ("run_date", "DATE"), ("n", "INT64")]
    with pytest.raises(sql_analyzer.SqlAnalysisError, match="Query parameter 'days' not found"):
        sql_analyzer.analyze("select @days", parameter_types={"run_date": "DATE"})


def test_declared_parameters_are_the_ones_the_dag_binds():
    bound = plan.query_parameters(
        run_id="run-1", days=[], run_date=dt.date(2025, 1, 1), reporting_tz="UTC", rows_valid=0
    )
    # Besides the run's parameters, the ones recording the gold SQL fingerprints (pipeline/restate.py),
    # the check results (dq/results_merge.sql) and the run's row (runs/pipeline_run_merge.sql).
    recorded = set(restate.records(None))
    checks = set(plan.check_result_parameters([]))
    run_row = set(warehouse.parameters(catalog.read_sql(plan.PIPELINE_RUN_SQL)))
    # And the filters of `cdi quarantine` (pipeline/quarantine_rows.py).
    cli_filters = set(warehouse.parameters(catalog.read_sql("runs/quarantined_rows.sql")))
    # And the claim ledger's, bound by pipeline/claim.py (tests/pipeline/test_claim.py runs them).
    claims = {p for f in FILES if f.startswith("claims/") for p in warehouse.parameters(catalog.read_sql(f))}
    bound_by_runners = set(bound) | recorded | checks | run_row | cli_filters | claims
    assert bound_by_runners == set(sql_analyzer.QUERY_PARAMETER_TYPES)
    types = sql_analyzer.QUERY_PARAMETER_TYPES
    assert (types["first_day"], types["last_day"]) == ("DATE", "DATE")
    # No days: an empty range, first_day > last_day, so the day-bounded files read nothing.
    assert bound["first_day"] > bound["last_day"]
    days = [dt.date(2025, 1, 3), dt.date(2025, 1, 1), dt.date(2025, 1, 2)]
    bound = plan.query_parameters(run_id="r", days=days, run_date=days[0], reporting_tz="UTC", rows_valid=0)
    assert (bound["days"], bound["first_day"], bound["last_day"]) == (sorted(days), days[1], days[0])


def test_main_reports_every_file(capsys):
    assert sql_analyzer.main([]) == 0
    assert f"{len(FILES)} of {len(FILES)} files accepted" in capsys.readouterr().out

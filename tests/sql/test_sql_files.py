"""Every SQL file: one BigQuery statement that sqlglot parses, the parameters the DAG binds, tables
named dataset-qualified, output columns as the schemas say, and a run on DuckDB through the
transpile on a generated fixture."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlglot
from sqlglot import exp

from pipeline import plan, sql_analyzer, warehouse
from pipeline.config import ENTITIES
from sql import catalog

FILES = sql_analyzer.statement_files()
CHECK_PARAMETERS = {
    "run_id",
    "days",
    "first_day",
    "last_day",
    "run_date",
    "rows_valid",
    "reporting_currency",
    "fx_max_gap_days",
}
DAY_PARAMETERS = {"days", "first_day", "last_day"}
# A claim of a file's bytes by a run (claims/attempt_*.sql), and what earlier attempts of the files
# a run claims again left (claims/earlier_*.sql).
CLAIM_PARAMETERS = {"run_id", "source_file", "content_sha256"}
EARLIER_PARAMETERS = {"source_files", "kept_runs"}

# The interface the DAG relies on: file -> the named parameters it takes.
PARAMETERS: dict[str, set[str]] = {
    "silver/affected_days.sql": {"fx_max_gap_days"},
    "silver/unconverted_days.sql": {"reporting_currency"},
    "silver/transaction_keys.sql": set(),
    "silver/transaction_keys_merge.sql": DAY_PARAMETERS,
    "silver/transactions_displaced.sql": {"run_id", *DAY_PARAMETERS},
    "silver/transactions_merge.sql": DAY_PARAMETERS,
    "silver/customers_merge.sql": set(),
    "silver/agents_merge.sql": set(),
    "silver/fx_rates_merge.sql": set(),
    "silver/transactions_convert.sql": {*DAY_PARAMETERS, "reporting_currency", "fx_max_gap_days"},
    "gold/aov_daily.sql": DAY_PARAMETERS,
    "gold/agent_performance.sql": DAY_PARAMETERS,
    "gold/customer_daily.sql": DAY_PARAMETERS,
    "gold/customer_state_merge.sql": {"run_date", "first_day"},
    "gold/peak_hours_daily.sql": {*DAY_PARAMETERS, "reporting_tz"},
    "gold/peak_hours.sql": set(),
    "gold/customer_rfm.sql": {"run_date"},
    "gold/cohort_retention.sql": {"run_date"},
    "gold/segment_migration.sql": set(),
    "gold/customer_state_reset.sql": set(),
    "restate/history_days.sql": set(),
    "restate/gold_fingerprints.sql": set(),
    "restate/gold_fingerprints_merge.sql": {"table_names", "fingerprints", "run_id"},
    "silver/run_quarantine_delete.sql": {"run_id"},
    "silver/run_file_stats_delete.sql": {"run_id"},
    "silver/quarantine_insert.sql": set(),
    "silver/file_stats_insert.sql": set(),
    "runs/pending_days.sql": set(),
    "runs/built_days.sql": {"days"},
    "runs/requeue_days.sql": {"run_id"},
    "runs/queue_days.sql": {"run_id", "days"},
    "runs/pipeline_run_merge.sql": {
        "run_id",
        "logical_date",
        "target",
        "files",
        "rows_read",
        "rows_valid",
        "rows_quarantined",
        "affected_days",
        "step_seconds",
        "outcome",
    },
    "runs/report_figures.sql": {"run_id", "logical_date"},
    "runs/run_recorded.sql": {"run_id"},
    "runs/run_history.sql": set(),
    "runs/quarantined_rows.sql": {"run_id", "reason", "file"},
    "dq/results_merge.sql": {"run_id", "check_names", "severities", "failures", "details"},
    "health/freshness.sql": {"run_date"},
    "health/run_checks.sql": {"run_id"},
    "health/quarantine_reasons.sql": set(),
    "dashboard/channel_days.sql": set(),
    "dashboard/agent_days.sql": set(),
    "dashboard/hour_days.sql": set(),
    "dashboard/rfm_segments.sql": set(),
    "dashboard/currencies.sql": {"run_date"},
    "dashboard/run_quarantine.sql": {"run_id"},
    "dashboard/cohorts.sql": set(),
    "dashboard/segment_moves.sql": set(),
    "transaction/begin.sql": set(),
    "transaction/commit.sql": set(),
    "claims/attempts.sql": set(),
    "claims/attempt_delete.sql": CLAIM_PARAMETERS,
    "claims/attempt_insert.sql": {
        *CLAIM_PARAMETERS,
        "entity",
        "size_bytes",
        "archive_path",
        "settings_sha256",
        "attempt",
    },
    "claims/abandoned_quarantine_delete.sql": {"run_id", "source_file"},
    "claims/abandoned_file_stats_delete.sql": {"run_id", "source_file"},
    "claims/run_attempts_end.sql": {"run_id"},
    "claims/run_attempts_ended.sql": {"run_id"},
    "claims/retried_files.sql": {"run_id"},
    "claims/withdrawn_days.sql": EARLIER_PARAMETERS,
    "claims/earlier_quarantine_delete.sql": {"run_id", *EARLIER_PARAMETERS},
    "claims/earlier_transaction_keys_update.sql": EARLIER_PARAMETERS,
    "claims/emptied_transaction_keys_delete.sql": set(),
    **{f"claims/earlier_{entity}_delete.sql": EARLIER_PARAMETERS for entity in ENTITIES},
    **{f"staging/{t.replace('.', '_')}_empty.sql": set() for t in plan.STAGED_TABLES},
    **{
        f"staging/{t.replace('.', '_')}_parse_json.sql": set()
        for t in plan.STAGED_TABLES
        if any(f.type == "JSON" for f in catalog.table(t).fields)
    },
}
REQUIRED_CHECKS = {
    "silver_transactions_key_unique",
    "silver_transaction_keys_complete",
    "silver_transactions_not_null",
    "silver_status_accepted_values",
    "silver_customers_key_unique",
    "silver_agents_key_unique",
    "orphan_customers",
    "orphan_agents",
    "freshness",
    "volume_anomaly",
    "gold_revenue_reconciliation",
    "gold_row_count_reconciliation",
    "unreadable_files",
}
ALL_PARAMS = plan.query_parameters(
    run_id="run-1",
    days=[dt.date(2025, 3, 29), dt.date(2025, 3, 30)],
    run_date=dt.date(2025, 4, 4),
    rows_valid=0,
    reporting_tz="Europe/Paris",
)
HEADER = re.compile(
    r"\A-- severity: (?P<severity>error|warn)\n-- stage: (?P<stage>silver|gold)\n-- description: \S.*\n"
)


def text_of(relative: str) -> str:
    return catalog.read_sql(relative)


def test_every_folder_of_statements_is_analyzed():
    """A new folder under sql/ is linted, analyzed and run here only if it is listed."""
    folders = {
        p.name for p in catalog.SQL_DIR.iterdir() if p.is_dir() and p.name not in ("schemas", "__pycache__")
    }
    assert folders == set(sql_analyzer.STATEMENT_FOLDERS)


def test_the_interface_files_exist():
    assert set(PARAMETERS) <= set(FILES)
    assert {f for f in FILES if not f.startswith("checks/")} == set(PARAMETERS)
    assert {f.removeprefix("checks/").removesuffix(".sql") for f in FILES} >= REQUIRED_CHECKS


@pytest.mark.parametrize("relative", FILES)
def test_parses_as_one_bigquery_statement(relative):
    statements = sqlglot.parse(text_of(relative), read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)
    assert len([s for s in statements if s is not None]) == 1
    warehouse.transpile(text_of(relative))


@pytest.mark.parametrize("relative", FILES)
def test_takes_the_parameters_of_its_interface(relative):
    used = set(warehouse.parameters(text_of(relative)))
    if relative.startswith("checks/"):
        assert used <= CHECK_PARAMETERS
    else:
        assert used == PARAMETERS[relative]
    assert used <= set(sql_analyzer.QUERY_PARAMETER_TYPES)


@pytest.mark.parametrize("relative", FILES)
def test_names_tables_dataset_qualified_without_project(relative):
    tree = sqlglot.parse_one(text_of(relative), read="bigquery")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    known = (
        {t.qualified_name for t in catalog.tables()}
        | {warehouse.staging_name(t.qualified_name) for t in catalog.tables("silver")}
        | {warehouse.staging_name(t) for t in plan.STAGED_TABLES}
        | {f"{t}_load" for t in plan.STAGED_TABLES}
    )
    for table in tree.find_all(exp.Table):
        if not table.db and table.name in ctes:
            continue
        assert not table.catalog, f"{relative}: {table.sql('bigquery')} names a project"
        assert f"{table.db}.{table.name}" in known, f"{relative}: unknown table {table.sql('bigquery')}"


@pytest.mark.parametrize("relative", [f for f in FILES if f.startswith("checks/")])
def test_check_header_gives_severity_stage_and_description(relative):
    header = HEADER.match(text_of(relative))
    assert header, f"{relative} must start with -- severity:, -- stage:, -- description: lines"


@pytest.mark.parametrize("relative", FILES)
def test_is_lowercase_with_a_final_select(relative):
    """Lowercase; a query (not DML, DDL or a transaction) ends `select * from final`."""
    code = "\n".join(line for line in text_of(relative).splitlines() if not line.lstrip().startswith("--"))
    assert not re.search(r"\b(SELECT|FROM|WHERE|WITH|MERGE|JOIN|INSERT|UPDATE|DELETE|CREATE)\b", code)
    if isinstance(sqlglot.parse_one(text_of(relative), read="bigquery"), exp.Query):
        assert code.rstrip().endswith("select * from final")


# Runs on DuckDB ----------------------------------------------------------------------------------


@pytest.fixture
def loaded(wh, orders, order_days):
    wh.insert("silver.transactions", orders)
    wh.insert("silver.customers", [{"customer_id": f"C{n:03d}"} for n in range(1, 41)])
    wh.insert("silver.agents", [{"agent_id": f"A{n}", "agent_name": f"Agent {n}"} for n in range(1, 5)])
    for entity in plan.SILVER_ENTITIES:
        wh.stage(entity, [])
    wh.stage("transactions", [{**o, "source_file": "other.csv", "run_id": "run-1"} for o in orders[:30]])
    wh.build_gold(order_days, run_date=ALL_PARAMS["run_date"], reporting_tz="Europe/Paris")
    # The audit rows the cleaning job staged, and what an earlier attempt of the run left.
    stats = {
        "run_id": "run-1",
        "entity": "transactions",
        "rows_read": 30,
        "rows_valid": 30,
        "rows_quarantined": 0,
    }
    bad = {"run_id": "run-1", "entity": "transactions", "reason": "BAD_AMOUNT", "raw_record": "{}"}
    for qualified, rows in (
        ("audit.file_stats", [{**stats, "source_file": "other.csv"}]),
        ("audit.quarantine", [{**bad, "source_file": "other.csv"}]),
    ):
        wh.con.execute(
            warehouse.create_table_sql(catalog.table(qualified), warehouse.staging_name(qualified))
        )
        wh.insert(warehouse.staging_name(qualified), rows)
    wh.insert("audit.file_stats", [{**stats, "source_file": "other.csv"}])
    wh.insert("audit.quarantine", [{**bad, "source_file": "other.csv"}, {**bad, "source_file": "kept.csv"}])
    # What a BigQuery Parquet load writes for a table with a JSON column: the JSON as text.
    for entity in plan.SILVER_ENTITIES:
        wh.con.execute(
            f"create table silver.{entity}_load as "
            f"select * replace (cast(extra as varchar) as extra) from silver.{entity}_staging"
        )
    wh.insert("audit.run_days", [{"run_id": "run-0", "day": order_days[0], "status": "pending"}])
    return wh


# What the report task records (runs/pipeline_run_merge.sql) and the checks' results.
RUN_ROW = {
    "logical_date": dt.date(2025, 4, 3),
    "target": "local",
    "files": 1,
    "rows_read": 30,
    "rows_valid": 30,
    "rows_quarantined": 0,
    "affected_days": "[]",
    "step_seconds": "{}",
    "outcome": "success",
}
# A claim of other.csv by run-1 (claims/*.sql), and the withdrawal of what run-0 left of it.
CLAIM = {
    "source_file": "other.csv",
    "content_sha256": "0" * 64,
    "entity": "transactions",
    "size_bytes": 100,
    "archive_path": "archive/run-1/transactions/other.csv",
    "settings_sha256": "0" * 64,
    "attempt": 2,
    "source_files": ["other.csv"],
    "kept_runs": [],
}
CHECK_RESULTS = plan.check_result_parameters(
    [
        {"check_name": "freshness", "severity": "warn", "failures": 0, "detail": None},
        {"check_name": "orphan_agents", "severity": "error", "failures": 2, "detail": "A7, A8"},
    ]
)


@pytest.mark.parametrize("relative", FILES)
def test_runs_on_duckdb_through_the_transpile(loaded, relative):
    params = dict(ALL_PARAMS)
    # What the run records once gold is built (pipeline/restate.py).
    params.update(table_names=["gold.aov_daily", "gold.peak_hours"], fingerprints=["f1", "f2"])
    params.update(RUN_ROW, **CHECK_RESULTS)
    # `cdi quarantine --reason bad_amount --file other.csv` (any case; the path or its end).
    params.update(reason="bad_amount", file="other.csv")
    params.update(CLAIM)
    if relative == "transaction/commit.sql":
        warehouse.execute_file(loaded.con, "transaction/begin.sql")
    if relative.startswith("runs/"):
        # The day queued by the run before (pending) and no other.
        days = [r[0] for r in loaded.rows("select day from audit.run_days")]
        params.update(days=days, **plan.day_bounds(days))
    if relative.startswith("silver/"):
        # The load binds the days silver/affected_days.sql returns for the staged rows.
        days = [r["day"] for r in loaded.run("silver/affected_days.sql", plan.currency_parameters())]
        params.update(days=days, **plan.day_bounds(days))
    cursor = warehouse.execute_file(loaded.con, relative, params)
    columns = [d[0] for d in cursor.description or ()]
    result = cursor.fetchall()
    dataset = relative.split("/")[0]
    name = relative.removeprefix(f"{dataset}/").removesuffix(".sql")
    if dataset == "gold" and name.endswith("_reset"):
        table = f"gold.{name.removesuffix('_reset')}"
        assert loaded.rows(f"select count(*) from {table}")[0][0] == 0, f"{relative} left rows in {table}"
    elif dataset == "gold" and name.endswith("_merge"):
        table = f"gold.{name.removesuffix('_merge')}"
        assert loaded.rows(f"select count(*) from {table}")[0][0] > 0, f"{relative} left {table} empty"
    elif dataset == "gold":
        assert columns == list(catalog.table(f"gold.{name}").column_names)
        assert result, f"{relative} returned no rows on the fixture"
    elif dataset == "checks":
        assert columns == ["failures", "detail"]
        assert len(result) == 1
    elif name == "affected_days":
        assert columns == ["day"]
        assert result
    elif name == "transactions_displaced":
        assert loaded.rows("select count(*) from audit.quarantine where reason = 'DUPLICATE_KEY'") == [(30,)]
    elif name == "run_quarantine_delete":
        assert loaded.rows("select source_file from audit.quarantine") == [("kept.csv",)]
    elif name == "run_file_stats_delete":
        assert loaded.rows("select count(*) from audit.file_stats") == [(0,)]
    elif name in ("quarantine_insert", "file_stats_insert"):
        table = f"audit.{name.removesuffix('_insert')}"
        assert loaded.rows(f"select count(*) from {table} where source_file = 'other.csv'") == [(2,)]
    elif name == "pending_days":
        assert columns == ["day"]
        assert result == [(d,) for d in params["days"]]
    elif name == "queue_days":
        queued = loaded.rows("select day from audit.run_days where run_id = 'run-1' and status = 'pending'")
        assert [r[0] for r in queued] == params["days"]
    elif name == "built_days":
        assert loaded.rows("select status from audit.run_days") == [("built",)]
    elif name == "requeue_days":
        assert loaded.rows("select status from audit.run_days") == [("pending",)]
    elif name == "pipeline_run_merge":
        assert loaded.rows("select run_id, outcome from audit.pipeline_runs") == [("run-1", "success")]
    elif name == "report_figures":
        assert columns == ["kind", "figure", "a", "b", "c", "detail"]
        gold = sorted(r[1] for r in result if r[0] == "gold")
        assert gold == sorted(s.table for s in plan.GOLD_STEPS), "every gold table is counted"
        # The local report's files: each audit.file_stats row of the run, every column, as JSON.
        stats = loaded.con.execute("select * from audit.file_stats where run_id = 'run-1'")
        names = [d[0] for d in stats.description or ()]
        assert [json.loads(r[5]) for r in result if r[0] == "file_record"] == [
            dict(zip(names, row, strict=True)) for row in stats.fetchall()
        ]
        assert [r[2] for r in result if r[0] == "claimed"] == [0]
    elif name == "run_history":
        runs = catalog.table("audit.pipeline_runs").column_names
        assert sorted(columns) == sorted(c for c in runs if c != "target")
    elif name == "quarantined_rows":
        assert columns == list(catalog.table("audit.quarantine").column_names)
        assert [(r[0], r[2], r[4]) for r in result] == [("run-1", "other.csv", "BAD_AMOUNT")]
        unfiltered = {"run_id": None, "reason": None, "file": None}
        assert len(warehouse.fetch_dicts(loaded.con, relative, unfiltered)) == 2, "null filters nothing"
    elif name == "results_merge":
        assert loaded.rows(
            "select check_name, passed, failures, detail from audit.dq_results order by 1"
        ) == [
            ("freshness", True, 0, None),
            ("orphan_agents", False, 2, "A7, A8"),
        ]
    elif dataset == "staging" and name.endswith("_empty"):
        staging = name.removesuffix("_empty").replace("_", ".", 1) + "_staging"
        assert loaded.rows(f"select count(*) from {staging}") == [(0,)]
    elif dataset == "staging" and name.endswith("_parse_json"):
        staging = name.removesuffix("_parse_json").replace("_", ".", 1) + "_staging"
        types = dict(loaded.rows(f"select column_name, column_type from (describe {staging})"))
        assert types["extra"] == "JSON"
    elif name == "begin":
        loaded.con.rollback()  # the transaction it opened
    elif name == "history_days":
        assert columns == ["day"]
        in_silver = loaded.rows("select distinct cast(transaction_ts as date) from silver.transactions")
        assert sorted(r[0] for r in result) == sorted(r[0] for r in in_silver)
    elif name == "gold_fingerprints":
        assert columns == ["table_name", "fingerprint"]
    elif name == "gold_fingerprints_merge":
        assert loaded.table("audit.gold_fingerprints", order_by="table_name")[0][:3] == (
            "gold.aov_daily",
            "f1",
            "run-1",
        )
        assert loaded.rows("select count(*) from audit.gold_fingerprints")[0][0] == 2
    elif name == "transaction_keys":
        assert columns == list(catalog.table("silver.transaction_keys").column_names)
        assert sum(r[2] for r in result) == loaded.rows("select count(*) from silver.transactions")[0][0]

"""Queries filtered by the run's days read only those days of silver, not all history.

DuckDB has no partitions: it skips row groups (122,880 rows) whose zone maps exclude a filter it
pushes into the scan. It cannot push `date(transaction_ts) in unnest(@days)` (the transpile is a
CASE over ARRAY_CONTAINS), so the files add a range on the column between `@first_day` and
`@last_day`. The warehouse here holds 100 days of 10,000 orders appended in time order (9 row
groups of about 12 days each); DuckDB's profiler (EXPLAIN ANALYZE, JSON) reports what each scan read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline import plan, silver_load, warehouse
from sql import catalog

FIRST_DAY = dt.date(2025, 1, 1)
DAYS_OF_HISTORY = 100
ORDERS_PER_DAY = 10_000
ROW_GROUP = 122_880
RUN_DAYS = [dt.date(2025, 3, 20), dt.date(2025, 3, 22)]  # not contiguous: the IN filter still applies

# Every file that filters silver.transactions by the run's days, and how many of its scans of
# silver.transactions must be pruned (silver_transaction_keys_complete also counts every row on
# purpose: only its scan of the checked rows is pruned).
DAY_FILTERED = {
    "gold/aov_daily.sql": "all",
    "gold/agent_performance.sql": "all",
    "gold/customer_daily.sql": "all",
    "gold/peak_hours_daily.sql": "all",
    "silver/transactions_displaced.sql": "all",
    "silver/transaction_keys_merge.sql": "all",
    "checks/silver_transactions_not_null.sql": "all",
    "checks/silver_status_accepted_values.sql": "all",
    "checks/orphan_agents.sql": "all",
    "checks/orphan_customers.sql": "all",
    "checks/gold_revenue_reconciliation.sql": "all",
    "checks/gold_row_count_reconciliation.sql": "all",
    "checks/volume_anomaly.sql": "all",
    "checks/silver_transactions_key_unique.sql": "all",
    "checks/silver_transaction_keys_complete.sql": "one",
}


def params_for(days: list[dt.date]) -> dict[str, Any]:
    return plan.query_parameters(
        run_id="run-0", days=days, run_date=dt.date(2025, 4, 11), reporting_tz="Europe/Paris", rows_valid=0
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    con = warehouse.connect(Path(tmp_path_factory.mktemp("pruning")) / "w.duckdb")
    step_us = 86_400_000_000 // ORDERS_PER_DAY
    con.execute(
        "insert into silver.transactions (transaction_id, transaction_ts, customer_id, agent_id, channel,"
        " quantity, amount, currency, amount_reporting, status, source_file, record_number, run_id) "
        "select 'T' || i, $start + to_microseconds(i * $step), 'C' || (i % 500), 'A' || (i % 7),"
        " ['store', 'online', 'phone'][i % 3 + 1], 1, (i % 1000) / 100 + 1, 'USD', (i % 1000) / 100 + 1,"
        " ['completed', 'completed', 'refunded', 'cancelled'][i % 4 + 1], 'history.csv', i, 'run-0' "
        "from range($n) as r(i) order by i",
        {
            "start": dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC),
            "step": step_us,
            "n": DAYS_OF_HISTORY * ORDERS_PER_DAY,
        },
    )
    con.execute(
        "insert into silver.customers (customer_id, source_file, record_number, run_id) "
        "select 'C' || i, 'c.csv', i, 'run-0' from range(500) as r(i)"
    )
    con.execute(
        "insert into silver.agents (agent_id, source_file, record_number, run_id) "
        "select 'A' || i, 'a.csv', i, 'run-0' from range(7) as r(i)"
    )
    # The run re-sends a few orders of its days (displaced rows), staged as the load stages them.
    staging = warehouse.staging_name("silver.transactions")
    con.execute(warehouse.create_table_sql(catalog.table("silver.transactions"), staging))
    con.execute(
        f"insert into {staging} select * replace ('rerun.csv' as source_file, 'run-1' as run_id) "
        "from silver.transactions where cast(transaction_ts as date) in (select unnest($days)) "
        "and record_number % 1000 = 0",
        {"days": RUN_DAYS},
    )
    silver_load.ensure_key_index(con)
    con.execute("checkpoint")
    params = params_for(RUN_DAYS)
    for step in plan.GOLD_STEPS:
        if step.mode == "partitions":
            warehouse.overwrite_partitions(con, step.table, step.sql, RUN_DAYS, params)
    yield con
    con.close()


def table_scans(
    con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any], table: str
) -> list[dict]:
    """The profiler's TABLE_SCAN nodes of `table` for one run of a SQL file (a MERGE is run, in a
    transaction rolled back, with the profiler on: EXPLAIN ANALYZE does not take DML)."""
    text = catalog.read_sql(relative)
    if relative.endswith("_merge.sql"):
        con.execute("BEGIN TRANSACTION")
        con.execute("SET enable_profiling = 'no_output'")
        try:
            con.execute(warehouse.transpile(text), warehouse.bind(text, params))
            profile = json.loads(con.get_profiling_information(format="json"))
        finally:
            con.execute("RESET enable_profiling")
            con.execute("ROLLBACK")
        roots = profile.get("operator") or profile.get("children") or ()
    else:
        rows = con.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {warehouse.transpile(text)}", warehouse.bind(text, params)
        ).fetchall()
        roots = json.loads(rows[0][1]).get("operator") or ()
    scans: list[dict] = []

    def walk(node: Mapping[str, Any]) -> None:
        name = str((node.get("extra_info") or {}).get("Table", ""))
        if node.get("type") == "TABLE_SCAN" and name.endswith(table):
            scans.append(dict(node))
        for child in node.get("children") or ():
            walk(child)

    for root in roots:
        walk(root)
    return scans


def silver_scans(con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any]) -> list[dict]:
    """The profiler's TABLE_SCAN nodes of silver.transactions for one run of a SQL file."""
    return table_scans(con, relative, params, "silver.transactions")


def test_history_spans_many_row_groups(history):
    scans = silver_scans(history, "gold/aov_daily.sql", params_for(RUN_DAYS))
    assert scans
    assert scans[0]["total_row_groups_to_scan"] >= 8


@pytest.mark.parametrize("relative", sorted(DAY_FILTERED))
def test_day_filtered_file_reads_only_the_run_days_row_groups(history, relative):
    scans = silver_scans(history, relative, params_for(RUN_DAYS))
    assert scans, f"{relative} does not scan silver.transactions"
    total_rows = DAYS_OF_HISTORY * ORDERS_PER_DAY
    pruned = [
        s
        for s in scans
        # The run's days (and volume_anomaly's 7 days before them) lie within 2 row groups.
        if s["row_groups_scanned"] <= 2 and s["rows_scanned"] <= 2 * ROW_GROUP
    ]
    assert pruned, f"{relative} scanned {[(s['rows_scanned'], s['row_groups_scanned']) for s in scans]}"
    if DAY_FILTERED[relative] == "all":
        assert pruned == scans, [(s["rows_scanned"], s["row_groups_scanned"]) for s in scans]
    for s in pruned:
        assert s["rows_scanned"] < total_rows / 4


def test_gold_rows_are_those_of_the_run_days_only(history):
    rows = warehouse.fetch_dicts(history, "gold/aov_daily.sql", params_for(RUN_DAYS))
    assert sorted({r["order_date"] for r in rows}) == RUN_DAYS
    expected = history.execute(
        "select cast(transaction_ts as date) as d, count(*) from silver.transactions "
        "where status = 'completed' and cast(transaction_ts as date) in (select unnest($days)) "
        "group by d order by d",
        {"days": RUN_DAYS},
    ).fetchall()
    per_day: dict[dt.date, int] = {}
    for r in rows:
        per_day[r["order_date"]] = per_day.get(r["order_date"], 0) + r["orders"]
    assert sorted(per_day.items()) == expected


def test_no_days_read_no_row_group(history):
    params = params_for([])
    assert params["first_day"] > params["last_day"]
    assert warehouse.fetch_dicts(history, "gold/aov_daily.sql", params) == []
    scans = silver_scans(history, "gold/aov_daily.sql", params)
    assert all(s["row_groups_scanned"] == 0 and s["rows_scanned"] == 0 for s in scans)


def test_overwriting_days_outside_the_bound_range_is_refused(history):
    stale = {**params_for(RUN_DAYS), "days": [dt.date(2025, 2, 1)]}
    with pytest.raises(ValueError, match="do not bound"):
        warehouse.overwrite_partitions(history, "gold.aov_daily", "gold/aov_daily.sql", stale["days"], stale)


# gold.customer_daily: RFM and the customer state read the days after the watermark, not history --


CUSTOMER_DAYS = 200
CUSTOMERS_PER_DAY = 5_000
LAST_DAY = FIRST_DAY + dt.timedelta(days=CUSTOMER_DAYS - 1)


@pytest.fixture(scope="module")
def customer_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """200 days of gold.customer_daily (5,000 customers a day, 9 row groups of about 25 days) and the
    state advanced up to the day before the last run."""
    con = warehouse.connect(Path(tmp_path_factory.mktemp("customer_days")) / "w.duckdb")
    con.execute(
        "insert into gold.customer_daily select $first + cast(i // $per_day as integer), "
        "'C' || (i * 7 % 20000), i % 3, (i % 1000) / 100 from range($n) as r(i) order by i",
        {"first": FIRST_DAY, "per_day": CUSTOMERS_PER_DAY, "n": CUSTOMER_DAYS * CUSTOMERS_PER_DAY},
    )
    previous = params_for([LAST_DAY - dt.timedelta(days=1)])
    previous["run_date"] = LAST_DAY
    warehouse.execute_file(con, "gold/customer_state_merge.sql", previous)
    con.execute("checkpoint")
    yield con
    con.close()


@pytest.mark.parametrize("relative", ["gold/customer_state_merge.sql", "gold/customer_rfm.sql"])
def test_customer_state_and_rfm_read_only_the_days_after_the_watermark(customer_history, relative):
    params = params_for([LAST_DAY])
    params["run_date"] = LAST_DAY + dt.timedelta(days=1)
    scans = table_scans(customer_history, relative, params, "gold.customer_daily")
    assert scans
    total = scans[0]["total_row_groups_to_scan"]
    assert total >= 8
    for s in scans:
        # The 7 days after the watermark (RFM), the days to fold (the state) and, in the state's
        # rebuild branch, nothing: each within 2 row groups.
        assert s["row_groups_scanned"] <= 2, [(x["rows_scanned"], x["row_groups_scanned"]) for x in scans]
        assert s["rows_scanned"] <= 2 * ROW_GROUP


def test_the_customer_state_rebuild_reads_every_day_up_to_the_watermark(customer_history):
    """Late data before the watermark: the rebuild branch is taken, and reads history."""
    params = params_for([FIRST_DAY + dt.timedelta(days=10), LAST_DAY])
    params["run_date"] = LAST_DAY + dt.timedelta(days=1)
    scans = table_scans(customer_history, "gold/customer_state_merge.sql", params, "gold.customer_daily")
    assert max(s["row_groups_scanned"] for s in scans) >= 8

"""Data-quality checks on DuckDB: each passes on a clean warehouse and fails on a broken one.

The clean warehouse holds 10 orders a day from 2025-03-24 to 2025-04-03; the checked run (run-1)
loaded the last day, and gold is built for every day.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pipeline import plan, sql_analyzer

UTC = dt.UTC
CHECK_DAY = dt.date(2025, 4, 3)
HISTORY = [CHECK_DAY - dt.timedelta(days=n) for n in range(10, 0, -1)]
PARAMS = {
    "run_id": "run-1",
    "days": [CHECK_DAY],
    "run_date": dt.date(2025, 4, 4),
    "rows_valid": 10,
    **plan.currency_parameters(),
}
CHECKS = sorted(
    f.removeprefix("checks/").removesuffix(".sql")
    for f in sql_analyzer.statement_files()
    if f.startswith("checks/")
)


def orders_of(day: dt.date, count: int = 10, run_id: str = "run-0", prefix: str = "T") -> list[dict]:
    return [
        {
            "transaction_id": f"{prefix}{day:%m%d}-{n:02d}",
            "transaction_ts": dt.datetime.combine(day, dt.time(8 + n % 12), UTC),
            "customer_id": f"C{n % 5 + 1}",
            "agent_id": None if n == 0 else f"A{n % 2 + 1}",
            "channel": "store",
            "amount": Decimal(f"{n + 1}.25"),
            "status": "refunded" if n == 9 else "completed",
            "source_file": f"landing/transactions/{day}.csv",
            "record_number": n + 1,
            "run_id": run_id,
        }
        for n in range(count)
    ]


@pytest.fixture
def clean(wh):
    wh.insert("silver.customers", [{"customer_id": f"C{n}"} for n in range(1, 6)])
    wh.insert("silver.agents", [{"agent_id": "A1"}, {"agent_id": "A2"}])
    rows = [row for day in HISTORY for row in orders_of(day)] + orders_of(CHECK_DAY, run_id="run-1")
    wh.insert("silver.transactions", rows)
    wh.build_gold([*HISTORY, CHECK_DAY], run_date=PARAMS["run_date"])
    return wh


def check(wh, name: str, **params) -> tuple[int, str]:
    bound = {**PARAMS, **params}
    bound.update(plan.day_bounds(bound["days"]))
    result = wh.run(f"checks/{name}.sql", bound)
    assert len(result) == 1, f"{name} must return exactly one row"
    assert list(result[0]) == ["failures", "detail"]
    failures, detail = result[0]["failures"], result[0]["detail"]
    assert isinstance(failures, int)
    assert isinstance(detail, str)
    return failures, detail


def extra_order(transaction_id: str = "X1", day: dt.date = CHECK_DAY, **values) -> dict:
    return {
        "transaction_id": transaction_id,
        "transaction_ts": dt.datetime.combine(day, dt.time(15), UTC),
        "customer_id": "C1",
        "agent_id": "A1",
        "amount": Decimal("5.00"),
        "run_id": "run-1",
        "record_number": 99,
        **values,
    }


# How to break each check, and the failures it must then count.
def duplicate_transaction_key(wh):
    wh.insert("silver.transactions", [extra_order("T0403-01", day=CHECK_DAY - dt.timedelta(days=4))])
    return {}, 1


def unindexed_row(wh):
    """A silver row the key index does not count (written around the load): its day and the
    whole-table totals disagree."""
    wh.con.execute(
        "insert into silver.transactions select * replace ('X-UNINDEXED' as transaction_id) "
        "from silver.transactions where transaction_id = 'T0403-01'"
    )
    return {}, 2


def blank_customer_id(wh):
    wh.insert("silver.transactions", [extra_order(customer_id="  ")])
    return {}, 1


def unknown_status(wh):
    wh.insert("silver.transactions", [extra_order(status="shipped"), extra_order("X2", status="SHIPPED")])
    return {}, 2


def duplicate_customer(wh):
    wh.insert("silver.customers", [{"customer_id": "C1"}])
    return {}, 1


def duplicate_agent(wh):
    wh.insert("silver.agents", [{"agent_id": "A2"}, {"agent_id": "A2"}])
    return {}, 1


def unknown_customer(wh):
    wh.insert("silver.transactions", [extra_order(customer_id="C99"), extra_order("X2", customer_id="C99")])
    return {}, 2


def unknown_agent(wh):
    wh.insert("silver.transactions", [extra_order(agent_id="A9")])
    return {}, 1


def stale_data(wh):
    return {"run_date": CHECK_DAY + dt.timedelta(days=3)}, 1


def volume_spike(wh):
    wh.insert("silver.transactions", orders_of(CHECK_DAY, count=25, run_id="run-1", prefix="S"))
    return {}, 1


def silver_changed_after_gold(wh):
    wh.con.execute(
        "update silver.transactions set amount_reporting = amount_reporting + 1 where transaction_id = 'T0403-03'"
    )
    return {}, 1


def rows_lost(wh):
    return {"rows_valid": 11}, 1


def unreadable_file(wh):
    wh.insert(
        "audit.quarantine",
        [
            {
                "run_id": "run-1",
                "entity": "transactions",
                "source_file": "landing/transactions/bad.csv.gz",
                "record_number": None,
                "reason": "UNREADABLE_FILE",
                "detail": "not gzip",
            }
        ],
    )
    return {}, 1


def order_without_rate(wh):
    wh.insert("silver.transactions", [extra_order(currency="GBP")])  # no GBP rate in silver
    return {}, 1


def file_stats_row(source_file: str, read: int, quarantined: int, **extra) -> dict:
    return {
        "run_id": "run-1",
        "entity": "transactions",
        "source_file": source_file,
        "file_format": "csv",
        "rows_read": read,
        "rows_valid": read - quarantined,
        "rows_quarantined": quarantined,
        "max_quarantine_pct": 20.0,
        **extra,
    }


def format_change(wh):
    # 3 of 10 rows quarantined in one file: 30% > its 20% (a new date order, say).
    wh.insert("audit.file_stats", [file_stats_row("landing/transactions/pos.csv", 10, 3)])
    return {}, 1


BREAKERS = {
    "silver_transactions_key_unique": duplicate_transaction_key,
    "silver_transaction_keys_complete": unindexed_row,
    "silver_transactions_not_null": blank_customer_id,
    "silver_status_accepted_values": unknown_status,
    "silver_customers_key_unique": duplicate_customer,
    "silver_agents_key_unique": duplicate_agent,
    "orphan_customers": unknown_customer,
    "orphan_agents": unknown_agent,
    "freshness": stale_data,
    "volume_anomaly": volume_spike,
    "gold_revenue_reconciliation": silver_changed_after_gold,
    "gold_row_count_reconciliation": rows_lost,
    "unreadable_files": unreadable_file,
    "file_quarantine_rate": format_change,
    "fx_rate_missing": order_without_rate,
}


def test_every_check_has_a_failing_fixture():
    assert sorted(BREAKERS) == CHECKS


@pytest.mark.parametrize("name", CHECKS)
def test_check_passes_on_a_clean_warehouse(clean, name):
    failures, detail = check(clean, name)
    assert failures == 0, detail


@pytest.mark.parametrize("name", CHECKS)
def test_check_fails_on_a_broken_warehouse(clean, name):
    params, expected = BREAKERS[name](clean)
    failures, detail = check(clean, name, **params)
    assert failures == expected, detail


@pytest.mark.parametrize("name", CHECKS)
def test_check_runs_on_an_empty_warehouse(wh, name):
    failures, _ = check(wh, name, rows_valid=0)
    assert failures == (1 if name == "freshness" else 0)


# Finer points ------------------------------------------------------------------------------------


def test_key_unique_names_the_duplicated_keys(clean):
    duplicate_transaction_key(clean)
    _, detail = check(clean, "silver_transactions_key_unique")
    assert "T0403-01" in detail


def test_key_unique_finds_a_key_repeated_on_the_checked_day(clean):
    clean.insert("silver.transactions", [extra_order("T0403-02", record_number=50)])
    failures, detail = check(clean, "silver_transactions_key_unique")
    assert (failures, "T0403-02" in detail) == (1, True)


def test_key_unique_reads_other_days_through_the_key_index(clean):
    """A duplicate on a day outside @days is found through silver.transaction_keys: with the index
    rebuilt without it, the check no longer sees it (what silver_transaction_keys_complete is for)."""
    duplicate_transaction_key(clean)
    assert check(clean, "silver_transactions_key_unique")[0] == 1
    clean.con.execute(
        "delete from silver.transaction_keys where transaction_date = ?", [CHECK_DAY - dt.timedelta(days=4)]
    )
    assert check(clean, "silver_transactions_key_unique")[0] == 0
    failures, detail = check(clean, "silver_transaction_keys_complete")
    assert failures == 1
    assert "all days" in detail


def test_keys_complete_names_the_day_that_differs(clean):
    unindexed_row(clean)
    _, detail = check(clean, "silver_transaction_keys_complete")
    assert f"{CHECK_DAY} silver=11 indexed=10" in detail
    assert "all days silver=111 indexed=110" in detail


def test_not_null_counts_nulls_of_a_relaxed_table(clean):
    clean.con.execute("alter table silver.transactions alter column currency drop not null")
    clean.insert("silver.transactions", [extra_order(currency=None), extra_order("X2", currency="")])
    failures, detail = check(clean, "silver_transactions_not_null")
    assert failures == 2
    assert "currency=2" in detail


def test_orphan_customers_counts_every_order_when_no_customer_is_known(clean):
    clean.con.execute("delete from silver.customers")
    assert check(clean, "orphan_customers")[0] == 10


def test_self_service_orders_are_not_orphan_agents(clean):
    clean.con.execute("delete from silver.agents")
    assert check(clean, "orphan_agents")[0] == 9, "the self-service order has no agent to miss"


@pytest.mark.parametrize(("days_late", "failures"), [(0, 0), (2, 0), (3, 1)])
def test_freshness_allows_two_days(clean, days_late, failures):
    run_date = CHECK_DAY + dt.timedelta(days=days_late)
    assert check(clean, "freshness", run_date=run_date)[0] == failures


def test_volume_drop_is_an_anomaly(clean):
    clean.con.execute(
        "delete from silver.transactions where transaction_id like 'T0403-0%' and "
        "transaction_id >= 'T0403-04'"
    )
    assert clean.rows(
        "select count(*) from silver.transactions where cast(transaction_ts as date) = ?", [CHECK_DAY]
    ) == [(4,)]
    assert check(clean, "volume_anomaly")[0] == 1


def test_volume_within_range_is_not_an_anomaly(clean):
    clean.insert("silver.transactions", orders_of(CHECK_DAY, count=9, run_id="run-1", prefix="S"))
    assert check(clean, "volume_anomaly")[0] == 0, "19 rows against a median of 10 is within 200%"


def test_volume_needs_three_prior_days(clean):
    first_days = HISTORY[:3]
    clean.insert("silver.transactions", orders_of(first_days[1], count=40, prefix="S"))
    clean.insert("silver.transactions", orders_of(first_days[2], count=40, prefix="S"))
    # days 2 and 3 (50 rows) have 1 and 2 prior days: not judged. Day 4 has 3 prior days with a
    # median of 50, so its 10 rows are judged an anomaly.
    assert check(clean, "volume_anomaly", days=first_days)[0] == 0
    assert check(clean, "volume_anomaly", days=[HISTORY[3]])[0] == 1


def test_revenue_reconciliation_catches_each_gold_table(clean):
    clean.con.execute(
        "update gold.customer_daily set revenue = revenue + 0.01 where order_date = ?", [CHECK_DAY]
    )
    failures, detail = check(clean, "gold_revenue_reconciliation")
    assert failures == 1
    assert str(CHECK_DAY) in detail


def test_unreadable_files_counts_only_this_runs_rejected_files(clean):
    clean.insert(
        "audit.quarantine",
        [
            {
                "run_id": "run-0",
                "entity": "transactions",
                "source_file": "old.csv",
                "reason": "UNREADABLE_FILE",
            },
            {
                "run_id": "run-1",
                "entity": "transactions",
                "source_file": "a.csv",
                "record_number": 4,
                "reason": "BAD_TIMESTAMP",
            },
            {"run_id": "run-1", "entity": "customers", "source_file": "c.csv", "reason": "MISSING_COLUMN"},
        ],
    )
    failures, detail = check(clean, "unreadable_files")
    assert failures == 1
    assert "c.csv" in detail


def test_file_quarantine_rate_fails_only_files_of_this_run_above_their_own_threshold(clean):
    clean.insert(
        "audit.file_stats",
        [
            file_stats_row("at_threshold.csv", 10, 2),  # 20% is not above 20%
            file_stats_row("lenient.csv", 10, 5, max_quarantine_pct=60.0),
            file_stats_row("rejected_whole.csv", 0, 0, error="missing required column"),
            {**file_stats_row("other_run.csv", 10, 9), "run_id": "run-0"},
            file_stats_row("strict.csv", 100, 2, max_quarantine_pct=1.0),
        ],
    )
    failures, detail = check(clean, "file_quarantine_rate")
    assert failures == 1, detail
    assert "strict.csv (2 of 100 rows, 2.0% > 1.0%" in detail

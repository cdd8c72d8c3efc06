"""Gold amounts in the reporting currency, end to end on the local target: a feed of USD and GBP
orders with a rates file gives the revenue converted by hand (Decimal, from the input rows). A feed
in USD alone with no rates file is every other end-to-end test's (their specs say
`second_currency=None`), each checking gold against its own computation."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from .runner import cdi_run

pytestmark = pytest.mark.e2e

RUN_AFTER = "2025-01-07T00:00:00+00:00"
TRANSACTIONS = """\
transaction_id,transaction_ts,customer_id,channel,amount,currency,status
T1,2025-01-03T09:00:00Z,C1,store,10.00,USD,completed
T2,2025-01-03T10:00:00Z,C2,store,20.05,GBP,completed
T3,2025-01-03T11:00:00Z,C1,online,7.99,gbp,refunded
T4,2025-01-04T12:00:00Z,C3,online,33.33,GBP,completed
T5,2025-01-04T13:00:00Z,C2,online,5.00,,completed
T6,2025-01-06T08:30:00Z,C3,store,1.01,GBP,completed
T7,2025-01-06T18:00:00Z,C1,store,99.99,USD,completed
"""
# No rate on Saturday the 4th: its GBP order takes Friday's.
RATES = """\
date,currency,rate
2025-01-03,GBP,1.2345
2025-01-06,GBP,1.251
"""


def hand_converted_revenue(transactions: str, rates: str) -> dict[date, Decimal]:
    """Completed revenue per UTC day in USD: each order's amount x the latest rate on or before
    its day (within 7 days), rounded to cents half up, then summed; USD (and empty) as is."""
    orders = pd.read_csv(io.StringIO(transactions), dtype=str, keep_default_na=False)
    rate_rows = (
        pd.read_csv(io.StringIO(rates), dtype=str)
        if rates
        else pd.DataFrame(columns=["date", "currency", "rate"])
    )
    by_key = {(date.fromisoformat(r.date), r.currency): Decimal(r.rate) for r in rate_rows.itertuples()}
    revenue: dict[date, Decimal] = {}
    for order in orders.itertuples():
        day = date.fromisoformat(order.transaction_ts[:10])
        amount = Decimal(order.amount)
        currency = order.currency.upper() or "USD"
        if currency != "USD":
            rate = next(
                by_key[(day - timedelta(k), currency)]
                for k in range(8)
                if (day - timedelta(k), currency) in by_key
            )
            amount = (amount * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if order.status == "completed":
            revenue[day] = revenue.get(day, Decimal(0)) + amount
    return revenue


def run(tmp_path: Path, transactions: str, rates: str | None) -> tuple[Path, str]:
    landing, output = tmp_path / "landing", tmp_path / "out"
    (landing / "transactions").mkdir(parents=True)
    (landing / "transactions" / "orders.csv").write_text(transactions)
    if rates is not None:
        (landing / "fx_rates").mkdir()
        (landing / "fx_rates" / "rates.csv").write_text(rates)
    result = cdi_run(landing, output, RUN_AFTER)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return output, result.stdout


def gold_revenue(output: Path, table: str) -> dict[date, Decimal]:
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        rows = con.sql(f"select order_date, sum(revenue) from gold.{table} group by all").fetchall()
    return {day: Decimal(revenue) for day, revenue in rows}


def test_gbp_and_usd_orders_with_a_rates_file_give_the_hand_converted_revenue(tmp_path: Path) -> None:
    output, _ = run(tmp_path, TRANSACTIONS, RATES)
    expected = hand_converted_revenue(TRANSACTIONS, RATES)
    assert expected[date(2025, 1, 4)] == Decimal("41.15") + Decimal("5.00")  # 33.33 x 1.2345 = 41.146...
    for table in ("aov_daily", "customer_daily", "peak_hours_daily", "agent_performance"):
        revenue = gold_revenue(output, table)
        if table == "agent_performance":  # self-service orders only: no agent, no rows
            assert revenue == {}
            continue
        assert revenue == expected, table

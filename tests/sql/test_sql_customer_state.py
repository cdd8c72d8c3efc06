"""gold.customer_state (sql/gold/customer_state_merge.sql) and the RFM built on it, run after run.

A simulated history of daily runs goes through the situations the incremental state must survive:
plain daily runs (the advance path), late data inside the 7 days after the watermark, late data
before it, an order moved to another day and customer, a rerun, a backfill of an older run date,
runs missed for more than a week and a run long after the data. After every run the state equals
the totals recomputed from silver up to the watermark, and gold.customer_rfm equals RFM recomputed
from every order, both independently in pandas.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

UTC = dt.UTC
LAG_DAYS = 7
"""The state's watermark is the run date - 7 (sql/gold/customer_state_merge.sql)."""
FIRST_DAY = dt.date(2025, 1, 1)


def day(n: int) -> dt.date:
    """The n-th day of the simulated history (day(0) = 2025-01-01)."""
    return FIRST_DAY + dt.timedelta(days=n)


def orders_of(d: dt.date, seed: int, count: int = 12, prefix: str = "T") -> list[dict[str, Any]]:
    rng = random.Random(seed * 1000 + d.toordinal())
    return [
        {
            "transaction_id": f"{prefix}{d:%m%d}-{n:02d}",
            "transaction_ts": dt.datetime.combine(d, dt.time(rng.randrange(24), rng.randrange(60)), UTC),
            "customer_id": f"C{rng.randrange(1, 31):02d}",
            "amount": Decimal(rng.randrange(100, 20_000)) / 100,
            "status": rng.choices(["completed", "refunded", "cancelled"], weights=[80, 12, 8])[0],
        }
        for n in range(count)
    ]


# Independent computations ------------------------------------------------------------------------


def silver_frame(wh) -> pd.DataFrame:
    rows = wh.rows(
        "select transaction_id, cast(transaction_ts as date), customer_id, amount, status "
        "from silver.transactions"
    )
    # From the rows, not .df(): amounts stay Decimal.
    return pd.DataFrame(rows, columns=["transaction_id", "order_date", "customer_id", "amount", "status"])


def expected_state(frame: pd.DataFrame, watermark: dt.date) -> list[tuple]:
    """(customer_id, orders, revenue, last_order_date, last_active_date) up to the watermark."""
    frame = frame[frame["order_date"] <= watermark]
    out = []
    for customer_id, group in frame.groupby("customer_id"):
        completed = group[group["status"] == "completed"]
        out.append(
            (
                customer_id,
                len(completed),
                sum(completed["amount"], Decimal(0)),
                max(completed["order_date"]) if len(completed) else None,
                max(group["order_date"]),
            )
        )
    return sorted(out)


def quintiles(keys: list[str]) -> dict[str, int]:
    """NTILE(5) over customers already in order: sizes differ by at most one, larger first."""
    size, extra = divmod(len(keys), 5)
    scores: dict[str, int] = {}
    position = 0
    for bucket in range(1, 6):
        for _ in range(size + (1 if bucket <= extra else 0)):
            scores[keys[position]] = bucket
            position += 1
    return scores


def expected_rfm(frame: pd.DataFrame, run_date: dt.date) -> list[tuple]:
    """customer_id, as_of_date, recency_days, frequency, monetary and the three scores."""
    if frame.empty:
        return []
    as_of = min(run_date, max(frame["order_date"]) + dt.timedelta(days=1))
    completed = frame[(frame["status"] == "completed") & (frame["order_date"] <= as_of)]
    rows = []
    for customer_id, group in completed.groupby("customer_id"):
        rows.append(
            {
                "customer_id": customer_id,
                "recency": (as_of - max(group["order_date"])).days,
                "frequency": len(group),
                "monetary": sum(group["amount"], Decimal(0)),
            }
        )
    r = quintiles([x["customer_id"] for x in sorted(rows, key=lambda x: (-x["recency"], x["customer_id"]))])
    f = quintiles([x["customer_id"] for x in sorted(rows, key=lambda x: (x["frequency"], x["customer_id"]))])
    m = quintiles([x["customer_id"] for x in sorted(rows, key=lambda x: (x["monetary"], x["customer_id"]))])
    return sorted(
        (
            x["customer_id"],
            as_of,
            x["recency"],
            x["frequency"],
            x["monetary"],
            r[x["customer_id"]],
            f[x["customer_id"]],
            m[x["customer_id"]],
        )
        for x in rows
    )


# The runner --------------------------------------------------------------------------------------


class History:
    """Silver loads (upsert on transaction_id, as silver/transactions_merge.sql does) and gold runs
    (`wh.build_gold`: every step of plan.GOLD_STEPS, as the DAG runs them)."""

    def __init__(self, wh) -> None:
        self.wh = wh

    def load(self, orders: list[dict[str, Any]]) -> list[dt.date]:
        """Upsert orders into silver; the days they touch (their own and, for a key already in
        silver, the day it sat on)."""
        ids = [o["transaction_id"] for o in orders]
        old_days = self.wh.rows(
            "select distinct cast(transaction_ts as date) from silver.transactions "
            "where list_contains(?, transaction_id)",
            [ids],
        )
        self.wh.con.execute("delete from silver.transactions where list_contains(?, transaction_id)", [ids])
        self.wh.insert("silver.transactions", orders)
        return sorted({o["transaction_ts"].date() for o in orders} | {r[0] for r in old_days})

    def run(self, days: list[dt.date], run_date: dt.date) -> None:
        self.wh.build_gold(days, run_date=run_date)

    def state(self) -> list[tuple]:
        return self.wh.rows(
            "select customer_id, orders, revenue, last_order_date, last_active_date "
            "from gold.customer_state order by customer_id"
        )

    def rfm(self) -> list[tuple]:
        return self.wh.rows(
            "select customer_id, as_of_date, recency_days, frequency, monetary, r_score, f_score, m_score "
            "from gold.customer_rfm order by customer_id"
        )

    def assert_matches_a_full_recomputation(self, run_date: dt.date) -> None:
        frame = silver_frame(self.wh)
        watermark = run_date - dt.timedelta(days=LAG_DAYS)
        assert self.state() == expected_state(frame, watermark), f"state after the run of {run_date}"
        assert self.rfm() == expected_rfm(frame, run_date), f"customer_rfm after the run of {run_date}"


@pytest.fixture
def history(wh) -> History:
    return History(wh)


def initial_load(history: History, through: int, seed: int = 1) -> None:
    """Days day(0) to day(through) in one load, run as of the next day (the state is rebuilt)."""
    days = history.load([o for n in range(through + 1) for o in orders_of(day(n), seed)])
    history.run(days, day(through + 1))
    history.assert_matches_a_full_recomputation(day(through + 1))


def daily_runs(history: History, first: int, last: int, seed: int = 1) -> None:
    """Day by day from day(first) to day(last): load the day's file, run as of the next day."""
    for n in range(first, last + 1):
        days = history.load(orders_of(day(n), seed))
        history.run(days, day(n + 1))
        history.assert_matches_a_full_recomputation(day(n + 1))


# Tests -------------------------------------------------------------------------------------------


def test_an_initial_load_then_daily_runs_advance_the_state(history):
    initial_load(history, 28)
    for n in range(29, 41):
        before = history.state()
        days = history.load(orders_of(day(n), 1))
        history.run(days, day(n + 1))
        history.assert_matches_a_full_recomputation(day(n + 1))
        # The advance folds one day in: only its customers' rows change.
        changed = {r[0] for r in set(history.state()) - set(before)}
        assert changed <= {o["customer_id"] for o in orders_of(day(n + 1 - LAG_DAYS), 1)}
        assert changed


def test_late_data_after_the_watermark_leaves_the_state_alone(history):
    initial_load(history, 27)
    daily_runs(history, 28, 30)
    before = history.state()
    late = orders_of(day(28), seed=9, count=4, prefix="L")  # 3 days before the new day 31
    days = history.load([*orders_of(day(31), 1), *late])
    assert days == [day(28), day(31)]
    history.run(days, day(32))
    history.assert_matches_a_full_recomputation(day(32))
    # Day 28 is after the watermark (day 25): the state only advanced by day 25.
    changed = {r[0] for r in set(history.state()) - set(before)}
    on_day_25 = {o["customer_id"] for o in orders_of(day(25), 1)}
    assert changed <= on_day_25


def test_late_data_before_the_watermark_updates_the_state(history):
    initial_load(history, 27)
    daily_runs(history, 28, 30)
    late = orders_of(day(10), seed=9, count=5, prefix="L")  # 21 days before the new day
    for order in late:
        order["status"] = "completed"
    days = history.load([*orders_of(day(31), 1), *late])
    history.run(days, day(32))
    history.assert_matches_a_full_recomputation(day(32))
    daily_runs(history, 32, 36)


def test_an_order_moved_to_another_day_and_customer(history):
    initial_load(history, 27)
    daily_runs(history, 28, 30)
    moved = next(o for o in orders_of(day(5), 1) if o["status"] == "completed")
    moved = {
        **moved,
        "transaction_ts": dt.datetime.combine(day(31), dt.time(9), UTC),
        "customer_id": "C99",
    }
    days = history.load([*orders_of(day(31), 1), moved])
    assert days == [day(5), day(31)]
    history.run(days, day(32))
    history.assert_matches_a_full_recomputation(day(32))
    assert "C99" not in {r[0] for r in history.state()}, "day 31 is after the watermark"
    daily_runs(history, 32, 40)
    assert "C99" in {r[0] for r in history.state()}


def test_a_customer_loses_every_order_before_the_watermark(history):
    """A customer whose only orders are re-sent as another customer's leaves the state."""
    days = history.load(
        [
            *orders_of(day(0), 1),
            {
                "transaction_id": "ONLY-1",
                "transaction_ts": dt.datetime(2025, 1, 1, 10, tzinfo=UTC),
                "customer_id": "C77",
                "amount": Decimal("5.00"),
                "status": "completed",
            },
        ]
    )
    history.run(days, day(20))
    assert "C77" in {r[0] for r in history.state()}
    days = history.load(
        [
            {
                "transaction_id": "ONLY-1",
                "transaction_ts": dt.datetime(2025, 1, 1, 10, tzinfo=UTC),
                "customer_id": "C01",
                "amount": Decimal("5.00"),
                "status": "completed",
            }
        ]
    )
    history.run(days, day(21))
    history.assert_matches_a_full_recomputation(day(21))
    assert "C77" not in {r[0] for r in history.state()}


def test_a_rerun_changes_nothing(history):
    initial_load(history, 27)
    daily_runs(history, 28, 30)
    days = history.load(orders_of(day(31), 1))
    history.run(days, day(32))
    state, rfm = history.wh.table("gold.customer_state"), history.wh.table("gold.customer_rfm")
    days = history.load(orders_of(day(31), 1))  # the same file again
    history.run(days, day(32))
    assert history.wh.table("gold.customer_state") == state
    assert history.wh.table("gold.customer_rfm") == rfm


def test_a_backfill_of_an_older_run_date_and_back(history):
    initial_load(history, 37)
    daily_runs(history, 38, 40)
    # Rerun of the run of day 20 (its day rebuilt): RFM as of day 20 although silver holds more.
    history.run([day(19)], day(20))
    history.assert_matches_a_full_recomputation(day(20))
    assert {r[1] for r in history.rfm()} == {day(20)}
    # The latest run again: the state is 21 days behind, more than a week: rebuilt.
    history.run([day(40)], day(41))
    history.assert_matches_a_full_recomputation(day(41))
    daily_runs(history, 41, 43)


def test_runs_missed_for_more_than_a_week(history):
    initial_load(history, 17)
    daily_runs(history, 18, 20)
    days = history.load([o for n in range(21, 35) for o in orders_of(day(n), 1)])
    history.run(days, day(35))
    history.assert_matches_a_full_recomputation(day(35))
    daily_runs(history, 35, 38)


def test_a_run_long_after_the_data_scores_as_of_the_day_after_the_latest_order(history):
    """The latest order day holds only a refund: as_of_date still follows it (it is in the state)."""
    refund = {
        "transaction_id": "R-LAST",
        "transaction_ts": dt.datetime.combine(day(30), dt.time(12), UTC),
        "customer_id": "C05",
        "amount": Decimal("9.99"),
        "status": "refunded",
    }
    days = history.load([*[o for n in range(30) for o in orders_of(day(n), 1)], refund])
    history.run(days, dt.date(2025, 12, 31))
    history.assert_matches_a_full_recomputation(dt.date(2025, 12, 31))
    assert {r[1] for r in history.rfm()} == {day(31)}
    history.run([], dt.date(2026, 1, 1))
    history.assert_matches_a_full_recomputation(dt.date(2026, 1, 1))


def test_incremental_runs_equal_one_run_over_all_days(wh, tmp_path):
    """Byte for byte: the state and RFM after daily runs equal a single run over every day."""
    from pipeline import warehouse

    incremental = History(wh)
    daily_runs(incremental, 0, 40)
    other = warehouse.connect(tmp_path / "once.duckdb")
    try:
        once = History(type(wh)(other))
        days = once.load([o for n in range(41) for o in orders_of(day(n), 1)])
        once.run(days, day(41))
        for table in ("gold.customer_state", "gold.customer_rfm"):
            assert wh.table(table) == once.wh.table(table), table
    finally:
        other.close()

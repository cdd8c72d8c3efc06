"""Gold SQL on DuckDB against an independent pandas computation, hand-checked figures, edge cases
(a day with only refunds, an agent without completed orders, a one-order customer, RFM ties, DST
in the reporting time zone, a gap month in a cohort, a customer changing segment or new since the
previous month end) and the incremental contract (idempotent, late data, day by day)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from sql import catalog

UTC = dt.UTC
CENT = Decimal("0.01")
GOLD_TABLES = (
    "gold.aov_daily",
    "gold.agent_performance",
    "gold.customer_daily",
    "gold.peak_hours_daily",
    "gold.peak_hours",
    "gold.customer_rfm",
    "gold.cohort_retention",
    "gold.segment_migration",
)
AFTER_DATA = dt.date(2025, 4, 10)


def order(transaction_id: str, when: str, customer_id: str, amount: str, **values) -> dict:
    """One silver order at `when` (UTC, `YYYY-MM-DD HH:MM`), completed unless `status` says not."""
    return {
        "transaction_id": transaction_id,
        "transaction_ts": dt.datetime.fromisoformat(when).replace(tzinfo=UTC),
        "customer_id": customer_id,
        "amount": Decimal(amount),
        "status": "completed",
        **values,
    }


def half_up(value: Decimal) -> Decimal:
    """BigQuery's ROUND on NUMERIC: 2 places, halves away from zero (amounts are never negative)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(values) -> Decimal:
    return sum(values, Decimal(0))


def order_frame(orders) -> pd.DataFrame:
    frame = pd.DataFrame(orders)
    frame["order_date"] = [t.astimezone(UTC).date() for t in frame["transaction_ts"]]
    frame["completed"] = frame["status"] == "completed"
    return frame


def segment(r: int, f: int) -> str:
    """The mapping documented in sql/gold/customer_rfm.sql, restated."""
    rules = [
        ("Champions", r >= 4 and f >= 4),
        ("Loyal", r >= 3 and f >= 3),
        ("New", r >= 4 and f <= 2),
        ("About to sleep", r == 3 and f <= 2),
        ("Cannot lose them", r <= 2 and f >= 4),
        ("At risk", r <= 2 and f == 3),
        ("Hibernating", r <= 2 and f <= 2),
    ]
    return next(name for name, matches in rules if matches)


def ntile(count: int, buckets: int = 5) -> list[int]:
    """Standard NTILE: sizes differ by at most one, larger buckets first."""
    size, extra = divmod(count, buckets)
    out: list[int] = []
    for bucket in range(1, buckets + 1):
        out += [bucket] * (size + (1 if bucket <= extra else 0))
    return out


# Independent computations ------------------------------------------------------------------------


def expected_aov_daily(orders, days) -> list[tuple]:
    frame = order_frame(orders)
    frame = frame[frame["order_date"].isin(days)]
    frame["channel"] = frame["channel"].fillna("unknown")
    out = []
    for (order_date, channel), group in frame.groupby(["order_date", "channel"]):
        completed = group[group["completed"]]
        revenue = money(completed["amount"])
        count = len(completed)
        out.append(
            (
                order_date,
                channel,
                count,
                revenue,
                half_up(revenue / count) if count else None,
                money(group.loc[group["status"] == "refunded", "amount"]),
                money(group.loc[group["status"] == "cancelled", "amount"]),
            )
        )
    return sorted(out)


def expected_agent_performance(orders, days, agent_names) -> list[tuple]:
    frame = order_frame(orders)
    frame = frame[frame["order_date"].isin(days) & frame["agent_id"].notna()]
    out = []
    for (order_date, agent_id), group in frame.groupby(["order_date", "agent_id"]):
        completed = group[group["completed"]]
        count = len(completed)
        refunded = int((group["status"] == "refunded").sum())
        revenue = money(completed["amount"])
        out.append(
            {
                "order_date": order_date,
                "agent_id": agent_id,
                "agent_name": agent_names.get(agent_id),
                "orders": count,
                "revenue": revenue,
                "aov": half_up(revenue / count) if count else None,
                "distinct_customers": completed["customer_id"].nunique(),
                "refund_rate": refunded / (count + refunded) if count + refunded else None,
            }
        )
    result = pd.DataFrame(out)
    result["rank_in_day"] = (
        result.assign(revenue_f=result["revenue"].astype(float))
        .groupby("order_date")["revenue_f"]
        .rank(method="min", ascending=False)
        .astype(int)
    )
    return sorted(tuple(none_for_nan(v) for v in row) for row in result.itertuples(index=False))


def expected_customer_daily(orders, days) -> list[tuple]:
    frame = order_frame(orders)
    frame = frame[frame["order_date"].isin(days)]
    out = []
    for (order_date, customer_id), group in frame.groupby(["order_date", "customer_id"]):
        completed = group[group["completed"]]
        out.append((order_date, customer_id, len(completed), money(completed["amount"])))
    return sorted(out)


def localized(orders, reporting_tz: str) -> pd.DataFrame:
    frame = order_frame(orders)
    frame = frame[frame["completed"]].copy()
    local = [pd.Timestamp(t).tz_convert(ZoneInfo(reporting_tz)) for t in frame["transaction_ts"]]
    frame["day_of_week"] = [t.isoweekday() for t in local]
    frame["hour_of_day"] = [t.hour for t in local]
    return frame


def expected_peak_hours_daily(orders, days, reporting_tz: str) -> list[tuple]:
    frame = localized(orders, reporting_tz)
    frame = frame[frame["order_date"].isin(days)]
    grouped = frame.groupby(["order_date", "day_of_week", "hour_of_day"])["amount"]
    return sorted((d, w, h, len(g), money(g)) for (d, w, h), g in grouped)


def expected_peak_hours(orders, reporting_tz: str) -> list[tuple]:
    frame = localized(orders, reporting_tz)
    out = []
    for day_of_week in range(1, 8):
        for hour in range(24):
            cell = frame[(frame["day_of_week"] == day_of_week) & (frame["hour_of_day"] == hour)]
            out.append((day_of_week, hour, len(cell), money(cell["amount"])))
    return out


def expected_customer_rfm(orders, run_date: dt.date) -> list[tuple]:
    frame = order_frame(orders)
    as_of = min(run_date, max(frame["order_date"]) + dt.timedelta(days=1))
    completed = frame[frame["completed"] & (frame["order_date"] <= as_of)]
    per_customer = (
        completed.groupby("customer_id")
        .agg(last=("order_date", "max"), frequency=("transaction_id", "nunique"), monetary=("amount", money))
        .reset_index()
    )
    per_customer["recency_days"] = [(as_of - last).days for last in per_customer["last"]]
    count = len(per_customer)
    by_recency = per_customer.sort_values(["recency_days", "customer_id"], ascending=[False, True])
    by_frequency = per_customer.sort_values(["frequency", "customer_id"])
    by_monetary = per_customer.sort_values(["monetary", "customer_id"])
    r_score = dict(zip(by_recency["customer_id"], ntile(count), strict=True))
    f_score = dict(zip(by_frequency["customer_id"], ntile(count), strict=True))
    m_score = dict(zip(by_monetary["customer_id"], ntile(count), strict=True))
    return sorted(
        (
            row.customer_id,
            as_of,
            row.recency_days,
            row.frequency,
            row.monetary,
            r_score[row.customer_id],
            f_score[row.customer_id],
            m_score[row.customer_id],
            segment(r_score[row.customer_id], f_score[row.customer_id]),
        )
        for row in per_customer.itertuples()
    )


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_between(first: dt.date, last: dt.date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def expected_cohort_retention(orders, run_date: dt.date) -> list[tuple]:
    frame = order_frame(orders)
    frame = frame[frame["order_date"] <= run_date]
    last_month = month_start(max(frame["order_date"]))
    completed = frame[frame["completed"]].copy()
    completed["order_month"] = [month_start(d) for d in completed["order_date"]]
    active = completed.groupby("customer_id")["order_month"].apply(set)
    cohorts = {customer: min(months) for customer, months in active.items()}
    out = []
    for cohort in sorted(set(cohorts.values())):
        members = [c for c, first in cohorts.items() if first == cohort]
        for k in range(months_between(cohort, last_month) + 1):
            month = (pd.Timestamp(cohort) + pd.DateOffset(months=k)).date()
            retained = sum(1 for c in members if month in active[c])
            out.append((cohort, k, len(members), retained, retained / len(members)))
    return out


NO_PRIOR_ORDER = "No prior order"


def expected_segment_migration(orders, run_date: dt.date) -> list[tuple]:
    """Segments now (RFM as of the run) against RFM as of the previous month end, both from the
    pandas RFM above; a customer with no completed order by then comes from 'No prior order'."""
    now = expected_customer_rfm(orders, run_date)
    if not now:
        return []
    as_of = now[0][1]
    previous_month_end = month_start(as_of) - dt.timedelta(days=1)
    frame = order_frame(orders)
    ordered_before = frame[frame["completed"] & (frame["order_date"] <= previous_month_end)]
    before = expected_customer_rfm(orders, previous_month_end) if len(ordered_before) else []
    assert all(row[1] == previous_month_end for row in before)
    from_segment = {row[0]: row[8] for row in before}
    moves = pd.DataFrame(
        [(as_of, from_segment.get(row[0], NO_PRIOR_ORDER), row[8]) for row in now],
        columns=["as_of_date", "from_segment", "to_segment"],
    )
    counts = moves.groupby(["as_of_date", "from_segment", "to_segment"]).size()
    return sorted((*key, int(n)) for key, n in counts.items())


def none_for_nan(value):
    """pandas stores a missing value of a float or object column as NaN; SQL returns NULL."""
    return None if isinstance(value, float) and math.isnan(value) else value


def approx_rows(rows: list[tuple]) -> list[tuple]:
    """Rows with floats rounded, for comparing FLOAT64 columns."""
    return [tuple(round(v, 12) if isinstance(v, float) else v for v in row) for row in rows]


# Against pandas ----------------------------------------------------------------------------------


def test_aov_daily_matches_pandas(wh, orders, order_days):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=AFTER_DATA)
    assert wh.table("gold.aov_daily") == expected_aov_daily(orders, order_days)


def test_aov_daily_builds_only_the_requested_days(wh, orders, order_days):
    wh.insert("silver.transactions", orders)
    some_days = order_days[2:5]
    wh.build_gold(some_days, run_date=AFTER_DATA)
    assert wh.table("gold.aov_daily") == expected_aov_daily(orders, some_days)
    assert {r[0] for r in wh.table("gold.agent_performance")} == set(some_days)
    assert {r[0] for r in wh.table("gold.customer_daily")} == set(some_days)


def test_agent_performance_matches_pandas(wh, orders, order_days):
    agents = [{"agent_id": f"A{n}", "agent_name": f"Agent {n}"} for n in range(1, 5)]  # A5, A6 unknown
    wh.insert("silver.transactions", orders)
    wh.insert("silver.agents", agents)
    wh.build_gold(order_days, run_date=AFTER_DATA)
    names = {a["agent_id"]: a["agent_name"] for a in agents}
    actual = wh.table("gold.agent_performance")
    assert approx_rows(actual) == approx_rows(expected_agent_performance(orders, order_days, names))
    assert any(row[2] is None for row in actual), "an unknown agent keeps a null name"


def test_customer_daily_matches_pandas(wh, orders, order_days):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=AFTER_DATA)
    assert wh.table("gold.customer_daily") == expected_customer_daily(orders, order_days)


@pytest.mark.parametrize("reporting_tz", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_peak_hours_match_pandas(wh, orders, order_days, reporting_tz):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=AFTER_DATA, reporting_tz=reporting_tz)
    assert wh.table("gold.peak_hours_daily") == expected_peak_hours_daily(orders, order_days, reporting_tz)
    peak_hours = wh.table("gold.peak_hours", order_by="day_of_week, hour_of_day")
    assert len(peak_hours) == 168
    assert peak_hours == expected_peak_hours(orders, reporting_tz)


@pytest.mark.parametrize("run_date", [AFTER_DATA, dt.date(2025, 3, 31)], ids=["after-data", "backfill"])
def test_customer_rfm_matches_pandas(wh, orders, order_days, run_date):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=run_date)
    actual = wh.table("gold.customer_rfm")
    assert actual == expected_customer_rfm(orders, run_date)
    assert all(row[2] >= 0 for row in actual), "recency is never negative"


@pytest.mark.parametrize("run_date", [AFTER_DATA, dt.date(2025, 3, 31)], ids=["after-data", "backfill"])
def test_cohort_retention_matches_pandas(wh, orders, order_days, run_date):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=run_date)
    actual = wh.table("gold.cohort_retention")
    assert approx_rows(actual) == approx_rows(expected_cohort_retention(orders, run_date))
    assert all(row[4] == 1.0 for row in actual if row[1] == 0), "the cohort month retains everyone"


@pytest.mark.parametrize("run_date", [AFTER_DATA, dt.date(2025, 4, 1)], ids=["after-data", "first-of-month"])
def test_segment_migration_matches_pandas(wh, orders, order_days, run_date):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=run_date)
    actual = wh.table("gold.segment_migration")
    assert actual == expected_segment_migration(orders, run_date)
    assert sum(row[3] for row in actual) == len(wh.table("gold.customer_rfm")), "every RFM customer once"
    assert any(row[1] != row[2] for row in actual), "the fixture must move customers between segments"
    assert any(row[1] == NO_PRIOR_ORDER for row in actual), "the fixture must have new customers"


# Hand-checked figures ----------------------------------------------------------------------------


def test_three_orders_give_exact_revenue_and_aov(wh):
    d = dt.date(2025, 3, 28)
    wh.insert(
        "silver.transactions",
        [
            order("T1", "2025-03-28 09:00", "C1", "10.00", channel="store"),
            order("T2", "2025-03-28 10:00", "C2", "20.05", channel="store"),
            order("T3", "2025-03-28 23:59:59", "C1", "5.10", channel="store"),
            order("T4", "2025-03-29 00:00", "C1", "99.99", channel="store"),  # next UTC day: not built
        ],
    )
    wh.build_gold([d], run_date=dt.date(2025, 3, 30))
    # 35.15 / 3 = 11.7166...
    assert wh.table("gold.aov_daily") == [(d, "store", 3, Decimal("35.15"), Decimal("11.72"), 0, 0)]
    assert wh.table("gold.customer_daily") == [
        (d, "C1", 2, Decimal("15.10")),
        (d, "C2", 1, Decimal("20.05")),
    ]


def test_aov_rounds_half_cents_away_from_zero(wh):
    """0.15 / 2 = 0.075 rounds to 0.08 as BigQuery's NUMERIC does (FLOAT64 would give 0.07)."""
    d = dt.date(2025, 3, 28)
    wh.insert(
        "silver.transactions",
        [
            order("T1", "2025-03-28 09:00", "C1", "0.05", agent_id="A1", channel="online"),
            order("T2", "2025-03-28 10:00", "C2", "0.10", agent_id="A1", channel="online"),
        ],
    )
    wh.build_gold([d], run_date=dt.date(2025, 3, 30))
    assert wh.rows("select aov from gold.aov_daily") == [(Decimal("0.08"),)]
    assert wh.rows("select aov from gold.agent_performance") == [(Decimal("0.08"),)]


def test_orders_without_channel_count_as_unknown(wh):
    wh.insert(
        "silver.transactions",
        [order("T1", "2025-03-28 09:00", "C1", "4.00", channel=None)],
    )
    wh.build_gold([dt.date(2025, 3, 28)], run_date=dt.date(2025, 3, 30))
    assert wh.rows("select channel, orders from gold.aov_daily") == [("unknown", 1)]


# Edge cases --------------------------------------------------------------------------------------


def test_day_with_only_refunds(wh):
    d = dt.date(2025, 3, 28)
    wh.insert(
        "silver.transactions",
        [
            order("R1", "2025-03-28 09:00", "C1", "12.50", agent_id="A1", channel="store", status="refunded"),
            order("R2", "2025-03-28 11:00", "C2", "7.25", agent_id="A1", channel="store", status="refunded"),
        ],
    )
    wh.build_gold([d], run_date=dt.date(2025, 3, 30))
    assert wh.table("gold.aov_daily") == [(d, "store", 0, 0, None, Decimal("19.75"), 0)]
    assert wh.table("gold.agent_performance") == [(d, "A1", None, 0, 0, None, 0, 1.0, 1)]
    assert wh.table("gold.customer_daily") == [(d, "C1", 0, 0), (d, "C2", 0, 0)]
    assert wh.table("gold.peak_hours_daily") == []
    assert wh.table("gold.customer_rfm") == [], "no completed order, no RFM row"
    assert wh.table("gold.cohort_retention") == [], "no completed order, no cohort"
    assert wh.table("gold.segment_migration") == []
    assert len(wh.table("gold.peak_hours")) == 168


def test_agent_without_completed_orders(wh):
    d = dt.date(2025, 3, 28)
    at = "2025-03-28 09:00"
    wh.insert(
        "silver.transactions",
        [
            order("T1", at, "C1", "30.00", agent_id="A1"),
            order("T2", at, "C2", "10.00", agent_id="A2"),
            order("T3", at, "C3", "5.00", agent_id="A3", status="cancelled"),
            order("T4", at, "C4", "5.00", agent_id="A4", status="cancelled"),
            order("T5", at, "C5", "50.00", agent_id=None),  # self-service: no agent row
        ],
    )
    wh.insert("silver.agents", [{"agent_id": "A3", "agent_name": "Ada"}])
    wh.build_gold([d], run_date=dt.date(2025, 3, 30))
    assert wh.table("gold.agent_performance", order_by="agent_id") == [
        (d, "A1", None, 1, Decimal("30.00"), Decimal("30.00"), 1, 0.0, 1),
        (d, "A2", None, 1, Decimal("10.00"), Decimal("10.00"), 1, 0.0, 2),
        # no completed or refunded order: no aov, no refund rate; ties at 0 share the rank
        (d, "A3", "Ada", 0, 0, None, 0, None, 3),
        (d, "A4", None, 0, 0, None, 0, None, 3),
    ]


def test_customer_with_one_order(wh):
    wh.insert(
        "silver.transactions",
        [order("T1", "2025-03-20 15:00", "C1", "42.42")],
    )
    wh.build_gold([dt.date(2025, 3, 20)], run_date=dt.date(2025, 3, 25))
    # as_of = least(2025-03-25, 2025-03-20 + 1 day); a single customer lands in the first quintile
    assert wh.table("gold.customer_rfm") == [
        ("C1", dt.date(2025, 3, 21), 1, 1, Decimal("42.42"), 1, 1, 1, "Hibernating")
    ]


def test_rfm_run_date_before_the_day_after_the_latest_order(wh):
    wh.insert(
        "silver.transactions",
        [
            order("T1", "2025-03-20 15:00", "C1", "1.00"),
            order("T2", "2025-03-24 15:00", "C2", "2.00"),
        ],
    )
    wh.build_gold([dt.date(2025, 3, 20), dt.date(2025, 3, 24)], run_date=dt.date(2025, 3, 24))
    assert wh.rows("select customer_id, as_of_date, recency_days from gold.customer_rfm order by 1") == [
        ("C1", dt.date(2025, 3, 24), 4),
        ("C2", dt.date(2025, 3, 24), 0),
    ]


def test_rfm_ties_are_broken_by_customer_id(wh):
    """Ten customers with identical behaviour: scores follow customer_id, on every rebuild."""
    d = dt.date(2025, 3, 20)
    wh.insert(
        "silver.transactions",
        [order(f"T{n}", "2025-03-20 12:00", f"C{n:02d}", "10.00") for n in (7, 3, 10, 1, 5, 9, 2, 8, 4, 6)],
    )
    wh.build_gold([d], run_date=dt.date(2025, 4, 1))
    first = wh.table("gold.customer_rfm")
    scores = [(row[0], row[5], row[6], row[7]) for row in first]
    assert scores == [(f"C{n:02d}", (n + 1) // 2, (n + 1) // 2, (n + 1) // 2) for n in range(1, 11)]
    wh.build_gold([d], run_date=dt.date(2025, 4, 1))
    assert wh.table("gold.customer_rfm") == first


def test_rfm_segments_cover_all_25_cells(wh):
    """25 customers built so that customer i scores r = i // 5 + 1 and f = i % 5 + 1."""
    rows = [
        order(f"T{i:02d}-{k:02d}", f"2025-03-{i + 1:02d} 12:00", f"C{i:02d}", "1.00")
        for i in range(25)
        for k in range((i % 5) * 5 + i // 5 + 1)
    ]
    wh.insert("silver.transactions", rows)
    days = sorted({r["transaction_ts"].date() for r in rows})
    wh.build_gold(days, run_date=dt.date(2025, 4, 30))
    actual = {(row[5], row[6]): row[8] for row in wh.table("gold.customer_rfm")}
    assert set(actual) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert actual == {(r, f): segment(r, f) for r in range(1, 6) for f in range(1, 6)}


@pytest.mark.parametrize(
    ("utc", "order_date", "day_of_week", "hour_of_day"),
    [
        # spring forward, Sunday 2025-03-30: 02:00 local does not exist
        ("2025-03-29 23:30", dt.date(2025, 3, 29), 7, 0),  # 00:30 CET, already Sunday locally
        ("2025-03-30 00:30", dt.date(2025, 3, 30), 7, 1),  # 01:30 CET
        ("2025-03-30 01:30", dt.date(2025, 3, 30), 7, 3),  # 03:30 CEST
        ("2025-03-30 22:30", dt.date(2025, 3, 30), 1, 0),  # 00:30 CEST, Monday locally
        # fall back, Sunday 2025-10-26: 02:00-03:00 local happens twice
        ("2025-10-26 00:30", dt.date(2025, 10, 26), 7, 2),  # 02:30 CEST
        ("2025-10-26 01:30", dt.date(2025, 10, 26), 7, 2),  # 02:30 CET
        ("2025-10-26 02:30", dt.date(2025, 10, 26), 7, 3),  # 03:30 CET
    ],
)
def test_peak_hours_follow_dst_in_the_reporting_time_zone(wh, utc, order_date, day_of_week, hour_of_day):
    wh.insert("silver.transactions", [order("T1", utc, "C1", "3.00")])
    wh.build_gold([order_date], run_date=dt.date(2025, 12, 31), reporting_tz="Europe/Paris")
    assert wh.table("gold.peak_hours_daily") == [(order_date, day_of_week, hour_of_day, 1, Decimal("3.00"))]
    peak_hours = wh.table("gold.peak_hours", order_by="day_of_week, hour_of_day")
    assert len(peak_hours) == 168
    assert [row for row in peak_hours if row[2]] == [(day_of_week, hour_of_day, 1, Decimal("3.00"))]


def test_peak_hours_has_168_zero_rows_without_data(wh):
    wh.build_gold([], run_date=dt.date(2025, 3, 30))
    peak_hours = wh.table("gold.peak_hours", order_by="day_of_week, hour_of_day")
    assert peak_hours == [(w, h, 0, 0) for w in range(1, 8) for h in range(24)]


def test_cohort_retention_by_hand(wh):
    """January: C1 (a gap in February), C2 (one order; another after the run date), C5 (every
    month to February). February: C3 (a refunded January order starts no cohort), none back in
    March. March: C6. C4 has only a cancelled order: no cohort."""
    rows = [
        order("T1", "2025-01-05 10:00", "C1", "10.00"),
        order("T2", "2025-03-10 10:00", "C1", "10.00"),
        order("T3", "2025-01-20 10:00", "C2", "10.00"),
        order("T4", "2025-04-02 10:00", "C2", "10.00"),  # after the first run date
        order("T5", "2025-01-07 10:00", "C5", "10.00"),
        order("T6", "2025-01-25 10:00", "C5", "10.00"),
        order("T7", "2025-02-14 10:00", "C5", "10.00"),
        order("T8", "2025-01-09 10:00", "C3", "10.00", status="refunded"),
        order("T9", "2025-02-03 10:00", "C3", "10.00"),
        order("T10", "2025-02-10 10:00", "C4", "10.00", status="cancelled"),
        order("T11", "2025-03-02 10:00", "C6", "10.00"),
    ]
    wh.insert("silver.transactions", rows)
    days = sorted({r["transaction_ts"].date() for r in rows})
    jan, feb, mar = dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)
    wh.build_gold(days, run_date=dt.date(2025, 3, 31))
    assert approx_rows(wh.table("gold.cohort_retention")) == approx_rows(
        [
            (jan, 0, 3, 3, 1.0),
            (jan, 1, 3, 1, 1 / 3),  # C5; C1 skips February
            (jan, 2, 3, 1, 1 / 3),  # C1 is back
            (feb, 0, 1, 1, 1.0),
            (feb, 1, 1, 0, 0.0),  # zero-filled: nobody of February ordered in March
            (mar, 0, 1, 1, 1.0),
        ]
    )
    # A month later April is observed: C2's second order retains January in month 3.
    wh.build_gold(days, run_date=dt.date(2025, 4, 30))
    assert approx_rows(wh.table("gold.cohort_retention")) == approx_rows(
        [
            (jan, 0, 3, 3, 1.0),
            (jan, 1, 3, 1, 1 / 3),
            (jan, 2, 3, 1, 1 / 3),
            (jan, 3, 3, 1, 1 / 3),  # C2
            (feb, 0, 1, 1, 1.0),
            (feb, 1, 1, 0, 0.0),
            (feb, 2, 1, 0, 0.0),
            (mar, 0, 1, 1, 1.0),
            (mar, 1, 1, 0, 0.0),
        ]
    )


def test_segment_migration_by_hand(wh):
    """Five one-order customers in March, one quintile each: on 2025-03-31 C1 and C2 are
    Hibernating (r = f = 1, 2), C3 Loyal (3, 3), C4 and C5 Champions (4, 4 and 5, 5). C1 orders
    five times on 2025-04-05 (as_of_date 2025-04-06): C1 scores (5, 5), the others shift down one."""
    rows = [
        order(f"T{n}", f"2025-03-{day:02d} 12:00", f"C{n}", "10.00")
        for n, day in ((1, 1), (2, 5), (3, 10), (4, 15), (5, 20))
    ]
    rows += [order(f"T1-{k}", "2025-04-05 12:00", "C1", "10.00") for k in range(5)]
    wh.insert("silver.transactions", rows)
    days = sorted({r["transaction_ts"].date() for r in rows})
    wh.build_gold(days, run_date=dt.date(2025, 4, 10))
    as_of = dt.date(2025, 4, 6)
    assert wh.rows("select customer_id, segment from gold.customer_rfm order by 1") == [
        ("C1", "Champions"),
        ("C2", "Hibernating"),
        ("C3", "Hibernating"),
        ("C4", "Loyal"),
        ("C5", "Champions"),
    ]
    assert wh.table("gold.segment_migration") == [
        (as_of, "Champions", "Champions", 1),  # C5
        (as_of, "Champions", "Loyal", 1),  # C4
        (as_of, "Hibernating", "Champions", 1),  # C1
        (as_of, "Hibernating", "Hibernating", 1),  # C2
        (as_of, "Loyal", "Hibernating", 1),  # C3
    ]


def test_segment_migration_counts_a_customer_new_since_the_month_end(wh):
    """C1 ordered once in March; C2's first order is in April. Two customers: quintiles 1 and 2."""
    rows = [order("T1", "2025-03-20 12:00", "C1", "5.00"), order("T2", "2025-04-05 12:00", "C2", "5.00")]
    wh.insert("silver.transactions", rows)
    wh.build_gold([dt.date(2025, 3, 20), dt.date(2025, 4, 5)], run_date=dt.date(2025, 4, 10))
    as_of = dt.date(2025, 4, 6)
    assert wh.table("gold.segment_migration") == [
        (as_of, "Hibernating", "Hibernating", 1),
        (as_of, NO_PRIOR_ORDER, "Hibernating", 1),
    ]


def test_segment_migration_in_the_first_month_comes_from_no_prior_order_only(wh):
    wh.insert("silver.transactions", [order("T1", "2025-03-20 12:00", "C1", "5.00")])
    wh.build_gold([dt.date(2025, 3, 20)], run_date=dt.date(2025, 3, 25))
    assert wh.table("gold.segment_migration") == [(dt.date(2025, 3, 21), NO_PRIOR_ORDER, "Hibernating", 1)]


def scoring_expressions(relative: str) -> dict[str, str]:
    """The r_score, f_score and segment expressions of a gold file, as BigQuery SQL."""
    tree = sqlglot.parse_one(catalog.read_sql(relative), read="bigquery")
    return {
        alias.alias: alias.this.sql("bigquery")
        for alias in tree.find_all(exp.Alias)
        if alias.alias in ("r_score", "f_score", "segment") and isinstance(alias.this, exp.Window | exp.Case)
    }


def test_segment_migration_scores_and_segments_as_customer_rfm_does():
    """segment_migration.sql restates the scoring of customer_rfm.sql for the previous month end:
    the expressions are the same, so an edit to one without the other fails here."""
    rfm = scoring_expressions("gold/customer_rfm.sql")
    assert set(rfm) == {"r_score", "f_score", "segment"}
    assert scoring_expressions("gold/segment_migration.sql") == rfm


def test_segment_migration_from_segments_are_customer_rfm_as_of_the_month_end(wh, orders, order_days):
    """The same orders scored by both files: customer_rfm built as of 2025-03-31 gives, per segment,
    the customers segment_migration (as of April) counts coming from that segment."""
    wh.insert("silver.transactions", orders)
    month_end = dt.date(2025, 3, 31)
    wh.build_gold(order_days, run_date=month_end)
    assert {r[0] for r in wh.rows("select as_of_date from gold.customer_rfm")} == {month_end}
    rfm_then = dict(wh.rows("select segment, count(*) from gold.customer_rfm group by segment"))
    wh.build_gold(order_days, run_date=AFTER_DATA)
    came_from = dict(
        wh.rows(
            "select from_segment, sum(customers) from gold.segment_migration "
            "where from_segment != ? group by from_segment",
            [NO_PRIOR_ORDER],
        )
    )
    assert came_from == rfm_then
    assert len(rfm_then) >= 5, "the fixture must spread customers over the segments"


# Incremental contract ----------------------------------------------------------------------------


def snapshot(wh) -> dict[str, list[tuple]]:
    return {table: wh.table(table) for table in GOLD_TABLES}


def test_overwriting_the_same_days_twice_gives_the_same_rows(wh, orders, order_days):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=AFTER_DATA, reporting_tz="Europe/Paris")
    first = snapshot(wh)
    wh.build_gold(order_days, run_date=AFTER_DATA, reporting_tz="Europe/Paris")
    assert snapshot(wh) == first
    wh.build_gold(order_days[3:5], run_date=AFTER_DATA, reporting_tz="Europe/Paris")
    assert snapshot(wh) == first


def test_building_day_by_day_equals_building_all_days(wh, orders, order_days):
    wh.insert("silver.transactions", orders)
    for d in order_days:
        wh.build_gold([d], run_date=AFTER_DATA)
    day_by_day = snapshot(wh)
    wh.build_gold(order_days, run_date=AFTER_DATA)
    assert snapshot(wh) == day_by_day


def test_late_data_changes_only_its_day(wh, orders, order_days):
    wh.insert("silver.transactions", orders)
    wh.build_gold(order_days, run_date=AFTER_DATA)
    before = snapshot(wh)
    late_day = order_days[1]
    late = order("LATE1", f"{late_day} 13:00", "C001", "123.45", agent_id="A1", channel="store")
    wh.insert("silver.transactions", [late])
    wh.build_gold([late_day], run_date=AFTER_DATA)
    after = snapshot(wh)
    for table in ("gold.aov_daily", "gold.agent_performance", "gold.customer_daily", "gold.peak_hours_daily"):
        assert [r for r in after[table] if r[0] != late_day] == [r for r in before[table] if r[0] != late_day]
        assert [r for r in after[table] if r[0] == late_day] != [r for r in before[table] if r[0] == late_day]
    assert after["gold.aov_daily"] == expected_aov_daily([*orders, late], order_days)
    assert after["gold.customer_rfm"] == expected_customer_rfm([*orders, late], AFTER_DATA)
    assert approx_rows(after["gold.cohort_retention"]) == approx_rows(
        expected_cohort_retention([*orders, late], AFTER_DATA)
    )
    assert after["gold.segment_migration"] == expected_segment_migration([*orders, late], AFTER_DATA)

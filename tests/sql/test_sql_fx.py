"""The conversion into the reporting currency (`silver/transactions_convert.sql`), the check on
orders without a rate (`checks/fx_rate_missing.sql`) and the days a new rate touches
(`silver/affected_days.sql`), on DuckDB, against a conversion recomputed with pandas."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from pipeline import plan

UTC = dt.UTC
DAYS = [dt.date(2025, 3, 3) + dt.timedelta(days=n) for n in range(14)]  # Monday 3 .. Sunday 16 March
# GBP on the weekdays of the first week only; EUR on the 3rd only.
RATES = [
    {"date": d, "currency": "GBP", "rate": Decimal("1.25") + Decimal(n) / 100} for n, d in enumerate(DAYS[:5])
] + [{"date": DAYS[0], "currency": "EUR", "rate": Decimal("1.083333333")}]


def orders() -> list[dict]:
    rows = []
    for n, day in enumerate(DAYS):
        for k, currency in enumerate(("USD", "GBP", "EUR")):
            rows.append(
                {
                    "transaction_id": f"T{n:02d}{k}",
                    "transaction_ts": dt.datetime.combine(day, dt.time(10 + k), UTC),
                    "customer_id": "C1",
                    "amount": Decimal(f"{10 + n}.{k}5"),
                    "currency": currency,
                }
            )
    return rows


def expected_amounts(rows: list[dict], gap: int) -> dict[str, Decimal | None]:
    """amount x the latest rate of the currency on the order's day or up to `gap` days before."""
    rates = pd.DataFrame(RATES)
    out: dict[str, Decimal | None] = {}
    for row in rows:
        day = row["transaction_ts"].date()
        if row["currency"] == "USD":
            out[row["transaction_id"]] = row["amount"]
            continue
        usable = rates[
            (rates.currency == row["currency"])
            & (rates.date <= day)
            & (rates.date >= day - dt.timedelta(days=gap))
        ]
        if usable.empty:
            out[row["transaction_id"]] = None
        else:
            rate = usable.sort_values("date").rate.iloc[-1]
            out[row["transaction_id"]] = (row["amount"] * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return out


def converted(wh) -> dict[str, Decimal | None]:
    return dict(wh.rows("select transaction_id, amount_reporting from silver.transactions"))


def test_amounts_convert_at_the_days_rate_or_the_latest_earlier_one_within_the_gap(wh):
    wh.insert("silver.fx_rates", RATES)
    rows = orders()
    wh.insert("silver.transactions", rows)  # converted as the load does (conftest `convert`)
    assert converted(wh) == expected_amounts(rows, gap=7)
    # The weekend of the first week takes Friday's GBP rate; the next Friday is 7 days on: still it.
    assert converted(wh)["T061"] == (Decimal("16.15") * Decimal("1.29")).quantize(Decimal("0.01"))
    assert converted(wh)["T111"] is not None
    assert converted(wh)["T121"] is None
    # A narrower gap leaves more orders without a rate; USD never needs one.
    wh.convert(fx_max_gap_days=1)
    assert converted(wh) == expected_amounts(rows, gap=1)
    assert all(v is not None for k, v in converted(wh).items() if k.endswith("0"))


def test_a_feed_in_the_reporting_currency_needs_no_rates(wh):
    rows = [r for r in orders() if r["currency"] == "USD"]
    wh.insert("silver.transactions", rows)
    assert converted(wh) == {r["transaction_id"]: r["amount"] for r in rows}
    params = {"run_id": "r", "days": DAYS, **plan.day_bounds(DAYS), **plan.currency_parameters()}
    (result,) = wh.run("checks/fx_rate_missing.sql", params)
    assert result["failures"] == 0


def test_another_reporting_currency_converts_from_it(wh):
    wh.insert("silver.fx_rates", [{"date": DAYS[0], "currency": "USD", "rate": Decimal("0.8")}])
    wh.insert("silver.transactions", [r for r in orders()[:3] if r["currency"] != "GBP"])
    wh.convert(reporting_currency="EUR")
    assert converted(wh) == {"T000": Decimal("8.04"), "T002": Decimal("10.25")}  # 10.05 x 0.8; EUR as is


def test_the_check_names_each_currency_and_the_days_without_a_rate(wh):
    wh.insert("silver.fx_rates", RATES)
    wh.insert("silver.transactions", orders())
    params = {"run_id": "r", "days": DAYS, **plan.day_bounds(DAYS), **plan.currency_parameters()}
    (result,) = wh.run("checks/fx_rate_missing.sql", params)
    # GBP: 15th and 16th are more than 7 days after Friday 7th; EUR: every day after the 10th.
    eur_days = ", ".join(d.isoformat() for d in DAYS[8:])
    assert result["failures"] == 2 + 6
    assert result["detail"] == (
        "8 orders with no rate into USD on their day or up to 7 days before: "
        f"EUR (6 orders) on {eur_days}; GBP (2 orders) on 2025-03-15, 2025-03-16; "
        "land their rates under fx_rates/, or, when the orders are all in one currency, make it the "
        "reporting one (CDI_REPORTING_CURRENCY; reportingCurrency under cdi:pipeline in the stack)"
    )
    only_first_week = {**params, "days": DAYS[:7], **plan.day_bounds(DAYS[:7])}
    (result,) = wh.run("checks/fx_rate_missing.sql", only_first_week)
    assert result["failures"] == 0


def test_a_new_or_changed_rate_touches_the_days_it_can_convert(wh):
    wh.insert("silver.fx_rates", RATES)
    wh.insert("silver.transactions", orders())
    wh.stage("transactions", [])

    def affected(staged: list[dict]) -> list[dt.date]:
        wh.stage("fx_rates", staged)
        rows = wh.run("silver/affected_days.sql", plan.currency_parameters(fx_max_gap_days=3))
        return sorted(r["day"] for r in rows)

    assert affected(RATES) == [], "rates held already change nothing"
    late = {"date": DAYS[9], "currency": "EUR", "rate": Decimal("1.09")}
    assert affected([late]) == DAYS[9:13]
    corrected = {**RATES[0], "rate": Decimal("1.2")}
    assert affected([corrected]) == DAYS[0:4]

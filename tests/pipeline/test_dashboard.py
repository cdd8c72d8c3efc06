"""The dashboard: one self-contained interactive page over a small warehouse, checked in the data it
embeds and in headless Chromium as a person uses it (the date filter, the channel selection)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from browser import chrome, console_errors

from pipeline import dashboard, warehouse
from sql import catalog

RUN_ID = "manual__2025-01-05T00:00:00+00:00"
RUN_DATE = date(2025, 1, 5)

AOV_DAILY = [
    # order_date, channel, orders, revenue, aov, refunded_amount, cancelled_amount; no orders on 3 Jan.
    (date(2025, 1, 1), "online", 10, "1234.50", "123.45", "20.00", "0.00"),
    (date(2025, 1, 1), "store", 4, "100.00", "25.00", "0.00", "15.00"),
    (date(2025, 1, 2), "online", 5, "500.25", "100.05", "0.00", "0.00"),
    (date(2025, 1, 2), "kiosk", 1, "9.99", "9.99", "0.00", "0.00"),
    (date(2025, 1, 4), "online", 3, "300.00", "100.00", "0.00", "0.00"),
    (date(2025, 1, 4), "store", 2, "50.00", "25.00", "5.00", "0.00"),
]
CUSTOMER_RFM = [
    # customer_id, as_of_date, recency_days, frequency, monetary, r, f, m, segment
    ("C1", date(2025, 1, 5), 1, 6, "900.00", 5, 5, 5, "Champions"),
    ("C2", date(2025, 1, 5), 1, 5, "700.00", 5, 4, 4, "Champions"),
    ("C3", date(2025, 1, 5), 2, 2, "150.00", 3, 3, 3, "Loyal"),
    ("C4", date(2025, 1, 5), 3, 1, "60.00", 2, 2, 2, "Hibernating"),
    ("C5", date(2025, 1, 5), 4, 1, "40.00", 1, 1, 1, "Hibernating"),
    ("C9", date(2025, 1, 4), 9, 1, "10.00", 1, 1, 1, "At risk"),  # an older scoring, not shown
]
AGENT_PERFORMANCE = [
    # order_date, agent_id, agent_name, orders, revenue, aov, distinct_customers, refund_rate, rank_in_day
    (date(2025, 1, 1), "A001", "Zoé Durand", 3, "300.00", "100.00", 3, 0.0, 1),
    (date(2025, 1, 1), "A002", None, 1, "50.00", "50.00", 1, 0.5, 2),
    (date(2025, 1, 2), "A001", "Zoé Dupont", 2, "80.00", "40.00", 2, 0.0, 2),
    (date(2025, 1, 4), "A003", "<Bram> Visser", 2, "95.50", "47.75", 2, None, 1),
]
PEAK_HOURS_DAILY = [
    # order_date, day_of_week, hour_of_day, orders, revenue
    (date(2025, 1, 1), 3, 12, 14, "1334.50"),
    (date(2025, 1, 2), 4, 9, 6, "510.24"),
    (date(2025, 1, 4), 6, 19, 5, "350.00"),
]
COHORTS = [
    # cohort_month, months_since_first, customers, retained_customers, retention_rate
    (date(2024, 12, 1), 0, 3, 3, 1.0),
    (date(2024, 12, 1), 1, 3, 1, 1 / 3),
    (date(2025, 1, 1), 0, 2, 2, 1.0),
]
MOVES = [
    # as_of_date, from_segment, to_segment, customers
    (date(2025, 1, 5), "Loyal", "Champions", 2),
    (date(2025, 1, 5), "Loyal", "Loyal", 1),
    (date(2025, 1, 5), "No prior order", "Hibernating", 2),
    (date(2025, 1, 4), "Loyal", "At risk", 9),  # an earlier as_of_date, not shown
]
CHECKS = [
    (RUN_ID, "silver_transactions_key_unique", "error", True, 0, None),
    (RUN_ID, "volume_anomaly", "warn", False, 1, "the day's volume is low"),
    ("scheduled__earlier", "orphan_customers", "error", False, 3, None),  # another run's
]


def _transaction(n: int, currency: str, converted: bool) -> tuple[Any, ...]:
    """A completed order of 1.00 in `currency`; `converted`: it has an amount in the reporting currency."""
    ts = datetime(2025, 1, 2, 10, n, tzinfo=UTC)
    return (
        f"T{n}",
        ts,
        "C1",
        1,
        Decimal("1.00"),
        currency,
        Decimal("1.00") if converted else None,
        "completed",
        "f",
        n,
        "r",
    )


def build_warehouse(
    path: Path, *, orders: tuple[tuple[str, bool], ...] = (("USD", True), ("USD", True))
) -> Path:
    with warehouse.connect(path) as con:
        con.executemany("INSERT INTO gold.aov_daily VALUES (?, ?, ?, ?, ?, ?, ?)", AOV_DAILY)
        con.executemany("INSERT INTO gold.customer_rfm VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", CUSTOMER_RFM)
        con.executemany(
            "INSERT INTO gold.agent_performance VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", AGENT_PERFORMANCE
        )
        con.executemany("INSERT INTO gold.peak_hours_daily VALUES (?, ?, ?, ?, ?)", PEAK_HOURS_DAILY)
        con.executemany("INSERT INTO gold.cohort_retention VALUES (?, ?, ?, ?, ?)", COHORTS)
        con.executemany("INSERT INTO gold.segment_migration VALUES (?, ?, ?, ?)", MOVES)
        con.executemany("INSERT INTO audit.dq_results VALUES (?, ?, ?, ?, ?, ?)", CHECKS)
        con.executemany(
            "INSERT INTO audit.quarantine (run_id, entity, source_file, record_number, reason) "
            "VALUES (?, 'transactions', 'pos.csv', ?, ?)",
            [(RUN_ID, 4, "BAD_AMOUNT"), (RUN_ID, 9, "BAD_AMOUNT"), ("scheduled__earlier", 2, "BAD_CURRENCY")],
        )
        con.executemany(
            "INSERT INTO silver.transactions (transaction_id, transaction_ts, customer_id, quantity, amount, "
            "currency, amount_reporting, status, source_file, record_number, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_transaction(n, c, converted) for n, (c, converted) in enumerate(orders)],
        )
    return path


def render(tmp_path: Path, **kwargs: Any) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = build_warehouse(tmp_path / "w.duckdb", **kwargs)
    return dashboard.render(
        db, tmp_path / "dashboard", run_id=RUN_ID, run_date=RUN_DATE, reporting_tz="Europe/Berlin"
    )


def embedded(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="cdi-data">(.*?)</script>', page, re.S)
    assert match, "no data in the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


# --- the file --------------------------------------------------------------------------------


def test_the_page_is_one_file_that_needs_no_network(tmp_path: Path) -> None:
    page = render(tmp_path)
    assert [p.name for p in page.parent.iterdir()] == ["index.html"]  # no temporary file left
    text = page.read_text(encoding="utf-8")
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', text), "fetches from the network"
    assert "plotly.js v" in text  # the chart library, inlined
    assert 'href="health.html"' in text
    assert 'href="docs/index.html"' in text


def test_the_embedded_rows_are_the_gold_tables(tmp_path: Path) -> None:
    data = embedded(render(tmp_path).read_text(encoding="utf-8"))
    channels = data["channels"]
    assert sum(channels["revenue_cents"]) == sum(cents(r[3]) for r in AOV_DAILY)
    assert sum(channels["refunded_cents"]) == sum(cents(r[5]) for r in AOV_DAILY)
    assert sorted(
        zip(channels["order_date"], channels["channel"], channels["orders"], strict=True)
    ) == sorted((r[0].isoformat(), r[1], r[2]) for r in AOV_DAILY)
    agents = data["agents"]
    # Each agent carries its latest known name; an agent never named has none.
    names = dict(zip(agents["agent_id"], agents["agent_name"], strict=True))
    assert names == {"A001": "Zoé Dupont", "A002": None, "A003": "<Bram> Visser"}
    assert sum(data["hours"]["orders"]) == sum(r[3] for r in PEAK_HOURS_DAILY)
    # RFM: only the latest scoring day, by size.
    segments = {s["segment"]: s for s in data["segments"]}
    assert list(segments) == ["Champions", "Hibernating", "Loyal"]
    assert segments["Hibernating"]["customers"] == 2
    assert segments["Hibernating"]["revenue_cents"] == 10_000
    # This run's checks only, the failed warning first.
    assert [c["check_name"] for c in data["checks"]] == ["volume_anomaly", "silver_transactions_key_unique"]
    assert data["reporting_tz"] == "Europe/Berlin"


def test_the_segment_definitions_are_the_rules_the_sql_applies() -> None:
    sql = catalog.read_sql(dashboard.RFM_SQL)
    applied = [
        (segment, " ".join(rule.replace("r_score", "r").replace("f_score", "f").split()))
        for rule, segment in re.findall(r"when (r_score .*?) then '([^']+)'", sql)
    ]
    assert len(applied) == 7
    assert list(dashboard.segment_rules()) == applied


def test_a_rerun_writes_the_same_bytes_and_leaves_the_warehouse_untouched(tmp_path: Path) -> None:
    page = render(tmp_path)
    db = tmp_path / "w.duckdb"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    again = dashboard.render(
        db, tmp_path / "again", run_id=RUN_ID, run_date=RUN_DATE, reporting_tz="Europe/Berlin"
    )
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert again.read_bytes() == page.read_bytes()


def test_a_missing_warehouse_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no warehouse"):
        dashboard.render(tmp_path / "absent.duckdb", tmp_path / "out", run_id=RUN_ID, run_date=RUN_DATE)
    assert not (tmp_path / "out").exists()


def test_the_run_id_is_escaped(tmp_path: Path) -> None:
    db = build_warehouse(tmp_path / "w.duckdb")
    page = dashboard.render(db, tmp_path / "out", run_id="<b>odd & run</b>", run_date=RUN_DATE)
    text = page.read_text(encoding="utf-8")
    assert "&lt;b&gt;odd &amp; run&lt;/b&gt;" in text
    assert "<b>odd" not in text


def test_the_page_says_which_orders_were_converted_and_which_could_not_be(tmp_path: Path) -> None:
    orders = (("USD", True), ("GBP", True), ("GBP", True), ("GBP", False), ("EUR", False))
    text = render(tmp_path, orders=orders).read_text(encoding="utf-8")
    converted = re.search(r'<p class="note" id="currency-converted">(.*?)</p>', text, re.S)
    assert converted, "no note of the converted orders"
    assert "include 2 in GBP, converted" in converted.group(1)
    warning = re.search(r'<p class="warn" id="currency-warning">(.*?)</p>', text, re.S)
    assert warning, "no warning of the orders without a rate"
    assert warning.group(1).startswith("1 in GBP, 1 in EUR completed orders have no rate into USD")
    plain = render(tmp_path / "usd").read_text(encoding="utf-8")
    assert "currency-warning" not in plain
    assert "currency-converted" not in plain


# --- in the browser --------------------------------------------------------------------------

CHARTS = (
    "chart-revenue",
    "chart-aov",
    "chart-channel-aov",
    "chart-hours",
    "chart-agents",
    "chart-segments",
    "chart-migration",
    "chart-cohorts",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def points(browser: Any, chart: str) -> int:
    """How many values the chart draws (bars, line points, heatmap cells with orders)."""
    return int(
        browser.execute_script(
            "const d = document.getElementById(arguments[0]).data || [];"
            "return d.reduce((n, t) => n + (t.z ? t.z.flat().filter(v => v > 0).length"
            " : (t.x || []).filter(v => v !== null).length), 0);",
            chart,
        )
    )


def tiles(browser: Any) -> dict[str, tuple[str, str]]:
    found = {}
    for key in ("revenue", "orders", "aov", "refunded", "cancelled", "agents"):
        tile = browser.find_element("id", f"kpi-{key}")
        found[key] = (
            tile.find_element("class name", "value").text,
            tile.find_element("class name", "change").text,
        )
    return found


def choose(browser: Any, first: str, last: str) -> None:
    browser.execute_script(
        "for (const [id, v] of [['date-from', arguments[0]], ['date-to', arguments[1]]]) {"
        " const el = document.getElementById(id); el.value = v;"
        " el.dispatchEvent(new Event('change', {bubbles: true})); }",
        first,
        last,
    )


def totals(first: date, last: date, channels: set[str] | None = None) -> tuple[Decimal, int]:
    mine = [r for r in AOV_DAILY if first <= r[0] <= last and (channels is None or r[1] in channels)]
    return sum((Decimal(r[3]) for r in mine), Decimal(0)), sum(r[2] for r in mine)


def test_a_person_filters_dates_and_channels_and_every_tile_follows(tmp_path: Path, browser: Any) -> None:
    browser.get(render(tmp_path).as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "true"
    assert console_errors(browser) == []
    for chart in CHARTS:
        assert points(browser, chart) > 0, f"{chart} draws nothing"

    revenue, orders = totals(date(2025, 1, 1), date(2025, 1, 4))
    shown = tiles(browser)
    assert shown["revenue"][0] == f"{revenue:,.2f}"
    assert shown["orders"][0] == f"{orders:,}"
    assert shown["aov"][0] == f"{revenue / orders:,.2f}"
    assert shown["agents"][0] == "3"
    assert shown["revenue"][1] == "no previous 4 days in the data"
    # The time axis is real: the AOV line has a point per calendar day, none on 3 January.
    line = browser.execute_script("return document.getElementById('chart-aov').data[0]")
    assert line["x"] == ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
    assert line["y"][2] is None
    assert None not in line["y"][:2] + line["y"][3:]

    # The last two days against the two before them.
    choose(browser, "2025-01-03", "2025-01-04")
    now, now_orders = totals(date(2025, 1, 3), date(2025, 1, 4))
    before, _ = totals(date(2025, 1, 1), date(2025, 1, 2))
    shown = tiles(browser)
    assert shown["revenue"][0] == f"{now:,.2f}"
    assert shown["orders"][0] == f"{now_orders:,}"
    change = (now - before) / before * 100
    assert shown["revenue"][1] == f"{change:.1f}% vs 2025-01-01 to 2025-01-02"
    assert "down" in browser.find_element("css selector", "#kpi-revenue .change").get_attribute("class")
    assert shown["agents"][0] == "1"
    assert "A003" in browser.find_element("id", "agents-table").text
    assert "A001" not in browser.find_element("id", "agents-table").text
    assert points(browser, "chart-hours") == 1  # one hour with orders on 4 January

    # Unticking a channel takes it out of the tiles and the charts.
    browser.execute_script(
        "const box = [...document.querySelectorAll('#channels input')].find(i => i.value === 'store');"
        "box.checked = false; box.dispatchEvent(new Event('change', {bubbles: true}));"
    )
    online, _ = totals(date(2025, 1, 3), date(2025, 1, 4), {"online", "kiosk"})
    assert tiles(browser)["revenue"][0] == f"{online:,.2f}"
    names = browser.execute_script("return document.getElementById('chart-revenue').data.map(t => t.name)")
    assert names == ["online"]
    assert console_errors(browser) == []


def test_the_page_names_the_time_zone_the_currency_and_the_run_status(tmp_path: Path, browser: Any) -> None:
    browser.get(render(tmp_path).as_uri())
    heading = browser.find_element("css selector", "#peak-hours h2").text
    assert "Europe/Berlin" in heading
    assert "revenue (USD)" in browser.find_element("id", "kpi-revenue").text
    status = browser.find_element("id", "status")
    assert "warning" in status.get_attribute("class").split()
    assert "volume_anomaly" in status.text
    assert "orphan_customers" not in status.text  # another run's failure
    assert "This run quarantined 2 rows (BAD_AMOUNT 2)." in status.text
    assert "Latest transaction: 2025-01-02 10:01:00" in status.text
    # The segment definitions, with the number of customers in each.
    rows = browser.find_element("id", "segment-table").text.splitlines()
    assert rows[1].startswith("Champions r >= 4 and f >= 4 2 40.0% 1,600.00")
    assert any(r.startswith("At risk") and " 0" in r for r in rows)


def test_segment_moves_and_cohorts_are_drawn_as_the_gold_tables_hold_them(
    tmp_path: Path, browser: Any
) -> None:
    browser.get(render(tmp_path).as_uri())
    migration = browser.execute_script("return document.getElementById('chart-migration').data[0]")
    # Rows in the segments' order (No prior order first), only the latest as_of_date.
    assert migration["y"] == ["No prior order", "Loyal"]
    assert migration["x"] == ["Champions", "Loyal", "Hibernating"]
    assert migration["z"] == [[0, 0, 2], [2, 1, 0]]
    cohorts = browser.execute_script("return document.getElementById('chart-cohorts').data[0]")
    assert cohorts["y"] == ["2024-12", "2025-01"]
    assert cohorts["z"] == [[1.0, pytest.approx(1 / 3)], [1.0, None]]
    assert cohorts["text"][0][1] == "1 of 3"
    assert console_errors(browser) == []


def test_an_empty_warehouse_shows_empty_charts_without_errors(tmp_path: Path, browser: Any) -> None:
    db = tmp_path / "w.duckdb"
    warehouse.connect(db).close()  # every table, no rows
    page = dashboard.render(db, tmp_path / "out", run_id=RUN_ID, run_date=RUN_DATE)
    browser.get(page.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "true"
    assert console_errors(browser) == []
    assert "No rows in gold.aov_daily" in browser.find_element("id", "chart-revenue").text
    assert "No rows in gold.cohort_retention" in browser.find_element("id", "chart-cohorts").text
    assert tiles(browser)["revenue"][0] == "0.00"
    assert browser.find_element("id", "date-from").get_attribute("disabled") == "true"
    assert "no checks recorded" in browser.find_element("id", "status").text

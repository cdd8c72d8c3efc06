"""A week of daily scheduled runs on the local target, through the real CLI (`cdi run` in its own
process per day), with files on some days only:

| run | run after (UTC) | landing                                                              |
|-----|-----------------|----------------------------------------------------------------------|
| 0   | 2025-01-02      | nothing yet (the pipeline is deployed before the first file)         |
| 1   | 2025-01-03      | reference data and the 2025-01-02 file                               |
| 2   | 2025-01-04      | the 2025-01-03 file                                                  |
| 3   | 2025-01-05      | nothing (Saturday)                                                   |
| 4   | 2025-01-06      | nothing (Sunday): the latest order is 3 days old, freshness warns    |
| 5   | 2025-01-07      | the 2025-01-06 file, also re-sending a corrected order of 2025-01-03 |
| -   | 2025-01-08      | no run: the machine was off that night                               |
| 7   | 2025-01-09      | the 2025-01-08 file                                                  |

A run with nothing new succeeds (exit 0), says since when nothing is new, rebuilds nothing (gold is
unchanged row for row) and still evaluates the checks (freshness recorded in audit.dq_results). At
the end gold equals an independent pandas computation from the raw files, and every raw line is in
silver or in quarantine. A missed night changes nothing: the next run is measured against the run
before it, whichever day that was.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from pipeline import plan, sample_data
from pipeline import report as reporting

from .runner import cdi_run

pytestmark = pytest.mark.e2e

START = date(2025, 1, 2)  # a Thursday: runs 3 and 4 fall on the weekend
SPEC = sample_data.SampleSpec(
    seed=11,
    start=START,
    days=7,
    customers=100,
    agents=6,
    orders_per_day=80,
    dirty_share=0.08,
    second_currency=None,  # USD only: the week has no rates file (tests/e2e/test_currency_conversion.py converts)
)
FILE_DAYS = {1: 0, 2: 1, 5: 4, 7: 6}
"""Run number -> the sample day whose file lands before it (the file of the day the run closes)."""
RUNS = (0, 1, 2, 3, 4, 5, 7)
"""Run 6 never happens (a missed night with nothing new): run 7 follows run 5 as the next run."""
NOTHING_NEW = (3, 4)
FRESHNESS_WARNS = (0, 4)
"""Runs whose latest order is more than 2 days before the run date (none at all on run 0)."""
CORRECTED_RUN, CORRECTED_DAY = 5, START + timedelta(days=1)
CORRECTED_AMOUNT = Decimal("987.65")


def run_after(run: int) -> datetime:
    """Run n closes the data interval of day START + n - 1: it is due at midnight after it."""
    return datetime.combine(START + timedelta(days=run), datetime.min.time(), UTC)


def previous(run: int) -> int:
    return max(r for r in RUNS if r < run)


def run_id(run: int) -> str:
    return f"manual__{run_after(run).isoformat()}"


@dataclass
class DailyRun:
    run: int
    result: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    gold: dict[str, list[tuple[Any, ...]]]
    """Every gold table after the run (by step name), in key order."""
    checks: dict[str, tuple[bool, str]]
    """audit.dq_results of the run: check name -> (passed, detail)."""
    seconds: float

    def log(self) -> str:
        return self.result.stdout[-3000:] + self.result.stderr[-5000:]


@dataclass
class Week:
    landing: Path
    output: Path
    runs: dict[int, DailyRun]
    corrected_id: str
    """The transaction id of the 2025-01-03 order re-sent with a corrected amount in run 5's file."""


def _gold(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {s.name: con.sql(f"select * from {s.table} order by all").fetchall() for s in plan.GOLD_STEPS}


def _append_correction(day_file: Path, corrected_of: Path) -> str:
    """Re-send, at the end of `day_file` (a CSV), a valid completed order of `corrected_of` with a
    corrected amount (amount only: quantity and unit price dropped). Returns its transaction id."""
    raw = _raw_rows(corrected_of)
    records = [
        r
        for r in raw
        if (c := _clean(r, run_after(CORRECTED_RUN))) is not None and c["status"] == "completed"
    ]
    ids = Counter(str(r.get("transaction_id")) for r in raw)
    original = next(r for r in records if ids[str(r["transaction_id"])] == 1)
    corrected = {**original, "amount": str(CORRECTED_AMOUNT), "quantity": None, "unit_price": None}
    with day_file.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        ["" if corrected.get(ALIASES.get(c, c)) is None else corrected.get(ALIASES.get(c, c)) for c in header]
    )
    with day_file.open("a", encoding="utf-8", newline="") as f:
        f.write(buffer.getvalue())
    return str(original["transaction_id"])


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    landing = tmp_path_factory.mktemp("landing")
    output = tmp_path_factory.mktemp("out")
    (landing / "transactions").mkdir()
    runs: dict[int, DailyRun] = {}
    corrected_id = ""
    for run in RUNS:
        if run == 1:
            sample_data.write_reference_data(landing, SPEC)
        if run in FILE_DAYS:
            (written,) = sample_data.write_transaction_days(landing, SPEC, [FILE_DAYS[run]])
            if run == CORRECTED_RUN:
                (day2,) = (landing / "transactions").glob(f"transactions_{CORRECTED_DAY.isoformat()}.*")
                corrected_id = _append_correction(written, day2)
        started = time.monotonic()
        result = cdi_run(landing, output, run_after(run).isoformat())
        seconds = round(time.monotonic() - started, 1)
        report = json.loads((output / "report.json").read_text()) if (output / "report.json").exists() else {}
        with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
            gold = _gold(con)
            checks = {
                name: (passed, detail)
                for name, passed, detail in con.execute(
                    "select check_name, passed, detail from audit.dq_results where run_id = ?", [run_id(run)]
                ).fetchall()
            }
        runs[run] = DailyRun(run, result, report, gold, checks, seconds)
    return Week(landing, output, runs, corrected_id)


@pytest.mark.parametrize("run", RUNS)
def test_every_run_succeeds_and_reports_itself(week: Week, run: int) -> None:
    daily = week.runs[run]
    assert daily.result.returncode == 0, daily.log()
    assert daily.report["run_id"] == run_id(run), daily.log()
    # report.json is written by the report task itself, which need not wait for publish (a leaf of
    # its own, so that the run's state follows it): both may still be under way then.
    states = daily.report["task_states"]
    assert {t: s for t, s in states.items() if s != "success" and t not in ("report", "publish")} == {}, (
        states
    )
    assert states["report"] == "running"
    assert f"run {run_id(run)}: {daily.report['outcome'].upper()}\n" in daily.result.stdout, daily.log()


def test_the_first_run_before_any_file_says_so(week: Week) -> None:
    first = week.runs[0]
    assert first.report["totals"]["files"] == 0
    assert first.report["nothing_new"] == "nothing new: no file has landed yet"
    assert "\n  nothing new: no file has landed yet\n" in first.result.stdout
    assert first.checks["freshness"][0] is False
    assert first.report["outcome"] == "warning"  # freshness, the only check that failed
    assert [d["check_name"] for d in first.report["data_quality"] if not d["passed"]] == ["freshness"]
    assert all(rows == [] for rows in first.gold.values())


def test_each_summary_carries_the_checks_and_the_dashboard(week: Week) -> None:
    """What the run summary e-mail shows besides the counts (pipeline/notify.py), in the `report`
    task's result: every check, and the dashboard."""
    for run, daily in week.runs.items():
        report, summary = daily.report, daily.report["summary"]
        assert summary["data_quality"] == reporting.dq_status(report["data_quality"]), run
        dashboard = Path(report["outputs"]["dashboard"]).resolve().as_uri()
        assert summary["links"] == {"Dashboard": dashboard}, run


@pytest.mark.parametrize("run", NOTHING_NEW)
def test_a_day_without_a_file_succeeds_and_rebuilds_nothing(week: Week, run: int) -> None:
    daily, before = week.runs[run], week.runs[previous(run)]
    assert daily.result.returncode == 0, daily.log()
    report = daily.report
    assert report["totals"]["files"] == 0
    assert report["affected_days"] == []
    assert report["totals"]["rows_read"] == 0
    # Since when: the run before, and the last run that brought a file when that was another one.
    last_file_run = max(r for r in FILE_DAYS if r < run)
    expected = f"nothing new since the previous run {run_id(previous(run))}"
    if last_file_run != previous(run):
        expected += f" (the last file came in run {run_id(last_file_run)})"
    assert report["nothing_new"] == expected
    assert report["summary"]["nothing_new"] == expected
    assert f"\n  {expected}\n" in daily.result.stdout
    # Nothing rebuilt: gold as the previous run left it, row for row.
    assert daily.gold == before.gold
    assert any(daily.gold.values())
    # The checks still ran for this run; freshness warns once two days passed without an order.
    assert "freshness" in daily.checks
    passed, detail = daily.checks["freshness"]
    failed = sorted(d["check_name"] for d in report["data_quality"] if not d["passed"])
    if run in FRESHNESS_WARNS:
        assert not passed, detail
        assert detail.startswith("no transaction on or after"), detail
        assert failed == ["freshness"]
        assert report["outcome"] == "warning"
        assert "check freshness (warn): no transaction on or after" in daily.result.stdout
    else:
        assert passed, detail
        assert failed == []
        assert report["outcome"] == "success"


@pytest.mark.parametrize("run", sorted(FILE_DAYS))
def test_a_day_with_a_file_rebuilds_its_days(week: Week, run: int) -> None:
    daily = week.runs[run]
    report = daily.report
    assert report["nothing_new"] is None
    assert "nothing new" not in daily.result.stdout
    expected_files = 3 if run == 1 else 1  # run 1 also claims the reference data
    assert report["totals"]["files"] == expected_files
    day = START + timedelta(days=FILE_DAYS[run])
    expected_days = [CORRECTED_DAY, day] if run == CORRECTED_RUN else [day]
    assert report["affected_days"] == [d.isoformat() for d in expected_days]
    assert daily.checks["freshness"][0], daily.checks["freshness"]
    assert report["totals"]["duplicates_replaced_in_silver"] == (1 if run == CORRECTED_RUN else 0)
    # Days the run did not touch kept their gold rows.
    before = week.runs[previous(run)].gold["aov_daily"]
    assert [r for r in daily.gold["aov_daily"] if r[0] not in expected_days] == [
        r for r in before if r[0] not in expected_days
    ]


def test_the_late_correction_replaced_the_order(week: Week) -> None:
    with duckdb.connect(str(week.output / "warehouse.duckdb"), read_only=True) as con:
        silver = con.execute(
            "select amount, source_file, run_id from silver.transactions where transaction_id = ?",
            [week.corrected_id],
        ).fetchall()
        displaced = con.execute(
            "select reason, source_file, run_id from audit.quarantine where contains(raw_record, ?)",
            [week.corrected_id],
        ).fetchall()
    day5 = str(week.landing / "transactions" / f"transactions_{START + timedelta(days=4)}.csv")
    day2 = next(str(p) for p in (week.landing / "transactions").glob(f"transactions_{CORRECTED_DAY}.*"))
    assert silver == [(CORRECTED_AMOUNT, day5, run_id(CORRECTED_RUN))]
    assert displaced == [("DUPLICATE_KEY", day2, run_id(CORRECTED_RUN))]


# --- an independent computation from the raw files ---------------------------------------------

ALIASES = {"order_id": "transaction_id", "total": "amount"}
"""The documented aliases the sample's drift file uses (README, the raw data contract)."""
STATUSES = {"": "completed", "completed": "completed", "paid": "completed", "refunded": "refunded"}
STATUSES |= {"cancelled": "cancelled", "canceled": "cancelled"}
BAD_CURRENCIES = {"US$", "DOLLARS", "ZZZ"}


def _raw_rows(path: Path) -> list[dict[str, Any]]:
    """The records of one raw transactions file, column names mapped through the aliases."""
    text = path.read_text(encoding="utf-8")
    if path.name.endswith(".jsonl"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        assert path.name.endswith(".csv"), path
        rows = list(csv.DictReader(io.StringIO(text)))
    return [{ALIASES.get(k, k): v for k, v in row.items()} for row in rows]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _clean(row: dict[str, Any], logical_end: datetime) -> dict[str, Any] | None:
    """The row as silver holds it, or None when the contract rejects it (README: the raw data contract)."""
    transaction_id, customer_id = _text(row.get("transaction_id")), _text(row.get("customer_id"))
    if not transaction_id or not customer_id:
        return None
    try:
        ts = datetime.fromisoformat(_text(row.get("transaction_ts")))
    except ValueError:
        return None
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    status = STATUSES.get(_text(row.get("status")).lower())
    currency = _text(row.get("currency")).upper() or "USD"
    if ts > logical_end or status is None or currency != "USD":
        assert currency == "USD" or currency in BAD_CURRENCIES, currency
        return None
    quantity, unit_price = _text(row.get("quantity")), _text(row.get("unit_price"))
    try:
        if _text(row.get("amount")):
            amount = Decimal(_text(row.get("amount")))
        elif quantity and unit_price:
            amount = Decimal(quantity) * Decimal(unit_price)
        else:
            return None
    except InvalidOperation:
        return None
    if amount < 0 or (unit_price and Decimal(unit_price) < 0) or (quantity and int(quantity) < 1):
        return None
    return {
        "transaction_id": transaction_id,
        "order_date": ts.date(),
        "customer_id": customer_id,
        "channel": _text(row.get("channel")).lower() or "unknown",
        "status": status,
        "amount": amount.quantize(Decimal("0.01"), ROUND_HALF_UP),
    }


def _silver_from_raw(week: Week) -> pd.DataFrame:
    """The surviving order of each key: files in the order the runs claimed them (the later file
    wins), then the last row of a file."""
    latest: dict[str, dict[str, Any]] = {}
    for run, day in sorted(FILE_DAYS.items()):
        (path,) = (week.landing / "transactions").glob(f"transactions_{START + timedelta(days=day)}.*")
        for row in _raw_rows(path):
            cleaned = _clean(row, run_after(run))
            if cleaned is not None:
                latest[cleaned["transaction_id"]] = cleaned
    return pd.DataFrame(list(latest.values()))


def test_gold_equals_an_independent_computation_from_the_raw_files(week: Week) -> None:
    orders = _silver_from_raw(week)
    assert (orders.transaction_id == week.corrected_id).sum() == 1
    completed = orders.status == "completed"
    per_channel = (
        orders.assign(
            orders=completed.astype(int),
            revenue=orders.amount.where(completed, Decimal(0)),
            refunded=orders.amount.where(orders.status == "refunded", Decimal(0)),
            cancelled=orders.amount.where(orders.status == "cancelled", Decimal(0)),
        )
        .groupby(["order_date", "channel"])[["orders", "revenue", "refunded", "cancelled"]]
        .sum()
    )
    expected_aov = sorted(
        (d, c, int(r.orders), r.revenue, r.refunded, r.cancelled) for (d, c), r in per_channel.iterrows()
    )
    gold = week.runs[max(RUNS)].gold
    with duckdb.connect(str(week.output / "warehouse.duckdb"), read_only=True) as con:
        aov = con.sql(
            "select order_date, channel, orders, revenue, refunded_amount, cancelled_amount "
            "from gold.aov_daily order by all"
        ).fetchall()
    assert aov == expected_aov
    assert {row[0] for row in aov} == {START + timedelta(days=d) for d in FILE_DAYS.values()}
    per_customer = (
        orders.assign(orders=completed.astype(int), revenue=orders.amount.where(completed, Decimal(0)))
        .groupby(["order_date", "customer_id"])[["orders", "revenue"]]
        .sum()
    )
    expected_customers = sorted((d, c, int(r.orders), r.revenue) for (d, c), r in per_customer.iterrows())
    assert gold["customer_daily"] == expected_customers
    # customer_state: per-customer totals up to the last run date - 7; customer_rfm: as of the run
    # date (the day after the latest order), totals and recency of customers with a completed order.
    customer_days = sorted(expected_customers)  # (order_date, customer_id, orders, revenue)
    run_date = run_after(max(RUNS)).date()

    def totals(until: date) -> dict[str, tuple[int, Decimal, date | None, date]]:
        """customer -> (orders, revenue, last order day, last active day) over the days up to `until`."""
        out: dict[str, tuple[int, Decimal, date | None, date]] = {}
        for day, customer, n, revenue in (row for row in customer_days if row[0] <= until):
            before = out.get(customer, (0, Decimal(0), None, day))
            out[customer] = (before[0] + n, before[1] + revenue, day if n else before[2], day)
        return out

    state = totals(run_date - timedelta(days=7))
    assert state
    assert gold["customer_state"] == sorted((c, *t) for c, t in state.items())
    with duckdb.connect(str(week.output / "warehouse.duckdb"), read_only=True) as con:
        scored = con.sql(
            "select customer_id, as_of_date, recency_days, frequency, monetary from gold.customer_rfm order by all"
        ).fetchall()
    assert scored == sorted(
        (c, run_date, (run_date - last).days, n, revenue)
        for c, (n, revenue, last, _) in totals(run_date).items()
        if last is not None
    )


def _raw_lines(path: Path) -> int:
    """Records in a raw file, counted as lines (CSV: less the header)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return len(lines) - 1 if path.suffix == ".csv" else len(lines)


def test_every_raw_line_is_in_silver_or_in_quarantine(week: Week) -> None:
    files = sorted(p for p in week.landing.rglob("*") if p.is_file())
    assert len(files) == 2 + len(FILE_DAYS)
    with duckdb.connect(str(week.output / "warehouse.duckdb"), read_only=True) as con:
        held = dict(
            con.sql(
                "select source_file, count(*) from ("
                " select source_file from silver.transactions union all"
                " select source_file from silver.customers union all"
                " select source_file from silver.agents union all"
                " select source_file from audit.quarantine"
                ") group by source_file"
            ).fetchall()
        )
        reasons = con.execute(
            "select count(*) from audit.quarantine where coalesce(reason, '') = ''"
        ).fetchone()
    assert held == {str(p): _raw_lines(p) for p in files}
    assert reasons == (0,)

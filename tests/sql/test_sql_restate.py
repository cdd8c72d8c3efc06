"""Restating gold on DuckDB with the real SQL files (`pipeline.restate`), run by run as the DAG's gold
tasks do it: gold built day by day with the SQL of the repository, then a gold file changed (in a
copy of sql/ that `sql.catalog` reads) and one more run. That run restates the changed table and
what is built from it over all history: gold then equals a from-scratch build with the new SQL and
an independent computation in Python; the merge step's reset is atomic; a requested range stays in
its range. Through Airflow: tests/e2e/test_restate_runs.py.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipeline import plan, restate, warehouse
from pipeline.config import Settings
from sql import catalog

ORDERS = "countif(status = 'completed') as orders"
ORDERS_WITH_REFUNDS = "countif(status in ('completed', 'refunded')) as orders"
"""The change: gold.customer_daily counts refunded orders among a customer's orders."""


def changed_sql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: str, old: str, new: str) -> Path:
    """A copy of sql/ with `old` replaced by `new` in one file, read by `sql.catalog` from now on."""
    copy = tmp_path / "sql"
    shutil.copytree(catalog.SQL_DIR, copy)
    text = (copy / relative).read_text()
    assert text.count(old) == 1, f"{relative} no longer holds {old!r}"
    (copy / relative).write_text(text.replace(old, new))
    monkeypatch.setattr(catalog, "SQL_DIR", copy)
    return copy


def gold_run(
    con: Any, run_id: str, days: Sequence[dt.date], run_date: dt.date, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The gold part of a DAG run: `plan_gold`, every gold step, then the record `archive_files` makes."""
    gold_plan = restate.plan_local(con, Settings(), params)
    base = plan.query_parameters(
        run_id=run_id, days=list(days), run_date=run_date, reporting_tz="Europe/Paris", rows_valid=0
    )
    for step in plan.GOLD_STEPS:
        restate.build_gold_step(con, step, restate.step_params(step, base, gold_plan), gold_plan)
    restate.record(con, gold_plan, run_id)
    return gold_plan


def daily_runs(wh, orders, order_days) -> dt.date:  # type: ignore[no-untyped-def]
    """Silver loaded, then one run per day closing it (run date = the next day); the last run date."""
    wh.insert("silver.transactions", orders)
    for day in order_days:
        gold_run(wh.con, f"run-{day}", [day], day + dt.timedelta(days=1))
    return order_days[-1] + dt.timedelta(days=1)


def gold_tables(wh) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[no-untyped-def]
    return {s.table: wh.table(s.table) for s in plan.GOLD_STEPS}


def from_scratch(wh, tmp_path: Path, run_date: dt.date) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[no-untyped-def]
    """Gold built once, over every day, in a new warehouse holding the same silver."""
    con = warehouse.connect(tmp_path / "scratch.duckdb")
    try:
        scratch = type(wh)(con)
        silver = [
            dict(zip(catalog.table("silver.transactions").column_names, row, strict=True))
            for row in wh.table("silver.transactions")
        ]
        scratch.insert("silver.transactions", silver)
        days = sorted({r["transaction_ts"].date() for r in silver})
        scratch.build_gold(days, run_date=run_date, reporting_tz="Europe/Paris")
        return gold_tables(scratch)
    finally:
        con.close()


def expected_customer_daily(wh, order_statuses: tuple[str, ...]) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    """(order_date, customer_id, orders of `order_statuses`, completed revenue) from silver."""
    totals: dict[tuple[dt.date, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for ts, customer, status, amount in wh.rows(
        "select transaction_ts, customer_id, status, amount from silver.transactions"
    ):
        row = totals[(ts.astimezone(dt.UTC).date(), customer)]
        row[0] += status in order_statuses
        row[1] += amount if status == "completed" else 0
    return sorted((d, c, n, r) for (d, c), (n, r) in totals.items())


def expected_state(daily: list[tuple[Any, ...]], watermark: dt.date) -> list[tuple[Any, ...]]:
    """(customer_id, orders, revenue, last_order_date, last_active_date) up to the watermark."""
    state: dict[str, list[Any]] = {}
    for day, customer, orders, revenue in daily:
        if day > watermark:
            continue
        row = state.setdefault(customer, [0, Decimal(0), None, day])
        row[0] += orders
        row[1] += revenue
        if orders and (row[2] is None or day > row[2]):
            row[2] = day
        row[3] = max(row[3], day)
    return sorted((c, *v) for c, v in state.items())


def test_the_first_run_records_the_fingerprints_and_the_next_restate_nothing(wh, orders, order_days) -> None:  # type: ignore[no-untyped-def]
    wh.insert("silver.transactions", orders)
    first = gold_run(wh.con, "run-1", order_days[:1], order_days[0] + dt.timedelta(days=1))
    assert first["adopted"]
    assert first["restate"] == {}
    current = restate.fingerprints()
    assert dict(wh.rows("select table_name, fingerprint from audit.gold_fingerprints")) == current
    second = gold_run(wh.con, "run-2", order_days[1:2], order_days[1] + dt.timedelta(days=1))
    assert (second["adopted"], second["changed"], second["restate"], second["record"]) == (False, [], {}, [])
    assert set(wh.rows("select distinct run_id from audit.gold_fingerprints")) == {("run-1",)}


def test_a_changed_gold_file_restates_its_table_and_dependents_as_a_from_scratch_build(  # type: ignore[no-untyped-def]
    wh, orders, order_days, tmp_path, monkeypatch
) -> None:
    run_date = daily_runs(wh, orders, order_days[:-1])
    before = gold_tables(wh)
    built_days = expected_customer_daily(wh, ("completed",))
    assert wh.table("gold.customer_daily") == [r for r in built_days if r[0] < order_days[-1]]
    changed_sql(tmp_path, monkeypatch, "gold/customer_daily.sql", ORDERS, ORDERS_WITH_REFUNDS)

    # The next run brings the last day, and finds customer_daily.sql changed.
    last, run_date = order_days[-1], order_days[-1] + dt.timedelta(days=1)
    gold_plan = gold_run(wh.con, "run-changed", [last], run_date)
    restated = [
        "gold.customer_daily",
        "gold.customer_state",
        "gold.customer_rfm",
        "gold.cohort_retention",
        "gold.segment_migration",
    ]
    assert list(gold_plan["restate"]) == restated
    assert gold_plan["history"] == [d.isoformat() for d in order_days]

    after = gold_tables(wh)
    assert after == from_scratch(wh, tmp_path, run_date)
    daily = expected_customer_daily(wh, ("completed", "refunded"))
    assert after["gold.customer_daily"] == daily
    assert after["gold.customer_state"] == expected_state(daily, run_date - dt.timedelta(days=7))
    assert after["gold.customer_state"], "the fixture's state must hold customers"
    assert after["gold.customer_rfm"] != before["gold.customer_rfm"]  # frequency counts refunds now
    recorded = dict(wh.rows("select table_name, run_id from audit.gold_fingerprints"))
    assert {t for t, run in recorded.items() if run == "run-changed"} == set(restated)
    assert (
        dict(wh.rows("select table_name, fingerprint from audit.gold_fingerprints")) == restate.fingerprints()
    )
    # Recorded: the run after restates nothing.
    assert gold_run(wh.con, "run-after", [], run_date)["restate"] == {}
    assert gold_tables(wh) == after


def test_a_changed_state_merge_resets_the_state_in_one_transaction(  # type: ignore[no-untyped-def]
    wh, orders, order_days, tmp_path, monkeypatch
) -> None:
    run_date = daily_runs(wh, orders, order_days)
    state = wh.table("gold.customer_state")
    assert state
    # A state row the SQL would not build (a customer with no order): the restatement drops it.
    wh.con.execute(
        "insert into gold.customer_state values ('ghost', 1, 1.00, ?, ?)", [order_days[0], order_days[0]]
    )
    copy = changed_sql(
        tmp_path,
        monkeypatch,
        "gold/customer_state_merge.sql",
        "as changed_customers",
        "as changed_customers ",
    )
    step = next(s for s in plan.GOLD_STEPS if s.table == "gold.customer_state")
    gold_plan = restate.plan_local(wh.con, Settings(), None)
    assert restate.resets(step, gold_plan)
    params = restate.step_params(
        step,
        plan.query_parameters(run_id="r", days=[], run_date=run_date, reporting_tz="UTC", rows_valid=0),
        gold_plan,
    )
    # A MERGE that fails after the reset leaves the state as it was, not empty.
    good = (copy / step.sql).read_text()
    (copy / step.sql).write_text(good.replace("sum(orders) as orders", "sum(no_such_column) as orders", 1))
    with pytest.raises(RuntimeError, match=r"customer_state_merge\.sql failed"):
        restate.build_gold_step(wh.con, step, params, gold_plan)
    assert len(wh.table("gold.customer_state")) == len(state) + 1
    (copy / step.sql).write_text(good)
    restate.build_gold_step(wh.con, step, params, gold_plan)
    assert wh.table("gold.customer_state") == state


def test_a_requested_range_restates_those_days_only(wh, orders, order_days) -> None:  # type: ignore[no-untyped-def]
    run_date = daily_runs(wh, orders, order_days)
    built = wh.table("gold.aov_daily")
    wh.con.execute("update gold.aov_daily set revenue = -1")
    first, last = order_days[3], order_days[5]
    conf = restate.rebuild_conf(["aov_daily"], first, last)
    gold_plan = gold_run(wh.con, "rebuild", [], run_date, conf)
    assert list(gold_plan["restate"]) == ["gold.aov_daily"]
    assert gold_plan["record"] == []  # part of the history only
    rebuilt = wh.table("gold.aov_daily")
    assert [r for r in rebuilt if first <= r[0] <= last] == [r for r in built if first <= r[0] <= last]
    assert {r[3] for r in rebuilt if not first <= r[0] <= last} == {Decimal("-1.00")}
    # The whole history: every day rebuilt, and the table recorded by this run.
    assert gold_run(wh.con, "rebuild-all", [], run_date, restate.rebuild_conf(["aov_daily"]))["record"] == [
        "gold.aov_daily"
    ]
    assert wh.table("gold.aov_daily") == built

"""The incremental-run benchmark's code path at toy size: it prints its final line, and the gold an
incremental run leaves equals a full rebuild's on every day the run touched."""

from __future__ import annotations

import contextlib
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bench import incremental
from pipeline import plan, warehouse
from sql import catalog

NEW_DAY = date(2025, 3, 10)
RUN_ID = f"scheduled__{NEW_DAY + timedelta(days=1)}T00:00:00+00:00"
SMALL, LARGE = 9, 12
"""Both longer than the 7 days between the customer state's watermark and the run date."""
ARGS = [
    "--days",
    str(SMALL),
    str(LARGE),
    "--orders-per-day",
    "500",
    "--customers",
    "2000",
    "--agents",
    "20",
    "--new-day",
    NEW_DAY.isoformat(),
    "--resend-share",
    "0.01",
    "--repeat",
    "1",
]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    workdir = tmp_path_factory.mktemp("bench")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert incremental.main([*ARGS, "--workdir", str(workdir)]) == 0
    return workdir, out.getvalue().splitlines()


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(con.execute(sql, params).fetchall(), key=repr)


def test_it_ends_with_the_incremental_line(bench_run: tuple[Path, list[str]]) -> None:
    _, lines = bench_run
    match = incremental.FINAL_LINE.match(lines[-1])
    assert match, lines[-1]
    small, large, ratio = (float(g) for g in match.groups())
    assert small > 0
    assert large > 0
    # The times are printed to 2 decimals: their ratio is exact only to about 0.005 / time each.
    assert ratio == pytest.approx(large / small, rel=0.006 / small + 0.006 / large + 0.01, abs=0.01)


def test_it_reports_the_rebuild_and_what_each_gold_query_reads(bench_run: tuple[Path, list[str]]) -> None:
    _, lines = bench_run
    text = "\n".join(lines)
    assert "== full gold rebuild" in text
    for step in plan.GOLD_STEPS:
        assert f"  {step.sql}: " in text
    assert "incremental gold vs full rebuild: equal" in text


@pytest.mark.parametrize("history_days", [SMALL, LARGE])
def test_incremental_gold_equals_a_full_rebuild_on_the_touched_days(
    bench_run: tuple[Path, list[str]], history_days: int
) -> None:
    workdir, _ = bench_run
    # run.duckdb holds the incremental run's gold (snapshot schema) and, in gold, the full rebuild.
    with warehouse.connect(workdir / f"d{history_days}" / "run.duckdb", read_only=True) as con:
        touched = sorted(
            r[0]
            for r in con.execute(
                "SELECT DISTINCT CAST(transaction_ts AS DATE) FROM silver.transactions WHERE run_id = $run_id",
                {"run_id": RUN_ID},
            ).fetchall()
        )
        # The new day, the late rows' day (3 days back) and the re-sent orders' day (1 back).
        assert touched == [NEW_DAY - timedelta(days=3), NEW_DAY - timedelta(days=1), NEW_DAY]
        for step in plan.GOLD_STEPS:
            table = catalog.table(step.table)
            cols = ", ".join(table.column_names)
            where, params = "", {}
            # A partitions step rebuilt the touched days; a whole-table or merge step, everything.
            if step.mode == "partitions" and table.partition_field:
                where, params = f" WHERE {table.partition_field} IN (SELECT UNNEST($days))", {"days": touched}
            incremental_rows = _rows(
                con, f"SELECT {cols} FROM {incremental.SNAPSHOT_SCHEMA}.{table.name}{where}", params
            )
            rebuilt_rows = _rows(con, f"SELECT {cols} FROM {table.qualified_name}{where}", params)
            assert incremental_rows, step.table
            assert incremental_rows == rebuilt_rows, step.table


def test_the_run_changed_gold_on_the_late_day(bench_run: tuple[Path, list[str]]) -> None:
    """The late rows reached gold: the late day has more completed orders than history alone gives."""
    workdir, _ = bench_run
    late_day = NEW_DAY - timedelta(days=3)
    sql = "SELECT sum(orders) FROM gold.aov_daily WHERE order_date = $day"
    with duckdb.connect(str(workdir / f"d{LARGE}" / "base.duckdb"), read_only=True) as base:
        before = base.execute(sql, {"day": late_day}).fetchall()[0][0]
    with duckdb.connect(str(workdir / f"d{LARGE}" / "run.duckdb"), read_only=True) as run:
        after = run.execute(sql, {"day": late_day}).fetchall()[0][0]
    assert after > before

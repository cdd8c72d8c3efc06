"""The local target end to end: the real DAG through Airflow (`dag.test()` via the CLI), a real
local SparkSession and a real DuckDB file, on small generated landing data."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from pipeline import sample_data

from .runner import GOLD_TABLES, cdi_run

pytestmark = pytest.mark.e2e

SPEC = sample_data.SampleSpec(
    seed=7, days=5, customers=200, agents=8, orders_per_day=120, second_currency=None
)


def query(output: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(sql).df()


def gold_snapshot(output: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        return {t: con.sql(f"select * from gold.{t} order by all").fetchall() for t in GOLD_TABLES}


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    landing = tmp_path_factory.mktemp("landing")
    output = tmp_path_factory.mktemp("out")
    sample_data.write_reference_data(landing, SPEC)
    sample_data.write_transaction_days(landing, SPEC, range(SPEC.days - 1))
    result = cdi_run(landing, output, "2025-01-05T00:00:00+00:00")
    return landing, output, result


def test_the_first_run_succeeds_and_prints_a_summary(first_run) -> None:  # type: ignore[no-untyped-def]
    _, output, result = first_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "rows in" in result.stdout
    assert "quarantined" in result.stdout
    report = json.loads((output / "report.json").read_text())
    assert report["outcome"] in ("success", "warning")
    assert report["totals"]["files"] == len(list((output / "archive").rglob("*.*")))


def test_every_raw_row_is_in_silver_or_quarantine(first_run) -> None:  # type: ignore[no-untyped-def]
    _, output, _ = first_run
    stats = query(output, "select source_file, entity, rows_read from audit.file_stats")
    assert len(stats) > 0
    for row in stats.itertuples():
        table = f"silver.{row.entity}"
        in_silver = query(
            output, f"select count(*) as n from {table} where source_file = '{row.source_file}'"
        ).n[0]
        in_quarantine = query(
            output, f"select count(*) as n from audit.quarantine where source_file = '{row.source_file}'"
        ).n[0]
        assert row.rows_read == in_silver + in_quarantine, row.source_file
    reasons = query(
        output, "select count(*) as n from audit.quarantine where reason is null or reason = ''"
    ).n[0]
    assert reasons == 0


def test_rows_read_match_an_independent_count_of_the_raw_files(first_run) -> None:  # type: ignore[no-untyped-def]
    _, output, _ = first_run
    stats = query(output, "select source_file, rows_read from audit.file_stats where entity = 'transactions'")
    for row in stats.itertuples():
        path = Path(row.source_file)
        if path.name.endswith((".csv", ".csv.gz")):
            expected = len(pd.read_csv(path, dtype=str, keep_default_na=False))
        elif path.name.endswith(".parquet"):
            expected = len(pd.read_parquet(path))
        else:
            expected = sum(1 for line in path.read_text().splitlines() if line.strip())
        assert row.rows_read == expected, path.name


def test_gold_revenue_matches_silver_recomputed_in_pandas(first_run) -> None:  # type: ignore[no-untyped-def]
    _, output, _ = first_run
    silver = query(output, "select transaction_ts, channel, amount, status from silver.transactions")
    silver["order_date"] = silver.transaction_ts.dt.tz_convert("UTC").dt.date
    silver["channel"] = silver.channel.fillna("unknown")
    completed = silver[silver.status == "completed"]
    expected = completed.groupby(["order_date", "channel"]).amount.agg(["count", "sum"])
    gold = query(output, "select order_date, channel, orders, revenue from gold.aov_daily")
    gold["order_date"] = pd.to_datetime(gold.order_date).dt.date
    gold = gold.set_index(["order_date", "channel"])
    assert len(gold[gold.orders > 0]) == len(expected)
    for key, row in expected.iterrows():
        assert gold.loc[key, "orders"] == row["count"], key
        assert float(gold.loc[key, "revenue"]) == pytest.approx(float(row["sum"])), key
    peak = query(output, "select * from gold.peak_hours")
    assert len(peak) == 168
    assert int(peak.orders.sum()) == len(completed)
    rfm = query(output, "select * from gold.customer_rfm")
    customers = query(
        output, "select count(distinct customer_id) as n from silver.transactions where status = 'completed'"
    ).n[0]
    assert len(rfm) == customers
    assert rfm.segment.notna().all()
    assert set(rfm.r_score) == {1, 2, 3, 4, 5}


def test_a_new_file_and_late_data_rebuild_only_their_days(first_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    landing, output, first = first_run
    assert first.returncode == 0
    before = query(output, "select * from gold.aov_daily order by all")
    sample_data.write_transaction_days(landing, SPEC, [SPEC.days - 1])
    result = cdi_run(landing, output, "2025-01-06T00:00:00+00:00")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    report = json.loads((output / "report.json").read_text())
    assert report["totals"]["files"] == 1
    assert report["affected_days"] == [date(2025, 1, 5).isoformat()]
    after = query(output, "select * from gold.aov_daily order by all")
    untouched = after[pd.to_datetime(after.order_date).dt.date != date(2025, 1, 5)].reset_index(drop=True)
    pd.testing.assert_frame_equal(untouched, before.reset_index(drop=True))

    snapshot = gold_snapshot(output)
    rerun = cdi_run(landing, output, "2025-01-06T00:00:00+00:00")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-5000:]
    assert gold_snapshot(output) == snapshot
    assert json.loads((output / "report.json").read_text())["totals"]["files"] == 1


def gold_bytes(output: Path, export: Path) -> dict[str, str]:
    """sha256 of each gold table exported in key order to Parquet."""
    import hashlib

    export.mkdir(parents=True, exist_ok=True)
    digests = {}
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        for table in GOLD_TABLES:
            path = export / f"{table}.parquet"
            con.execute(f"copy (select * from gold.{table} order by all) to '{path}' (format parquet)")
            digests[table] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def test_a_backfill_is_byte_identical_to_the_incremental_runs(  # type: ignore[no-untyped-def]
    first_run, tmp_path: Path
) -> None:
    """One run over all the files into an empty output gives, byte for byte, the gold tables the
    first run plus the later runs built day by day."""
    landing, incremental, _ = first_run
    backfill = tmp_path / "backfill"
    result = cdi_run(landing, backfill, "2025-01-06T00:00:00+00:00")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert gold_snapshot(backfill) == gold_snapshot(incremental)
    assert gold_bytes(backfill, tmp_path / "export-backfill") == gold_bytes(
        incremental, tmp_path / "export-incremental"
    )

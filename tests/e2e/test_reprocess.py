"""Reading files again, end to end through the CLI (the real DAG via `dag.test()`, Spark in local
mode, a DuckDB file): `cdi reprocess` after a fix, and a file rejected whole, which waits for a
change to the source settings file (`sources.yaml`) and is claimed again once it changed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from pipeline import sample_data
from pipeline.config import ENTITIES
from pipeline.runs import run_key

from .runner import GOLD_TABLES, cdi_run

pytestmark = pytest.mark.e2e

SPEC = sample_data.SampleSpec(
    seed=11, days=4, customers=120, agents=6, orders_per_day=80, second_currency=None
)
REPROCESS = [sys.executable, "-m", "pipeline.cli", "reprocess"]


def cdi_reprocess(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline.cli reprocess ARGS`, as a user runs it."""
    return subprocess.run(
        [*REPROCESS, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CDI_SPARK_DRIVER_MEMORY": "1g", **(env or {})},
        cwd=cwd,
        timeout=600,
        check=False,
    )


def failure(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-3000:] + result.stderr[-5000:]


@contextmanager
def warehouse(output: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        yield con


def query(output: Path, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    with warehouse(output) as con:
        return con.execute(sql, params or []).df()


def rows(output: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with warehouse(output) as con:
        return con.execute(sql, params or []).fetchall()


def report(output: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((output / "report.json").read_text())
    return result


def raw_rows(path: Path) -> int:
    """Records in a landing file, counted without the pipeline."""
    if path.name.endswith((".csv", ".csv.gz")):
        return len(pd.read_csv(path, dtype=str, keep_default_na=False))
    if path.name.endswith(".parquet"):
        return len(pd.read_parquet(path))
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def assert_every_raw_row_once_in_silver_or_quarantine(output: Path) -> None:
    """Each record of each file whose latest attempt read it is in silver or quarantine exactly once."""
    files = rows(
        output,
        "select source_file, entity from (select *, row_number() over (partition by source_file "
        "order by attempt desc) as latest from audit.processed_files) where latest = 1 "
        "and status = 'processed' order by all",
    )
    assert files
    for source_file, entity in files:
        numbers = rows(
            output,
            f"select record_number from silver.{entity} where source_file = $1 union all "
            "select record_number from audit.quarantine where source_file = $1 order by all",
            [source_file],
        )
        expected = raw_rows(Path(source_file))
        assert [n for (n,) in numbers] == list(range(1, expected + 1)), source_file


def assert_gold_matches_silver(output: Path) -> None:
    """gold.aov_daily and the totals of peak_hours and customer_rfm, recomputed from silver."""
    silver = query(output, "select transaction_ts, channel, amount, status from silver.transactions")
    silver["order_date"] = silver.transaction_ts.dt.tz_convert("UTC").dt.date
    silver["channel"] = silver.channel.fillna("unknown")
    silver["amount"] = silver.amount.astype(float)
    for status in ("completed", "refunded", "cancelled"):
        silver[status] = silver.amount.where(silver.status == status, 0.0)
    silver["orders"] = (silver.status == "completed").astype(int)
    expected = (
        silver.groupby(["order_date", "channel"])[["orders", "completed", "refunded", "cancelled"]]
        .sum()
        .reset_index()
        .sort_values(["order_date", "channel"])
    )
    gold = rows(
        output,
        "select order_date, channel, orders, revenue, refunded_amount, cancelled_amount "
        "from gold.aov_daily order by order_date, channel",
    )
    want = expected[["order_date", "channel", "orders", "completed", "refunded", "cancelled"]].values.tolist()
    assert [g[:3] for g in gold] == [tuple(w[:3]) for w in want]
    amounts = [float(v) for g in gold for v in g[3:]]
    assert amounts == pytest.approx([float(v) for w in want for v in w[3:]])
    completed = silver[silver.status == "completed"]
    assert rows(output, "select sum(orders) from gold.peak_hours") == [(len(completed),)]
    customers = rows(
        output, "select count(distinct customer_id) from silver.transactions where status = 'completed'"
    )
    assert rows(output, "select count(*) from gold.customer_rfm") == customers


def figures(output: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What a user counts, without the run ids (every reprocess is a run of its own)."""
    tables = {
        **{f"silver.{e}": f"select * exclude (run_id) from silver.{e} order by all" for e in ENTITIES},
        # A future timestamp's detail names the run's logical end.
        "quarantine": "select * exclude (run_id) replace (if(reason = 'FUTURE_TIMESTAMP', null, detail) "
        "as detail) from audit.quarantine order by all",
        **{f"gold.{t}": f"select * from gold.{t} order by all" for t in GOLD_TABLES},
    }
    return {name: rows(output, sql) for name, sql in tables.items()}


# --- a run whose late rows were in the future: `cdi reprocess --run R` with a later --run-after ---


@pytest.fixture(scope="module")
def future(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run due at 21:00 on the last day (its later orders are FUTURE_TIMESTAMP), then that run
    reprocessed at midnight, then again ten minutes later."""
    landing = tmp_path_factory.mktemp("landing")
    output = tmp_path_factory.mktemp("out")
    sample_data.write_reference_data(landing, SPEC)
    sample_data.write_transaction_days(landing, SPEC, range(SPEC.days))
    env = {"CDI_SOURCES": str(tmp_path_factory.mktemp("settings") / "sources.yaml")}  # none: defaults
    first = cdi_run(landing, output, "2025-01-04T21:00:00+00:00", **env)
    state: dict[str, Any] = {"landing": landing, "output": output, "first": first}
    assert first.returncode == 0, failure(first)
    run_id = report(output)["run_id"]
    state["run_id"] = run_id
    state["before"] = {
        "silver": rows(output, "select source_file, record_number from silver.transactions order by all"),
        "future": rows(
            output,
            "select source_file, record_number, raw_record from audit.quarantine "
            "where reason = 'FUTURE_TIMESTAMP' order by all",
        ),
    }
    state["second"] = cdi_reprocess(
        "--run", run_id, "--output", str(output), "--run-after", "2025-01-05T00:00:00+00:00", env=env
    )
    state["second_report"] = report(output)
    state["after_second"] = figures(output)
    state["second_rows"] = {
        "silver": rows(output, "select source_file, record_number from silver.transactions"),
        "future": rows(output, "select raw_record from audit.quarantine where reason = 'FUTURE_TIMESTAMP'"),
        "run_ids": rows(
            output,
            "select distinct run_id from silver.transactions union select distinct run_id from audit.quarantine",
        ),
    }
    state["third"] = cdi_reprocess(
        "--run", run_id, "--output", str(output), "--run-after", "2025-01-05T00:10:00+00:00", env=env
    )
    state["third_report"] = report(output)
    return state


def test_reprocessed_rows_that_now_pass_move_from_quarantine_to_silver(future: dict[str, Any]) -> None:
    output, before = future["output"], future["before"]
    assert future["second"].returncode == 0, failure(future["second"])
    assert future["second_report"]["totals"]["files"] == len(
        rows(output, "select 1 from audit.processed_files where run_id = ?", [future["run_id"]])
    )
    # Orders of the last evening were in the future for the first run, not for the reprocess; the
    # defect dated 2099 still is.
    moved = [(f, n) for f, n, raw in before["future"] if "2099-" not in raw]
    assert len(moved) >= 5
    after = future["second_rows"]
    assert set(before["silver"]) | set(moved) == set(after["silver"])
    assert len(after["silver"]) == len(before["silver"]) + len(moved)
    assert after["future"]
    assert all("2099-" in raw for (raw,) in after["future"])
    # Every row of the reprocessed files is now the reprocess's, in silver or in quarantine.
    assert after["run_ids"] == [(future["second_report"]["run_id"],)]


def test_every_raw_row_is_once_in_silver_or_quarantine_and_gold_matches_silver(
    future: dict[str, Any],
) -> None:
    assert future["third"].returncode == 0, failure(future["third"])
    assert_every_raw_row_once_in_silver_or_quarantine(future["output"])
    assert_gold_matches_silver(future["output"])
    assert sorted(future["second_report"]["affected_days"]) == [f"2025-01-0{d}" for d in range(1, 5)]


def test_reprocessing_again_changes_nothing(future: dict[str, Any]) -> None:
    assert future["third"].returncode == 0, failure(future["third"])
    assert figures(future["output"]) == future["after_second"]


def test_the_audit_trail_keeps_every_attempt(future: dict[str, Any]) -> None:
    output, first = future["output"], future["run_id"]
    second, third = future["second_report"]["run_id"], future["third_report"]["run_id"]
    claimed = rows(
        output,
        "select source_file, run_id, attempt, status, archive_path, content_sha256 "
        "from audit.processed_files order by source_file, attempt",
    )
    files = sorted({r[0] for r in claimed})
    assert len(files) == SPEC.days + 2  # the days' transactions, customers and agents
    for source_file in files:
        attempts = [r for r in claimed if r[0] == source_file]
        assert [(r[1], r[2], r[3]) for r in attempts] == [
            (first, 1, "processed"),
            (second, 2, "processed"),
            (third, 3, "processed"),
        ]
        digest = hashlib.sha256(Path(source_file).read_bytes()).hexdigest()
        for _, run_id, _, _, archive_path, sha in attempts:
            # Each attempt read its own copy, in its run's archive folder, of the same bytes.
            assert f"/archive/{run_key(run_id)}/" in archive_path
            assert sha == digest == hashlib.sha256(Path(archive_path).read_bytes()).hexdigest()
    stats = rows(output, "select run_id, count(*) from audit.file_stats group by all order by all")
    assert sorted(stats) == sorted([(first, len(files)), (second, len(files)), (third, len(files))])


# --- a file rejected whole, fixed by sources.yaml ---------------------------------------------------

CRM_EXPORT = "Order Number,transaction_ts,customer_id,amount,status\n" + "".join(
    f"CRM-{n},2025-01-01T{9 + n}:15:00Z,CUST-{n:05d},{10 * n}.50,completed\n" for n in range(1, 7)
)
SOURCES_FIX = """\
transactions:
  files:
    "crm_*.csv":
      columns:
        Order Number: transaction_id
"""


def settings_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes() if path.exists() else b"").hexdigest()


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run 1 rejects two files whole (a CRM export whose key column needs a mapping, a truncated
    gzip) and loads the good file beside them; run 2, settings unchanged, claims neither; the
    mapping is added to sources.yaml and the export reprocessed (run 3); run 4 claims the truncated
    file again, not the export."""
    landing = tmp_path_factory.mktemp("landing")
    output = tmp_path_factory.mktemp("out")
    sources = tmp_path_factory.mktemp("settings") / "sources.yaml"
    env = {"CDI_SOURCES": str(sources)}
    sample_data.write_reference_data(landing, SPEC)
    (good,) = sample_data.write_transaction_days(landing, SPEC, [0])
    (landing / "transactions" / "crm_export.csv").write_text(CRM_EXPORT)
    (landing / "transactions" / "broken.csv.gz").write_bytes(b"\x1f\x8b\x08\x00truncated")
    state: dict[str, Any] = {"landing": landing, "output": output, "sources": sources, "good": good}
    state["crm"] = str((landing / "transactions" / "crm_export.csv").resolve())
    state["broken"] = str((landing / "transactions" / "broken.csv.gz").resolve())
    state["run1"] = cdi_run(landing, output, "2025-01-02T00:00:00+00:00", **env)
    state["run1_report"] = report(output)
    state["run1_id"] = state["run1_report"]["run_id"]
    state["run1_silver"] = rows(output, "select count(*) from silver.transactions")[0][0]
    state["run2"] = cdi_run(landing, output, "2025-01-03T00:00:00+00:00", **env)
    state["run2_report"] = report(output)
    state["before_fix"] = {
        "silver": rows(output, "select count(*) from silver.transactions")[0][0],
        "quarantine": rows(
            output,
            "select reason, count(*) from audit.quarantine where source_file = ? group by all",
            [state["crm"]],
        ),
    }
    sources.write_text(SOURCES_FIX)
    # The export named relative to the landing folder: a path that resolves to the one recorded.
    state["run3"] = cdi_reprocess(
        "transactions/crm_export.csv",
        "--output",
        str(output),
        "--run-after",
        "2025-01-03T06:00:00+00:00",
        cwd=landing,
        env=env,
    )
    state["run3_report"] = report(output)
    state["run4"] = cdi_run(landing, output, "2025-01-04T00:00:00+00:00", **env)
    state["run4_report"] = report(output)
    return state


def claims_of(output: Path, source_file: str) -> list[tuple[Any, ...]]:
    return rows(
        output,
        "select run_id, attempt, status, settings_sha256 from audit.processed_files "
        "where source_file = ? order by attempt",
        [source_file],
    )


def test_a_file_rejected_whole_is_recorded_rejected_and_not_claimed_again_while_settings_stay(
    rejected: dict[str, Any],
) -> None:
    output, run1 = rejected["output"], rejected["run1_id"]
    assert rejected["run1"].returncode == 1, failure(rejected["run1"])
    assert "crm_export.csv" in rejected["run1"].stdout
    assert rejected["before_fix"]["quarantine"] == [("MISSING_COLUMN", 6)]
    no_settings = hashlib.sha256(b"").hexdigest()
    # Run 2: nothing new, the unchanged bad files are not read again and the run succeeds.
    assert rejected["run2"].returncode == 0, failure(rejected["run2"])
    assert rejected["run2_report"]["totals"]["files"] == 0
    assert claims_of(output, rejected["broken"])[0] == (run1, 1, "rejected", no_settings)
    assert claims_of(output, rejected["crm"])[0] == (run1, 1, "rejected", no_settings)
    good = rows(
        output,
        "select distinct status from audit.processed_files where run_id = ? and source_file not in (?, ?)",
        [run1, rejected["crm"], rejected["broken"]],
    )
    assert good == [("processed",)]


def test_an_unreadable_file_fails_the_run_after_loading_the_good_ones(rejected: dict[str, Any]) -> None:
    """Run 1: the truncated gzip fails the run, named on the terminal, while the good file of the
    same run is loaded; the broken file is archived like every other, never deleted from landing."""
    output, run1 = rejected["output"], rejected["run1"]
    assert run1.returncode == 1, failure(run1)
    assert "broken.csv.gz" in run1.stdout
    assert rejected["run1_report"]["outcome"] == "failed"
    assert rejected["run1_report"]["quarantine_reasons"]["UNREADABLE_FILE"] == 1
    (good_rows,) = rows(
        output,
        "select rows_valid from audit.file_stats where run_id = ? and source_file = ?",
        [rejected["run1_id"], str(rejected["good"])],
    )
    assert rejected["run1_silver"] == good_rows[0] > 0
    assert Path(rejected["broken"]).exists()
    assert list((output / "archive").rglob("broken.csv.gz"))


def test_a_rejected_file_is_claimed_again_after_the_settings_file_changed(rejected: dict[str, Any]) -> None:
    output, run1 = rejected["output"], rejected["run1_id"]
    run4 = rejected["run4_report"]["run_id"]
    fixed = settings_digest(rejected["sources"])
    # Run 4 reads the truncated file again under the new settings (still unreadable: the run fails);
    # the export, processed by the reprocess since, is not read again.
    assert rejected["run4"].returncode == 1, failure(rejected["run4"])
    assert rejected["run4_report"]["totals"]["files"] == 1
    assert claims_of(output, rejected["broken"]) == [
        (run1, 1, "rejected", hashlib.sha256(b"").hexdigest()),
        (run4, 2, "rejected", fixed),
    ]
    assert rows(
        output, "select count(*) from audit.quarantine where source_file = ?", [rejected["broken"]]
    ) == [(1,)]
    assert rows(
        output,
        "select run_id from audit.file_stats where source_file = ? order by run_id",
        [rejected["broken"]],
    ) == sorted([(run1,), (run4,)])


def test_a_settings_fix_then_cdi_reprocess_loads_the_rejected_file(rejected: dict[str, Any]) -> None:
    output, run1 = rejected["output"], rejected["run1_id"]
    run3 = rejected["run3_report"]["run_id"]
    assert rejected["run3"].returncode == 0, failure(rejected["run3"])
    assert rejected["run3_report"]["totals"]["files"] == 1
    assert claims_of(output, rejected["crm"]) == [
        (run1, 1, "rejected", hashlib.sha256(b"").hexdigest()),
        (run3, 2, "processed", settings_digest(rejected["sources"])),
    ]
    loaded = rows(
        output,
        "select transaction_id, amount from silver.transactions where source_file = ? order by record_number",
        [rejected["crm"]],
    )
    assert [(t, float(a)) for t, a in loaded] == [(f"CRM-{n}", 10 * n + 0.5) for n in range(1, 7)]
    assert rows(output, "select count(*) from audit.quarantine where source_file = ?", [rejected["crm"]]) == [
        (0,)
    ]
    assert (
        rows(output, "select count(*) from silver.transactions")[0][0] == rejected["before_fix"]["silver"] + 6
    )
    errors = rows(
        output,
        "select run_id, error is null from audit.file_stats where source_file = ? order by all",
        [rejected["crm"]],
    )
    assert sorted(errors) == sorted([(run1, False), (run3, True)])
    assert_every_raw_row_once_in_silver_or_quarantine(output)
    assert_gold_matches_silver(output)


def test_an_unknown_file_is_a_usage_error_naming_what_to_do(rejected: dict[str, Any]) -> None:
    output = rejected["output"]
    result = cdi_reprocess(
        str(rejected["landing"] / "transactions" / "crm_exports.csv"), "--output", str(output)
    )
    assert result.returncode == 2, failure(result)
    assert "no run claimed this file" in result.stderr
    assert "--run RUN" in result.stderr
    assert rejected["crm"] in result.stderr  # the claimed file with a similar name
    result = cdi_reprocess("--run", "manual__1999-01-01T00:00:00+00:00", "--output", str(output))
    assert result.returncode == 2, failure(result)
    assert rejected["run1_id"] in result.stderr

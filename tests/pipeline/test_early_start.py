"""`cdi run` starts Spark's JVM while Airflow starts only when the run may read something
(`pipeline.local_run._bytes_to_read`): on a real DuckDB warehouse and landing folder, files a run
processed as they are now count for nothing, new, touched and unfinished ones for their bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline import claim, local_run, warehouse


def test_a_day_with_nothing_new_reads_nothing_and_a_new_or_touched_file_counts(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    folder = landing / "transactions"
    folder.mkdir(parents=True)
    first, second = folder / "day1.csv", folder / "day2.csv"
    first.write_text("transaction_id,transaction_ts\nT1,2025-01-01\n")
    second.write_text("transaction_id,transaction_ts\nT2,2025-01-02\nT3,2025-01-02\n")
    both = first.stat().st_size + second.stat().st_size
    db = tmp_path / "warehouse.duckdb"

    def to_read(reprocess: tuple[str, ...] = ()) -> int:
        return local_run._bytes_to_read(landing, db, reprocess)

    assert to_read() == both  # no warehouse yet
    with warehouse.connect(db) as con:
        claim.claim_files(con, landing=landing, archive_dir=tmp_path / "archive", run_id="r1", run_key="r1")
    assert to_read() == both  # claimed by a run that has not ended (or died): read again
    with warehouse.connect(db) as con:
        claim.mark_processed(con, "r1")
    assert to_read() == 0

    third = folder / "day3.csv"
    third.write_text("transaction_id,transaction_ts\nT4,2025-01-03\n")
    assert to_read() == third.stat().st_size
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert to_read() == third.stat().st_size + first.stat().st_size

    # `cdi reprocess` reads the named files' latest attempts, whatever landing holds.
    assert to_read((str(second.resolve()),)) == second.stat().st_size


def test_the_cli_imports_no_duckdb_until_a_run_needs_it() -> None:
    """Every `cdi` command imports `pipeline.local_run`; only a run reads the warehouse."""
    code = "import sys, pipeline.cli; print(sorted(n for n in ('duckdb', 'sqlglot', 'pyspark') if n in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

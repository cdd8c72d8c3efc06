"""The cleaning benchmark's code path at toy size (2,000 rows): it prints its final line, and the
Spark job and the DuckDB floor agree on the valid and quarantined counts (and with the generator)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pyarrow.csv as pa_csv
import pytest

from bench import clean

ROWS = 2000


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, list[str]]:
    workdir = tmp_path_factory.mktemp("bench-clean")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = clean.main(["--rows", str(ROWS), "--workdir", str(workdir)])
    return status, workdir, out.getvalue().splitlines()


def test_it_ends_with_the_clean_line(bench_run: tuple[int, Path, list[str]]) -> None:
    status, _, lines = bench_run
    match = clean.FINAL_LINE.match(lines[-1])
    assert match, lines[-1]
    rows, spark_s, duckdb_s, ratio, peak = match.groups()
    assert int(rows) == ROWS
    assert float(spark_s) > 0
    assert float(duckdb_s) > 0
    # The figures are printed to 2 decimals: the ratio of the rounded times is exact only to
    # about 0.005 / time each.
    slack = 0.006 / float(spark_s) + 0.006 / float(duckdb_s)
    assert float(ratio) == pytest.approx(float(spark_s) / float(duckdb_s), rel=slack + 0.01, abs=0.01)
    # The JVM is in the process tree that was sampled.
    assert float(peak) > 0.1
    assert status == 0


def test_spark_and_duckdb_agree_with_the_generator(bench_run: tuple[int, Path, list[str]]) -> None:
    _, _, lines = bench_run
    assert "counts: spark and duckdb agree, reasons too; both match the generator" in lines


def test_the_file_has_the_rows_and_the_dirty_kinds(bench_run: tuple[int, Path, list[str]]) -> None:
    _, workdir, lines = bench_run
    table = pa_csv.read_csv(
        workdir / "transactions.csv", convert_options=pa_csv.ConvertOptions(strings_can_be_null=True)
    )
    assert table.num_rows == ROWS
    text = "\n".join(lines)
    for reason in ("DUPLICATE_KEY", "BAD_AMOUNT", "NEGATIVE_AMOUNT", "BAD_TIMESTAMP", "FUTURE_TIMESTAMP",
                   "MISSING_REQUIRED", "UNKNOWN_STATUS", "BAD_CURRENCY"):  # fmt: skip
        assert f"  {reason} " in text, reason
    assert (workdir / "spark_out" / "metrics.json").is_file()
    assert (workdir / "duckdb_out" / "silver.parquet").is_file()
    assert (workdir / "duckdb_out" / "quarantine.parquet").is_file()


def test_an_address_space_is_counted_once() -> None:
    """A thread shares its process's memory (as a `posix_spawn` child does until it executes its
    command); a forked child has its own."""
    import os
    import threading
    import time

    thread_id: list[int] = []
    done = threading.Event()
    worker = threading.Thread(target=lambda: (thread_id.append(threading.get_native_id()), done.wait(10)))
    worker.start()
    try:
        while not thread_id:
            pass
        assert clean._same_address_space(os.getpid(), thread_id[0])
    finally:
        done.set()
        worker.join()
    child = os.fork()
    if child == 0:
        time.sleep(0.5)
        os._exit(0)
    try:
        assert not clean._same_address_space(os.getpid(), child)
    finally:
        os.waitpid(child, 0)


def test_tree_rss_sums_the_children() -> None:
    import subprocess
    import sys

    import psutil

    code = "import sys, time; block = bytes(range(256)) * (800 << 10); sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(30)"
    outer = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {code!r}])"],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert outer.stdout is not None
        assert outer.stdout.readline() == "ready\n"
        parts = [psutil.Process(outer.pid), *psutil.Process(outer.pid).children(recursive=True)]
        assert len(parts) == 2
        total = clean._tree_rss(outer.pid)
        assert total >= 200 << 20
        assert total == pytest.approx(sum(p.memory_info().rss for p in parts), rel=0.05)
    finally:
        for proc in psutil.Process(outer.pid).children(recursive=True):
            proc.kill()
        outer.kill()
        outer.wait()

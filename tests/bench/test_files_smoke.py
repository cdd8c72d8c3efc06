"""The many-files benchmark's code path at toy size (4 files of 200 rows): it prints its final
line, and the Spark job on the files, on the one file and the DuckDB floor on the files agree on
the counts, and on which rows win, with the files claimed in order."""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from bench import files

FILES = 4
ROWS_PER_FILE = 200


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, list[str]]:
    workdir = tmp_path_factory.mktemp("bench-files")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = files.main(
            ["--files", str(FILES), "--rows-per-file", str(ROWS_PER_FILE), "--workdir", str(workdir)]
        )
    return status, workdir, out.getvalue().splitlines()


def test_it_ends_with_the_files_line(bench_run: tuple[int, Path, list[str]]) -> None:
    status, _, lines = bench_run
    match = files.FINAL_LINE.match(lines[-1])
    assert match, lines[-1]
    n, many_s, one_s, ratio, duckdb_s = match.groups()
    assert int(n) == FILES
    assert float(many_s) > 0
    assert float(one_s) > 0
    assert float(duckdb_s) > 0
    # The figures are printed to 2 decimals: the ratio of the rounded times is exact only to
    # about 0.005 / time each.
    slack = 0.006 / float(many_s) + 0.006 / float(one_s)
    assert float(ratio) == pytest.approx(float(many_s) / float(one_s), rel=slack + 0.01, abs=0.01)
    assert status == 0


def test_the_load_average_is_printed_before_and_after(bench_run: tuple[int, Path, list[str]]) -> None:
    _, _, lines = bench_run
    assert any(line.startswith("machine:") and "load average before:" in line for line in lines)
    for phase in ("spark_many", "spark_one", "duckdb_many"):
        assert any(line.startswith(f"load average after {phase}:") for line in lines), phase


def test_the_three_agree_with_the_generator(bench_run: tuple[int, Path, list[str]]) -> None:
    _, _, lines = bench_run
    assert "counts: spark many, spark one and duckdb agree with the generator" in lines
    for key in ("rows_valid", "rows_quarantined"):
        (row,) = [line.split() for line in lines if line.startswith(f"{key} ")]
        expected, *got = row[1:]
        assert got == [expected] * 3, row


def _valid(path: Path) -> set[tuple[str, int, str]]:
    """The silver rows at `path` (a Parquet folder or file) as (source file, record, key)."""
    t = ds.dataset(path).to_table(columns=["source_file", "record_number", "transaction_id"])
    return set(zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True))


def test_the_same_rows_win_in_the_files_as_in_the_one_file(bench_run: tuple[int, Path, list[str]]) -> None:
    """Later file wins = later row wins: the valid rows of the N files, numbered through the
    files in order, are the valid rows of the one file; DuckDB keeps the same rows of each file."""
    _, workdir, _ = bench_run
    spark_many = _valid(workdir / "spark_many_out" / "silver" / "transactions")
    spark_one = _valid(workdir / "spark_one_out" / "silver" / "transactions")
    duckdb_many = _valid(workdir / "duckdb_many_out" / "silver.parquet")
    assert spark_many == duckdb_many

    parts = sorted((workdir / "files").glob("*.csv"))
    assert len(parts) == FILES
    offset, before = 0, {}
    for part in parts:
        before[f"landing/transactions/{part.name}"] = offset
        offset += len(part.read_bytes().splitlines()) - 1
    through = {(tx, before[src] + rec) for src, rec, tx in spark_many}
    assert through == {(tx, rec) for _, rec, tx in spark_one}


def test_duplicates_cross_files(bench_run: tuple[int, Path, list[str]]) -> None:
    """The files exercise the claim order: some key is in more than one file."""
    _, workdir, _ = bench_run
    seen: dict[str, set[str]] = defaultdict(set)
    for part in sorted((workdir / "files").glob("*.csv")):
        for line in part.read_text().splitlines()[1:]:
            key = line.split(",", 1)[0]
            if key:
                seen[key].add(part.name)
    assert any(len(names) > 1 for names in seen.values())


def test_split_keeps_every_row_in_order(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(10)))
    parts = files.split(one, tmp_path / "parts", 3)
    assert [p.name for p in parts] == sorted(p.name for p in parts)
    texts = [p.read_text().splitlines() for p in parts]
    assert all(t[0] == "a,b" for t in texts)
    assert [len(t) - 1 for t in texts] == [4, 3, 3]
    assert ["a,b", *(row for t in texts for row in t[1:])] == one.read_text().splitlines()
    with pytest.raises(ValueError, match="cannot split 10 rows into 11 files"):
        files.split(one, tmp_path / "too-many", 11)

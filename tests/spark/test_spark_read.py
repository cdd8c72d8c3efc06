"""`spark/read.py`: one landing file as all-string columns with record numbers, or unreadable.

Whole-file outcomes of many malformed files are covered by the corpus in test_spark_job.py; this
module pins the reader's columns, values and record numbers.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.testing import assertDataFrameEqual

from spark import read
from spark.read import CORRUPT, RECORD_NUMBER
from spark.sources import SourceSettings


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", ("csv", False)),
        ("gs://bucket/landing/transactions/A.CSV.GZ", ("csv", True)),
        ("a.jsonl", ("jsonl", False)),
        ("a.ndjson.gz", ("jsonl", True)),
        ("a.parquet", ("parquet", False)),
        ("a.parquet.gz", ("parquet", True)),
        ("a.json", ("json", False)),
        ("a.json.gz", ("json", True)),
        ("a.geojson.zip", (None, False)),
        ("a.csv.zip", (None, False)),
        ("csv", (None, False)),
    ],
)
def test_file_format_is_decided_by_the_name_alone(name: str, expected: tuple[str | None, bool]) -> None:
    assert read.file_format(name) == expected


def test_csv_reads_quoted_delimiters_newlines_doubled_quotes_and_a_bom(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(
        '\ufeffid,"note, with comma",n\r\n1,"a, b",x\r\n2,"line one\nline two",y\r\n\r\n3,"say ""hi""",\r\n'.encode()
    )
    raw = read.read_file(spark, str(path))
    assert raw.error is None
    assert raw.header == ("id", "note, with comma", "n")
    assert raw.frame is not None
    assertDataFrameEqual(
        raw.frame.select("_c0", "_c1", "_c2", RECORD_NUMBER, CORRUPT),
        [
            ("1", "a, b", "x", 1, None),
            ("2", "line one\nline two", "y", 2, None),
            ("3", 'say "hi"', None, 3, None),
        ],
    )


def test_csv_uses_the_configured_delimiter_and_flags_ragged_records(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a;b\n1;2\n3;4;5\n6\n", encoding="utf-8")
    raw = read.read_file(spark, str(path), settings=SourceSettings(delimiter=";"))
    assert raw.frame is not None
    assertDataFrameEqual(
        raw.frame.select("_c0", "_c1", RECORD_NUMBER, CORRUPT),
        [("1", "2", 1, None), ("3", "4", 2, "3;4;5"), ("6", None, 3, "6")],
    )


_UNQUOTED_LINES = [
    "1{d}a{d}b",
    "2{d}{d}",  # empty fields are null
    "3{d} a {d}b ",  # spaces are kept, trimming is the cleaner's
    "",  # a blank line is no record
    "4{d}x",  # too few fields
    "5{d}x{d}y{d}z",  # too many
    "6{d}caf\u00e9 \u20ac{d}\u00a0\U0001f600",
    "7",
    "{d}{d}",  # all empty
    "8{d}x{d}y{d}",  # one trailing delimiter too many
]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_splittable_csv_split_on_its_delimiter_reads_as_the_csv_reader_reads_it(
    spark: SparkSession, tmp_path: Path, delimiter: str, newline: str
) -> None:
    path = tmp_path / "t.csv"
    # A line of whitespace only (tabs alone) leaves a file to the CSV reader.
    body = [line.format(d=delimiter) for line in _UNQUOTED_LINES]
    body = [line for line in body if not line.isspace()]
    lines = [f"id{delimiter}note{delimiter}n", *body]
    path.write_bytes(("\ufeff" + newline.join(lines) + newline).encode())
    raw = read.read_file(spark, str(path), settings=SourceSettings(delimiter=delimiter))
    assert raw.split_by_lines
    assert raw.frame is not None
    options = read.csv_options(delimiter, multi_line=False)
    expected = read._csv_records(spark, str(path), options, 3)  # one scan partition: numbered in order
    actual = raw.frame.drop(read.FILE)
    assertDataFrameEqual(actual, expected)
    assert actual.count() == len([line for line in body if line])


def test_csv_with_only_a_header_is_readable_with_no_rows(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("transaction_id,amount\n", encoding="utf-8")
    raw = read.read_file(spark, str(path))
    assert raw.header == ("transaction_id", "amount")
    assert raw.frame is not None
    assert raw.frame.count() == 0


def test_csv_header_names_are_made_unique(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,a,,b\n1,2,3,4\n", encoding="utf-8")
    assert read.read_file(spark, str(path)).header == ("a", "a_2", "column_3", "b")


def test_jsonl_keys_in_first_appearance_order_values_as_text_malformed_lines_flagged(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "t.jsonl.gz"
    lines = [
        '{"id": "1", "amount": 12.5}',
        "",
        '{"id": 2, "extra": {"k": [1, 2]}, "flag": true}',
        "{broken",
        "[1, 2]",
    ]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    raw = read.read_file(spark, str(path))
    assert raw.error is None
    assert raw.header == ("id", "amount", "extra", "flag")
    assert raw.frame is not None
    assertDataFrameEqual(
        raw.frame.select("_c0", "_c1", "_c2", "_c3", RECORD_NUMBER, CORRUPT),
        [
            ("1", "12.5", None, None, 1, None),
            ("2", None, '{"k":[1,2]}', "true", 2, None),
            (None, None, None, None, 3, "{broken"),
            (None, None, None, None, 4, "[1, 2]"),
        ],
    )


_CSV_LINES = ["id,amount"] + [f"{i},{i}.50" + ("\n" if i % 37 == 0 else "") for i in range(1, 301)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.jsonl", "".join(f'{{"id": "{i}"}}\n' for i in range(1, 301))),
        # Unquoted, so parsed line by line in parallel; blank lines are not records.
        ("t.csv", "\n".join(_CSV_LINES) + "\n"),
    ],
)
def test_record_numbers_follow_file_order_across_many_scan_partitions(
    spark: SparkSession, tmp_path: Path, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    try:
        raw = read.read_file(spark, str(path))
        assert raw.frame is not None
        assert raw.frame.rdd.getNumPartitions() > 1
        rows = raw.frame.select("_c0", RECORD_NUMBER).collect()
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    assert sorted((int(r["_c0"]), r[RECORD_NUMBER]) for r in rows) == [(i, i) for i in range(1, 301)]


def test_parquet_columns_become_text_and_instants_keep_their_utc_offset(
    spark: SparkSession, tmp_path: Path
) -> None:
    table = pa.table(
        {
            "transaction_id": ["T1"],
            "transaction_ts": pa.array([datetime(2024, 6, 1, 10, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "amount": pa.array([Decimal("12.50")], pa.decimal128(10, 2)),
            "quantity": pa.array([3], pa.int32()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    path = tmp_path / "t.parquet.gz"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    raw = read.read_file(spark, str(path), work_dir=str(tmp_path / "work"))
    assert raw.error is None
    assert raw.header == ("transaction_id", "transaction_ts", "amount", "quantity")
    assert raw.frame is not None
    assertDataFrameEqual(
        raw.frame.select("_c0", "_c1", "_c2", "_c3", RECORD_NUMBER),
        [("T1", "2024-06-01T10:00:00.000000Z", "12.50", "3", 1)],
    )


def test_a_parquet_files_schema_from_its_footer_is_what_spark_read_parquet_infers(
    spark: SparkSession, tmp_path: Path
) -> None:
    """`read._parquet_schema` reads the footer through Spark's own (internal) classes to spare a
    Spark job per file: it must give what the public reader gives, for the types feeds carry."""
    table = pa.table(
        {
            "id": pa.array(["T1", None]),
            "n": pa.array([1, 2], pa.int64()),
            "small": pa.array([1, None], pa.int16()),
            "amount": pa.array([Decimal("12.50"), None], pa.decimal128(10, 2)),
            "ratio": pa.array([0.5, 1.5], pa.float32()),
            "ts": pa.array([datetime(2024, 6, 1, 10, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")),
            "naive": pa.array([datetime(2024, 6, 1, 10)] * 2, pa.timestamp("ms")),
            "day": pa.array([datetime(2024, 6, 1).date()] * 2, pa.date32()),
            "flag": pa.array([True, None]),
            "blob": pa.array([b"\x00\x01", None], pa.binary()),
            "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
            "address": pa.array([{"city": "Lyon", "zip": 69001}, None]),
            "attrs": pa.array([[("k", "v")], None], pa.map_(pa.string(), pa.string())),
        }
    )
    path = tmp_path / "types.parquet"
    pq.write_table(table, path)
    assert read._parquet_schema(spark, str(path)) == spark.read.parquet(str(path)).schema


@pytest.mark.parametrize(
    ("name", "content", "cause"),
    [
        ("a.csv", b"", "empty file (0 bytes)"),
        ("a.xlsx", b"id\n1\n", "unknown file extension"),
        ("a.csv", b"id,x\n1,caf\xe9\n", "needs a work folder"),  # cp1252: converted to UTF-8 first
        ("a.csv", b"id,x\n1,\x00\x00\n", "NUL bytes"),
        ("a.csv.gz", gzip.compress(b"id,x\n" * 50, mtime=0)[:-6], "corrupt or truncated gzip"),
        ("a.jsonl", b"just some text\nmore text\n", "not JSON Lines"),
        ("a.parquet", b"id,x\n1,2\n", "cannot be read as parquet"),
    ],
)
def test_a_file_that_cannot_be_read_whole_is_unreadable_with_its_cause(
    spark: SparkSession, tmp_path: Path, name: str, content: bytes, cause: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    raw = read.read_file(spark, str(path))
    assert raw.frame is None
    assert raw.error is not None
    assert cause in raw.error


def test_a_missing_file_is_unreadable(spark: SparkSession, tmp_path: Path) -> None:
    raw = read.read_file(spark, str(tmp_path / "nope.csv"))
    assert raw.error == "no such file"


def test_text_helpers_round_trip_through_the_hadoop_filesystem(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "sub" / "m.json")
    read.write_text(spark, uri, '{"a": "é"}')
    assert read.read_text(spark, uri) == '{"a": "é"}'
    assert read.file_size(spark, uri) == len('{"a": "é"}'.encode())
    read.delete(spark, str(tmp_path / "sub"))
    assert read.file_size(spark, uri) is None


def _day_files(folder: Path, n: int, suffix: str, text: Callable[[int], str]) -> list[str]:
    """`n` files `day000.<suffix>`... in `folder`, file i holding `text(i)` (UTF-8)."""
    folder.mkdir()
    paths = []
    for i in range(n):
        path = folder / f"day{i:03d}.{suffix}"
        path.write_text(text(i), encoding="utf-8")
        paths.append(str(path))
    return paths


def test_csv_files_of_one_delimiter_are_checked_and_counted_by_one_spark_job(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A file costs its rows, not a job: 3 files or 30, one of invalid UTF-8 and one with NUL
    bytes among them, are read (and the bad ones found) by the same one query (two Spark jobs
    with adaptive execution: the aggregate's shuffle, then its result)."""

    def read_landing(n: int) -> tuple[int, list[read.RawFile]]:
        folder = tmp_path / str(n)
        paths = _day_files(
            folder, n, "csv", lambda i: "id,amount\n" + "".join(f"{i}-{k},{k}.5\n" for k in range(i + 1))
        )
        (folder / "day000.csv").write_bytes(b"id,amount\n1,caf\xe9\n")
        (folder / "day001.csv").write_bytes(b"id,amount\n1,2\x00\n")
        group = f"read-{n}"
        spark.sparkContext.setJobGroup(group, group)
        try:
            raws = read.read_files(spark, [(p, SourceSettings(encoding="utf-8")) for p in paths])
        finally:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group)), raws

    for n in (3, 30):
        jobs, raws = read_landing(n)
        assert jobs <= 2, n
        assert raws[0].error is not None
        assert raws[0].error.startswith("not valid UTF-8")
        assert raws[1].error == "binary content (NUL bytes) in a text format"
        assert [r.records for r in raws[2:]] == list(range(3, n + 1))
        assert all(r.split_by_lines and r.frame is raws[2].frame for r in raws[2:])


def _jobs_to_read(
    spark: SparkSession,
    group: str,
    files: list[tuple[str, SourceSettings | None]],
    work_dir: str | None = None,
) -> tuple[int, list[read.RawFile]]:
    """The Spark jobs `read_files` ran for the files (its scans and checks; not the rows' later use)."""
    spark.sparkContext.setJobGroup(group, group)
    try:
        raws = read.read_files(spark, files, work_dir=work_dir)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group)), raws


@pytest.fixture
def packed(spark: SparkSession) -> Any:
    """The job's packing of small files (`job._configure_session`): several files per scan task."""
    spark.conf.set("spark.sql.files.openCostInBytes", str(1 << 20))
    yield
    spark.conf.unset("spark.sql.files.openCostInBytes")


def _rows(raw: read.RawFile) -> list[tuple[Any, ...]]:
    """The file's rows of its (maybe shared) frame, in record order: its header's columns, record
    number, `_corrupt`."""
    assert raw.frame is not None
    columns = [read.source_column(i) for i in range(len(raw.header))]
    rows = raw.frame.where(F.col(read.FILE) == raw.key).select(*columns, RECORD_NUMBER, CORRUPT)
    return sorted((tuple(r) for r in rows.collect()), key=lambda row: row[-2])


@pytest.mark.usefixtures("packed")
def test_quoted_csv_files_are_read_by_one_scan_per_header_width(spark: SparkSession, tmp_path: Path) -> None:
    """4 or 30 quoted files, one of another header, one with a line break in a quoted field, one of
    invalid UTF-8 and one with NUL bytes: the same Spark jobs, each file its own header and records."""

    def landing(n: int) -> list[tuple[str, SourceSettings | None]]:
        folder = tmp_path / f"csv{n}"
        paths = _day_files(
            folder,
            n,
            "csv",
            lambda i: '"id","note"\n' + "".join(f'"{i}-{k}","n, {k}"\n' for k in range(i + 1)),
        )
        (folder / "day000.csv").write_bytes(b'id,"x"\n1,caf\xe9\n')
        (folder / "day001.csv").write_bytes(b'id,"x"\n1,2\x00\n')
        (folder / "day002.csv").write_text(
            '\ufeffkey,"a, b",c\n1,"x\ny",z\n\n2,"""q""",\n3,4\n', encoding="utf-8"
        )
        return [(p, SourceSettings(encoding="utf-8")) for p in paths]

    jobs = {}
    for n in (4, 30):
        jobs[n], raws = _jobs_to_read(spark, f"quoted-{n}", landing(n))
        assert raws[0].error is not None
        assert raws[0].error.startswith("not valid UTF-8")
        assert raws[1].error == "binary content (NUL bytes) in a text format"
        assert raws[2].header == ("key", "a, b", "c")
        assert _rows(raws[2]) == [
            ("1", "x\ny", "z", 1, None),
            ("2", '"q"', None, 2, None),
            ("3", "4", None, 3, "3,4"),
        ]
        assert raws[2].records == 3
        for i, raw in enumerate(raws[3:], start=3):
            assert raw.header == ("id", "note")
            assert raw.records == i + 1
            assert _rows(raw) == [(f"{i}-{k}", f"n, {k}", k + 1, None) for k in range(i + 1)]
        if n == 30:
            assert all(r.frame is raws[3].frame for r in raws[4:])
            assert raws[3].frame is not None
            assert raws[3].frame.rdd.getNumPartitions() < n - 3  # several files a scan task
    assert jobs[30] == jobs[4] <= 4


@pytest.mark.usefixtures("packed")
def test_jsonl_files_are_read_by_one_scan_each_with_its_own_keys(spark: SparkSession, tmp_path: Path) -> None:
    """5 or 30 JSON Lines files, one of other keys, one with NUL bytes, one holding no JSON object and
    one of invalid UTF-8: the same Spark jobs, each file its keys in order and its records."""

    def landing(n: int) -> list[tuple[str, SourceSettings | None]]:
        folder = tmp_path / f"jsonl{n}"
        paths = _day_files(
            folder, n, "jsonl", lambda i: "".join(f'{{"id": "{i}-{k}", "n": {k}}}\n' for k in range(i + 1))
        )
        (folder / "day000.jsonl").write_bytes(b'{"id": "1\x00"}\n')
        (folder / "day001.jsonl").write_text(
            '{"b": 1, "a": {"k": [1]}}\n\n{broken\n{"c": true, "a": "x"}\n', encoding="utf-8"
        )
        (folder / "day002.jsonl").write_text("just text\n", encoding="utf-8")
        (folder / "day003.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')
        return [(p, SourceSettings(encoding="utf-8")) for p in paths]

    jobs = {}
    for n in (5, 30):
        jobs[n], raws = _jobs_to_read(spark, f"jsonl-{n}", landing(n))
        assert raws[0].error == "binary content (NUL bytes) in a text format"
        assert raws[2].error == "not JSON Lines: no line is a JSON object"
        assert raws[3].error == "not valid UTF-8 text"
        assert raws[1].header == ("b", "a", "c")
        assert raws[1].records == 3
        assert _rows(raws[1]) == [
            ("1", '{"k":[1]}', None, 1, None),
            (None, None, None, 2, "{broken"),
            (None, "x", "true", 3, None),
        ]
        for i, raw in enumerate(raws[4:], start=4):
            assert raw.header == ("id", "n")
            assert raw.records == i + 1
            assert _rows(raw) == [(f"{i}-{k}", str(k), k + 1, None) for k in range(i + 1)]
        assert all(r.frame is raws[1].frame for r in raws[4:])
    assert jobs[30] == jobs[5] <= 4


@pytest.mark.usefixtures("packed")
def test_json_array_files_are_read_by_one_scan_each_with_its_own_keys(
    spark: SparkSession, tmp_path: Path
) -> None:
    """5 or 30 JSON array files (an API's export), one of other keys with a nested value and an
    element that is no record, one with NUL bytes, one of numbers only, one cut short and one of
    invalid UTF-8: the same Spark jobs, each file its keys in order of first appearance and its
    elements numbered in array order."""

    def landing(n: int) -> list[tuple[str, SourceSettings | None]]:
        folder = tmp_path / f"array{n}"
        paths = _day_files(
            folder,
            n,
            "json",
            lambda i: json.dumps([{"id": f"{i}-{k}", "n": k} for k in range(i + 1)], indent=2),
        )
        (folder / "day000.json").write_bytes(b'[{"id": "1\x00"}]')
        (folder / "day001.json").write_text(
            '\ufeff[\n {"b": 1, "a": {"k": [1]}},\n 5,\n {"c": true, "a": "x"}\n]\n', encoding="utf-8"
        )
        (folder / "day002.json").write_text("[1, 2, 3]", encoding="utf-8")
        (folder / "day003.json").write_text('[{"id": "a"}, {"id": ', encoding="utf-8")
        (folder / "day004.json").write_bytes(b'[{"id": "caf\xe9"}]')
        return [(p, SourceSettings(encoding="utf-8")) for p in paths]

    jobs = {}
    for n in (6, 30):
        jobs[n], raws = _jobs_to_read(spark, f"array-{n}", landing(n))
        assert raws[0].error == "binary content (NUL bytes) in a text format"
        assert raws[2].error == "not a JSON array of records (no element is an object with keys)"
        assert raws[3].error == "not a JSON array of records (no element is an object with keys)"
        assert raws[4].error == "not valid UTF-8 text"
        assert raws[1].header == ("b", "a", "c")
        assert raws[1].records == 3
        assert _rows(raws[1]) == [
            ("1", '{"k":[1]}', None, 1, None),
            (None, None, None, 2, "5"),
            (None, "x", "true", 3, None),
        ]
        for i, raw in enumerate(raws[5:], start=5):
            assert raw.header == ("id", "n")
            assert raw.records == i + 1
            assert _rows(raw) == [(f"{i}-{k}", str(k), k + 1, None) for k in range(i + 1)]
        assert all(r.frame is raws[1].frame for r in raws[5:])
    assert jobs[30] == jobs[6] <= 4


def _parquet_file(path: Path, table: pa.Table, row_group_size: int | None = None) -> str:
    pq.write_table(table, path, row_group_size=row_group_size)
    return str(path)


@pytest.mark.usefixtures("packed")
def test_parquet_files_are_read_by_one_scan_per_schema(spark: SparkSession, tmp_path: Path) -> None:
    """3 or 30 Parquet files, one of another schema, one of many row groups and one that is not
    Parquet: the same Spark jobs, each file its columns and records in file order."""

    def landing(n: int) -> list[tuple[str, SourceSettings | None]]:
        folder = tmp_path / f"parquet{n}"
        folder.mkdir()
        paths = [
            _parquet_file(
                folder / f"day{i:03d}.parquet",
                pa.table({"id": [f"{i}-{k}" for k in range(i + 1)], "n": pa.array(range(i + 1), pa.int32())}),
            )
            for i in range(n)
        ]
        (folder / "day000.parquet").write_bytes(b"id,n\n1,2\n")
        big = pa.table({"n": pa.array(range(100), pa.int64()), "id": [f"r{k}" for k in range(100)]})
        _parquet_file(folder / "day001.parquet", big, row_group_size=7)
        return [(p, None) for p in paths]

    jobs = {}
    for n in (3, 30):
        jobs[n], raws = _jobs_to_read(spark, f"parquet-{n}", landing(n))
        assert raws[0].error is not None
        assert raws[0].error.startswith("cannot be read as parquet: ")
        assert raws[1].header == ("n", "id")
        assert raws[1].records == 100
        assert _rows(raws[1]) == [(str(k), f"r{k}", k + 1, None) for k in range(100)]
        for i, raw in enumerate(raws[2:], start=2):
            assert raw.header == ("id", "n")
            assert raw.records == i + 1
            assert _rows(raw) == [(f"{i}-{k}", str(k), k + 1, None) for k in range(i + 1)]
        if n == 30:
            assert all(r.frame is raws[2].frame for r in raws[3:])
    assert jobs[30] == jobs[3] <= 4


def test_a_parquet_file_with_a_corrupt_page_is_unreadable_and_the_others_of_its_scan_are_read(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The footer is whole, so the file shares the others' scan; the pass that decodes every value
    fails on its page, and reading each file by itself then says whose it is."""
    table = pa.table({"id": [f"value-{k:05d}-" * 4 for k in range(2000)]})
    paths = [_parquet_file(tmp_path / f"day{i}.parquet", table.slice(0, 3)) for i in range(2)]
    pq.write_table(table, tmp_path / "bad.parquet", use_dictionary=False, compression="snappy")
    data = bytearray((tmp_path / "bad.parquet").read_bytes())
    data[len(data) // 3 : len(data) // 3 + 256] = bytes(256)
    (tmp_path / "bad.parquet").write_bytes(bytes(data))
    raws = read.read_files(spark, [(paths[0], None), (str(tmp_path / "bad.parquet"), None), (paths[1], None)])
    assert raws[1].error is not None
    assert raws[1].error.startswith("cannot be read as parquet: ")
    for raw in (raws[0], raws[2]):
        assert raw.header == ("id",)
        assert raw.records == 3
        assert _rows(raw) == [(f"value-{k:05d}-" * 4, k + 1, None) for k in range(3)]


def test_a_quoted_csv_whose_header_python_reads_at_another_width_is_read_by_itself(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The width a quoted file is scanned at comes from Python's csv module, which gives up on a
    field longer than its limit (128 KiB): Spark's parser has the last word, and the file it reads
    at another width is read by itself, the others still by their shared scan."""
    name = "x" * 200_000
    (tmp_path / "long.csv").write_text(f'"{name}",b\n"1",2\n', encoding="utf-8")
    (tmp_path / "short.csv").write_text('"a",b\n"3",4\n"5"\n', encoding="utf-8")
    raws = read.read_files(spark, [(str(tmp_path / "long.csv"), None), (str(tmp_path / "short.csv"), None)])
    assert raws[0].header == (name, "b")
    assert raws[0].records == 1
    assert _rows(raws[0]) == [("1", "2", 1, None)]
    assert raws[1].header == ("a", "b")
    assert raws[1].records == 2
    assert _rows(raws[1]) == [("3", "4", 1, None), ("5", None, 2, '"5"')]
    assert raws[0].frame is not raws[1].frame


def test_a_quoted_csv_the_parser_gives_up_on_is_unreadable_and_the_others_of_its_scan_are_read(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A record of more fields than the CSV parser allows (`maxColumns`, 20,480) fails the shared
    job; reading each file by itself then says whose it is."""
    (tmp_path / "wide.csv").write_text('"a",b\n"1",2\n' + "," * 30_000 + "\n", encoding="utf-8")
    (tmp_path / "good.csv").write_text('"a",b\n"3",4\n', encoding="utf-8")
    raws = read.read_files(spark, [(str(tmp_path / "wide.csv"), None), (str(tmp_path / "good.csv"), None)])
    assert raws[0].error is not None
    assert raws[0].error.startswith("cannot be read as csv: ")
    assert raws[1].header == ("a", "b")
    assert _rows(raws[1]) == [("3", "4", 1, None)]

"""Thin I/O: read a run's landing files as all-string columns with record numbers, or say why not.

Everything goes through Spark and the Hadoop FileSystem API (through the JVM), so a `gs://` URI
works exactly like a local path. A file is read whole or not at all: every check that can reject
it runs before any of its rows is handed on.

A feed is often many small files (a file per store per day, an hourly drop): what a file costs
must be its rows, not a Spark job of its own. So `read_files` looks at each file on the driver
(size, gzip trailer, encoding, delimiter: a few kilobytes through the FileSystem API, no Spark
job), then reads every CSV file of one delimiter in ONE text scan: one job finds the files that
are not valid UTF-8, counts each file's records and tells which files have quotes; the rows carry
their file in `_file` (Spark's `_metadata.file_path`). The quoted ones are then read by Spark's CSV
parser, one scan per header width and one job for all of them. The JSON Lines files are read by
one text scan, one job for their checks and counts and one that finds every file's keys; the
Parquet files by one scan per schema (read from each file's footer on the driver) and one job for
all of them; the JSON array files like the JSON Lines files, each element a line, by one scan that
reads a file whole (an array cannot be split). Only a file a shared job fails on (a corrupt Parquet
page, a record the CSV parser gives up on) is read by itself: the files of that job are then read
one by one to tell which.

- Format by name only (`spark.contract.FILE_FORMATS`, optionally `.gz`); anything else is unreadable.
- 0-byte and missing files, corrupt or truncated gzip (the whole stream is inflated in the JVM,
  trailer CRC included), invalid UTF-8 or NUL bytes in a text format, a file Spark cannot parse as
  the format its name says: unreadable, with the cause.
- Record numbers are 1-based, in file order, the CSV header not counted; a CSV record may span
  lines (quoted newlines), a JSON Lines record is a non-blank line.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import functools
import gzip
import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

from spark import contract, sniff
from spark.sources import AUTO, SourceSettings

# Internal column names of a raw frame (source columns are `_c0`, `_c1`, ... in header order).
RECORD_NUMBER = "_record_number"
CORRUPT = "_corrupt"
FILE = "_file"
"""The file a row comes from, as its frame names it (`RawFile.key`): the key of the file table the
job joins to every row."""
FIELD = "_value"
"""The column of `field_values`."""
_MID = "_mid"
# monotonically_increasing_id() puts the partition index in the upper 31 bits.
_PARTITION_SHIFT = 33


def source_column(index: int) -> str:
    """Name of the raw frame column holding the header's `index`-th column."""
    return f"_c{index}"


@dataclass
class RawFile:
    """One landing file read as strings.

    `frame` has the columns `_c0.._cN` (strings, in `header` order), `_record_number` (long,
    1-based), `_corrupt` (the raw text of a record that could not be parsed, else null) and
    `_file` (`key`). Files read by one scan share one `frame`: its rows of this file are those
    whose `_file` is `key`. `frame` is None and `error` says why when the file is unreadable.
    """

    uri: str
    file_format: str | None
    header: tuple[str, ...] = ()
    frame: DataFrame | None = None
    error: str | None = None
    delimiter: str = ","
    head_text: str = ""
    """The decoded first bytes of a text file (`sniff.HEAD_BYTES`), for the checks of its values."""
    read_settings: dict[str, Any] = field(default_factory=dict)
    """How the file was read and whether each choice was set or detected (reported per file)."""
    records: int | None = None
    """Records the read counted in the file itself (CSV: non-blank lines but the header; JSON
    Lines: non-blank lines; Parquet and JSON arrays: rows): what the job must account for."""
    key: str = ""
    """The value of `_file` on this file's rows."""
    source: str = ""
    """Where the rows are read from: `uri`, or a UTF-8 copy of it."""
    settings: SourceSettings = field(default_factory=SourceSettings)
    split_by_lines: bool = False
    """An unquoted CSV file, read by splitting its lines (`_split_lines`) instead of by the CSV parser."""
    lines: DataFrame | None = None
    """An unquoted CSV file's scan as text lines (`value`, `_file`), the header lines included:
    what `field_values` cuts one field out of."""

    @property
    def readable(self) -> bool:
        return self.error is None


class UnreadableFileError(Exception):
    """The file cannot be read whole; the message names the cause."""


def file_format(name: str) -> tuple[str | None, bool]:
    """Format and compression of a landing file, from its name alone.

    :param name: file name or URI, e.g. `gs://b/transactions/day1.csv.gz`.
    :returns: (`csv` | `jsonl` | `parquet` | None when unknown, gzip-compressed?).
    """
    lower = name.rsplit("/", 1)[-1].lower()
    compressed = lower.endswith(contract.COMPRESSED_SUFFIX)
    if compressed:
        lower = lower[: -len(contract.COMPRESSED_SUFFIX)]
    for suffix, fmt in contract.FILE_FORMATS.items():
        if lower.endswith(suffix):
            return fmt, compressed
    return None, compressed


# Hadoop FileSystem helpers (local paths and gs:// alike) ------------------------------------------


def _jvm(spark: SparkSession) -> Any:
    return spark.sparkContext._jvm


@dataclass
class _Java:
    """The Java classes and Hadoop file systems the driver-side checks use, looked up once per
    session: each step of `jvm.org.apache.hadoop.fs.Path` is a Py4J round trip, and a run of many
    small files makes a few calls per file."""

    gateway: Any
    path: Any
    gzip: Any
    bounded: Any
    io_utils: Any
    conf: Any
    file_systems: dict[str, Any] = field(default_factory=dict)


_JAVA: list[_Java] = []


def _java(spark: SparkSession) -> _Java:
    gateway = spark.sparkContext._gateway
    if not _JAVA or _JAVA[0].gateway is not gateway:
        jvm = _jvm(spark)
        _JAVA[:] = [
            _Java(
                gateway,
                jvm.org.apache.hadoop.fs.Path,
                jvm.java.util.zip.GZIPInputStream,
                jvm.org.apache.commons.io.input.BoundedInputStream,
                jvm.org.apache.commons.io.IOUtils,
                spark.sparkContext._jsc.hadoopConfiguration(),
            )
        ]
    return _JAVA[0]


def _hadoop_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    java = _java(spark)
    path = java.path(uri)
    parts = urlsplit(uri)
    if not parts.scheme:  # a relative path's file system also depends on the working directory
        return path, path.getFileSystem(java.conf)
    root = f"{parts.scheme}://{parts.netloc}"
    if root not in java.file_systems:
        java.file_systems[root] = path.getFileSystem(java.conf)
    return path, java.file_systems[root]


def file_size(spark: SparkSession, uri: str) -> int | None:
    """Size in bytes of a file, or None when there is no such file (a local one asked of the OS,
    like its first bytes in `head_bytes`)."""
    local = _local_path(uri)
    if local is not None:
        return local.stat().st_size if local.is_file() else None
    path, fs = _hadoop_path(spark, uri)
    if not fs.exists(path):
        return None
    status = fs.getFileStatus(path)
    return None if status.isDirectory() else int(status.getLen())


def _local_path(uri: str) -> Path | None:
    """The local path of a plain path or `file:` URI, else None."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(uri) if not parts.scheme else None


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write (overwrite) a small UTF-8 text file."""
    path, fs = _hadoop_path(spark, uri)
    fs.setWriteChecksum(False)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def read_text(spark: SparkSession, uri: str) -> str:
    """Read a small UTF-8 text file whole."""
    return "\n".join(r.value for r in spark.read.text(uri, wholetext=True).collect())


def delete(spark: SparkSession, uri: str) -> None:
    """Delete a file or folder recursively (no error when it does not exist)."""
    path, fs = _hadoop_path(spark, uri)
    fs.delete(path, True)


def _check_gzip(spark: SparkSession, uri: str) -> None:
    """Inflate the whole gzip stream in the JVM (CRC and length trailer checked)."""
    jvm = _jvm(spark)
    path, fs = _hadoop_path(spark, uri)
    stream = _java(spark).gzip(fs.open(path), 1 << 16)
    try:
        stream.transferTo(jvm.java.io.OutputStream.nullOutputStream())
    finally:
        stream.close()


def _gunzip_to(spark: SparkSession, uri: str, target: str) -> None:
    jvm = _jvm(spark)
    src, src_fs = _hadoop_path(spark, uri)
    dst, dst_fs = _hadoop_path(spark, target)
    stream = jvm.java.util.zip.GZIPInputStream(src_fs.open(src), 1 << 16)
    out = dst_fs.create(dst, True)
    try:
        stream.transferTo(out)
    finally:
        stream.close()
        out.close()


def _open(spark: SparkSession, uri: str, compressed: bool) -> Any:
    path, fs = _hadoop_path(spark, uri)
    stream = fs.open(path)
    return _java(spark).gzip(stream, 1 << 16) if compressed else stream


def head_bytes(spark: SparkSession, uri: str, compressed: bool, size: int) -> bytes:
    """The first `size` bytes of a file's content (inflated when it is gzip-compressed).

    A local file is read by Python itself: a reply of more than a few kilobytes over Py4J waits
    about 40 ms for the socket (measured: 4 KiB 2 ms, 16 KiB 43 ms), which a landing of hundreds
    of small files would pay per file. Any other file system goes through Hadoop's, as a Latin-1
    string (Py4J hands a Java byte[] over one element at a time, about 20 ms per MiB)."""
    local = _local_path(uri)
    if local is not None:
        with (gzip.open if compressed else open)(local, "rb") as handle:
            return handle.read(size)
    stream = _open(spark, uri, compressed)
    java = _java(spark)
    try:
        head = java.io_utils.toString(java.bounded(stream, size), "ISO-8859-1")
    finally:
        stream.close()
    return str(head).encode("latin-1")


# Python's canonical codec names that Java spells otherwise (`java.nio.charset.Charset` aliases).
_JAVA_CHARSETS = {"iso8859-1": "ISO-8859-1", "latin-1": "ISO-8859-1", "mac-roman": "x-MacRoman"}


def _java_charset(spark: SparkSession, name: str) -> Any:
    charset = _jvm(spark).java.nio.charset.Charset
    python_name = codecs.lookup(name).name
    candidates = [name, _JAVA_CHARSETS.get(python_name, python_name)]
    candidates.append(re.sub(r"^iso8859-(\d+)$", r"ISO-8859-\1", python_name))
    for candidate in candidates:
        if charset.isSupported(candidate):
            return charset.forName(candidate)
    raise UnreadableFileError(
        f"encoding {name!r} is not supported by the JVM: set another name in sources.yaml"
    )


def _transcode_to(spark: SparkSession, uri: str, compressed: bool, encoding: str, target: str) -> None:
    """Copy a text file to `target` as UTF-8 (and uncompressed): every reader after it then reads
    UTF-8, the one encoding Spark's line reader knows."""
    jvm = _jvm(spark)
    reader = jvm.java.io.InputStreamReader(_open(spark, uri, compressed), _java_charset(spark, encoding))
    dst, dst_fs = _hadoop_path(spark, target)
    writer = jvm.java.io.OutputStreamWriter(
        dst_fs.create(dst, True), jvm.java.nio.charset.StandardCharsets.UTF_8
    )
    try:
        reader.transferTo(writer)
    finally:
        reader.close()
        writer.close()


def _java_cause(exc: BaseException) -> str:
    """The innermost Java exception of a Py4J / Spark error (or the Python message), on one line."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        root = java
        while root.getCause() is not None and root.getCause() is not root:
            root = root.getCause()
        text = str(root.toString())
    else:
        text = str(exc)
        causes = re.findall(r"Caused by: ([^\n]+)", text)
        text = causes[-1] if causes else text
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(exc).__name__).strip()[:300]


# Record numbers ---------------------------------------------------------------------------------


def _with_record_numbers(df: DataFrame, counts: dict[int, int], first: int = 1) -> DataFrame:
    """Turn `_mid` (monotonically_increasing_id of the scan) into a record number.

    :param counts: rows per scan partition index, from a pass over the same frame.
    :param first: the number of the frame's first row (1; 0 when that row is a header to drop).
    """
    partition = F.shiftright(F.col(_MID), _PARTITION_SHIFT)
    within = F.col(_MID) - F.shiftleft(partition, _PARTITION_SHIFT)
    offsets: list[Column] = []
    running = 0
    for index in sorted(counts):
        offsets += [F.lit(index), F.lit(running)]
        running += counts[index]
    offset = (
        F.coalesce(F.try_element_at(F.create_map(*offsets), partition), F.lit(0)) if offsets else F.lit(0)
    )
    return df.withColumn(RECORD_NUMBER, (offset + within + first).cast("bigint")).drop(_MID)


def _unique_header(names: list[str | None]) -> tuple[str, ...]:
    """Header names as given (BOM removed), made unique: empty -> `column_<n>`, repeats -> `<name>_<k>`."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for i, raw in enumerate(names):
        name = (raw or "").replace("\ufeff", "")
        if not name.strip():
            name = f"column_{i + 1}"
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}_{seen[base]}"
        seen.setdefault(name, 1)
        out.append(name)
    return tuple(out)


# CSV: one text scan per delimiter -----------------------------------------------------------------


def csv_options(delimiter: str, *, multi_line: bool) -> dict[str, str]:
    """Options of Spark's CSV reader for a landing file (quotes and doubled quotes as RFC 4180)."""
    return {
        "sep": delimiter,
        "quote": '"',
        "escape": '"',
        "multiLine": "true" if multi_line else "false",
        "encoding": "UTF-8",
        "mode": "PERMISSIVE",
    }


def _scan_key(path: str) -> str:
    """A file's path in one spelling, whichever way it was written (`/tmp/a b.csv`,
    `file:///tmp/a%20b.csv`, Spark's `file:/tmp/a%20b.csv`), to match a scan's `_metadata.file_path`
    to the file the job asked for."""
    parts = urlsplit(path)
    if not parts.scheme:
        return "file://" + str(Path(path).absolute())
    return f"{parts.scheme}://{parts.netloc}{unquote(parts.path)}"


@dataclass
class _ScanStats:
    """What one pass over a CSV scan found in one file."""

    path: str = ""
    """The file as the scan names it (`_metadata.file_path`)."""
    lines: int = 0
    """Non-empty lines, the header's included."""
    non_blank: int = 0
    bad_utf8: int = 0
    nul: int = 0
    quoted: int = 0
    """Lines with a quote character or of whitespace only: a record may then span lines, so the
    file needs the CSV parser (one partition) instead of being split line by line."""
    chunks: list[tuple[int, int, int]] = field(default_factory=list)
    """(block start, first row id, rows) per split of the file."""


def _text_lines(spark: SparkSession, sources: list[str]) -> DataFrame:
    """Every line of the files (Hadoop's line breaks: LF, CR, CRLF) with its file and the split it
    was read in."""
    return spark.read.text(sources).select(
        "value",
        F.col("_metadata.file_path").alias(FILE),
        F.col("_metadata.file_block_start").alias("_block"),
    )


def _scan_lines(spark: SparkSession, sources: list[str]) -> DataFrame:
    """Every non-empty line of the files with its file, the split it was read in, and a row id
    (`_mid`) that is the same in every pass over the scan."""
    return (
        _text_lines(spark, sources)
        .where(F.col("value") != F.lit(""))
        .withColumn(_MID, F.monotonically_increasing_id())
    )


def _scan_stats(lines: DataFrame) -> dict[str, _ScanStats]:
    """One job over the scan: per file, the checks that make it unreadable and its line counts."""
    value = F.col("value")
    blank_only = F.when(F.ascii(value) <= 32, value.rlike("^[\\x00-\\x20]+$")).otherwise(False)
    found = _splits(
        lines,
        F.count(F.when(F.btrim(value) != F.lit(""), 1)).alias("non_blank"),
        F.count(F.when(~F.is_valid_utf8(value), 1)).alias("bad_utf8"),
        F.count(F.when(value.contains("\x00"), 1)).alias("nul"),
        F.count(F.when(value.contains('"') | blank_only, 1)).alias("quoted"),
    )
    return {
        key: _ScanStats(
            path=splits[0][FILE],
            lines=_total(splits, "rows"),
            non_blank=_total(splits, "non_blank"),
            bad_utf8=_total(splits, "bad_utf8"),
            nul=_total(splits, "nul"),
            quoted=_total(splits, "quoted"),
            chunks=_chunks(splits),
        )
        for key, splits in found.items()
    }


def _header_line(text: str) -> str:
    """The first non-empty line of a file's first bytes, as Hadoop breaks lines (BOM removed)."""
    for line in re.split("\r\n|\r|\n", text.lstrip("\ufeff")):
        if line:
            return line
    return ""


def _bases(chunks: list[tuple[int, int, int]], first: int) -> list[tuple[int, int]]:
    """(split, base) per split of one file, from its (split, first row id, rows): a row's number in
    its file is its row id plus its split's base. A file's rows are consecutive ids within a scan
    task whichever files share the task, and its splits are in file order, so the base is the rows
    of the earlier splits minus the split's first id, plus the number of the file's first row."""
    bases = []
    before = first
    for split, start, rows in sorted(chunks):
        bases.append((split, before - start))
        before += rows
    return bases


def _numbered(
    scan: DataFrame,
    files: list[tuple[str, list[tuple[int, int, int]], tuple[Any, ...]]],
    first: int,
    extra: str = "",
) -> DataFrame:
    """The scan's rows of the files with their number in their file (`_record_number`, `first` for a
    file's first row) and the files' own values of the `extra` columns (DDL, e.g. `_width int`);
    rows of other files of the scan dropped.

    :param scan: rows with `_file`, `_block` (the split they were read in) and `_mid`.
    :param files: (path as the scan names it, (split, first row id, rows) per split, extra values).
    """
    rows = [
        (path, split, base, *values)
        for path, splits, values in files
        for split, base in _bases(splits, first)
    ]
    columns = f"{FILE} string, _block long, _base long" + (f", {extra}" if extra else "")
    table = scan.sparkSession.createDataFrame(rows, columns)
    number = (F.col(_MID) + F.col("_base")).cast("bigint")
    return scan.join(F.broadcast(table), [FILE, "_block"]).withColumn(RECORD_NUMBER, number)


def _splits(scan: DataFrame, *aggregates: Column) -> dict[str, list[Row]]:
    """One job over a scan: per file (by `_scan_key`) its splits in file order, each with its first
    row id (`first`), its rows (`rows`) and the `aggregates`: what `_numbered` numbers records by
    and what tells a file unreadable."""
    rows = (
        scan.groupBy(FILE, "_block")
        .agg(F.min(_MID).alias("first"), F.count(F.lit(1)).alias("rows"), *aggregates)
        .collect()
    )
    found: dict[str, list[Row]] = {}
    for r in sorted(rows, key=lambda r: int(r["_block"])):
        found.setdefault(_scan_key(r[FILE]), []).append(r)
    return found


def _total(splits: list[Row], name: str) -> int:
    """A file's figure `name` (`rows` or an aggregate of `_splits`), over its splits."""
    return sum(int(r[name]) for r in splits)


def _chunks(splits: list[Row]) -> list[tuple[int, int, int]]:
    return [(int(r["_block"]), int(r["first"]), int(r["rows"])) for r in splits]


def _split_lines(lines: DataFrame, files: list[tuple[RawFile, _ScanStats]], delimiter: str) -> DataFrame:
    """The lines of unquoted CSV files split on the delimiter, numbered per file.

    Without a quote character a record is a line and a field the text between two delimiters, so
    this gives what Spark's CSV reader gives: the same values, empty fields as null, and a record
    with more or fewer fields than its file's header flagged with its line in `_corrupt`, its first
    fields kept (`tests/spark/test_spark_read.py` compares the two). Kept because it pays on the
    data: the CSV reader decodes every line into a Java string, tokenizes it character by
    character and encodes every field back, over half of the cleaning pass's CPU at 10M rows.

    A record's number is its line's position in its file: the row id minus the first row id of
    its split, plus the lines of the file's earlier splits (the header is line 0, dropped).
    """
    numbered = _numbered(
        lines, [(stats.path, stats.chunks, (len(raw.header),)) for raw, stats in files], 0, "_width int"
    )
    width = max(len(raw.header) for raw, _ in files)
    tokens = "_tokens"
    split = numbered.select(
        F.split(F.col("value"), re.escape(delimiter), -1).alias(tokens),
        "value",
        FILE,
        RECORD_NUMBER,
        "_width",
    )
    return split.select(
        *[F.nullif(F.get(F.col(tokens), i), F.lit("")).alias(source_column(i)) for i in range(width)],
        F.when(F.size(tokens) != F.col("_width"), F.col("value")).alias(CORRUPT),
        RECORD_NUMBER,
        FILE,
    ).where(F.col(RECORD_NUMBER) > 0)


def _read_csv_scan(spark: SparkSession, files: list[RawFile]) -> None:
    """Read CSV files of one delimiter: one scan and one job for all of them; the quoted ones then
    by Spark's CSV reader (`_read_quoted_csv_files`)."""
    delimiter = files[0].delimiter
    lines = _scan_lines(spark, [f.source for f in files])
    found = _scan_stats(lines)
    unquoted: list[tuple[RawFile, _ScanStats]] = []
    quoted: list[RawFile] = []
    for raw in files:
        stats = found.get(_scan_key(raw.source), _ScanStats())
        if stats.bad_utf8:
            raw.error = f"not valid UTF-8 text ({stats.bad_utf8} line(s) with invalid bytes)"
        elif stats.nul:
            raw.error = "binary content (NUL bytes) in a text format"
        elif stats.non_blank == 0:
            raw.error = "no header row (the file holds no text)"
        elif stats.quoted:
            quoted.append(raw)
        else:
            raw.header = _unique_header(
                [name or None for name in _header_line(raw.head_text).split(delimiter)]
            )
            raw.records = stats.lines - 1
            raw.key = stats.path
            raw.split_by_lines = True
            unquoted.append((raw, stats))
    if unquoted:
        frame = _split_lines(lines, unquoted, delimiter)
        for raw, _ in unquoted:
            raw.frame, raw.lines = frame, lines
    _read_quoted_csv_files(spark, quoted, delimiter)


def _header_width(text: str, delimiter: str) -> int:
    """The fields of a CSV file's first record as Python's csv module reads the file's first bytes:
    the width to read it at, so that the files of one width share a scan. Spark's parser has the
    last word: a file whose first record it reads at another width is read by itself."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter, quotechar='"')
    try:
        return next((len(row) for row in reader if row), 1)
    except csv.Error:
        return 1


def _read_quoted_csv_files(spark: SparkSession, files: list[RawFile], delimiter: str) -> None:
    """Quoted CSV files of one delimiter: one scan per header width (Spark's CSV reader checks every
    record's width against one schema), usually one for them all, and one job for all the scans
    that counts each file's records and reads its header (its first record). A record with more
    or fewer fields than its file's header is flagged in `_corrupt` by the reader itself. A file
    the parser fails on, or whose header it reads at another width, is read by itself
    (`_read_quoted_csv`), which says why it cannot be read."""
    if not files:
        return
    by_width: dict[int, list[RawFile]] = {}
    for raw in files:
        by_width.setdefault(_header_width(raw.head_text, delimiter), []).append(raw)
    scans = {
        width: _quoted_records(spark, [f.source for f in group], delimiter, width)
        for width, group in by_width.items()
    }
    heads = [
        records.select(FILE, "_block", _MID, F.array(*_columns(width)).alias("_head"), CORRUPT)
        for width, records in scans.items()
    ]
    try:
        found = _splits(
            functools.reduce(DataFrame.union, heads),
            F.min_by(F.struct("_head", CORRUPT), F.col(_MID)).alias("head"),
        )
    except Exception:  # a Spark read error: each file by itself tells whose
        for raw in files:
            _read_quoted_csv(spark, raw)
        return
    for width, group in by_width.items():
        _number_quoted(spark, scans[width], group, found, width)


def _columns(width: int) -> list[str]:
    return [source_column(i) for i in range(width)]


def _quoted_records(spark: SparkSession, sources: list[str], delimiter: str, width: int) -> DataFrame:
    """Spark's CSV reader over quoted files (fields with delimiters, line breaks and doubled quotes),
    each file's header read as its first record, with its file, its split and a row id (`_mid`)
    that is the same in every pass. A file is never split (a quoted field may hold a line break),
    but small files share a scan task."""
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in _columns(width)] + [T.StructField(CORRUPT, T.StringType())]
    )
    options = csv_options(delimiter, multi_line=True)
    return (
        spark.read.options(header="false", columnNameOfCorruptRecord=CORRUPT, **options)
        .schema(schema)
        .csv(sources)
        .select(
            "*",
            F.col("_metadata.file_path").alias(FILE),
            F.col("_metadata.file_block_start").alias("_block"),
        )
        .withColumn(_MID, F.monotonically_increasing_id())
    )


def _number_quoted(
    spark: SparkSession, records: DataFrame, files: list[RawFile], found: dict[str, list[Row]], width: int
) -> None:
    """Each file's header, records and frame, from its splits of the scan (`found`); its header is
    record 0, dropped."""
    numbered: list[tuple[RawFile, list[Row]]] = []
    for raw in files:
        splits = found.get(_scan_key(raw.source))
        if not splits:
            raw.error = "no header row"
        elif splits[0]["head"][CORRUPT] is not None:
            _read_quoted_csv(spark, raw)
        else:
            raw.header = _unique_header(list(splits[0]["head"]["_head"]))
            raw.records = sum(int(r["rows"]) for r in splits) - 1
            raw.key = splits[0][FILE]
            numbered.append((raw, splits))
    if not numbered:
        return
    frame = (
        _numbered(records, [(raw.key, _chunks(splits), ()) for raw, splits in numbered], 0)
        .select(*_columns(width), CORRUPT, RECORD_NUMBER, FILE)
        .where(F.col(RECORD_NUMBER) > 0)
    )
    for raw, _ in numbered:
        raw.frame = frame


def field_values(files: Sequence[tuple[RawFile, int]]) -> list[DataFrame]:
    """The `index`-th header field of every record of each (file, index), in a column `_value`, as
    cheaply as the format allows: for a pass that reads nothing but one field (the key-only pass
    of `transform.duplicate_candidates`).

    An unquoted CSV file's field is cut out of its raw line (`substring_index` works on the bytes)
    instead of splitting the line into all its fields: at 10M rows the split made that pass about
    three times the CPU (`make bench-clean`, bench/README.md). The values may be a few more than
    the records: the header line's name, and a short line's last field in place of a missing one,
    which can only make a few more rows look like duplicate candidates.

    Any other file's field is its frame's column, one pass per shared frame and field position
    (the files of one scan share their frame).

    :returns: one frame per scan and field position (usually one per format).
    """
    by_lines: dict[tuple[int, int], tuple[RawFile, list[str]]] = {}
    by_frame: dict[tuple[int, int], tuple[RawFile, list[str]]] = {}
    for raw, index in files:
        if raw.lines is None:
            by_frame.setdefault((id(raw.frame), index), (raw, []))[1].append(raw.key)
        else:
            by_lines.setdefault((id(raw.lines), index), (raw, []))[1].append(raw.key)
    frames = []
    for (_, index), (raw, keys) in by_frame.items():
        assert raw.frame is not None
        frames.append(
            raw.frame.where(F.col(FILE).isin(keys)).select(F.col(source_column(index)).alias(FIELD))
        )
    for (_, index), (raw, keys) in by_lines.items():
        assert raw.lines is not None
        field = F.substring_index(F.col("value"), raw.delimiter, index + 1)
        if index:
            field = F.substring_index(field, raw.delimiter, -1)
        frames.append(raw.lines.where(F.col(FILE).isin(keys)).select(field.alias(FIELD)))
    return frames


def _read_quoted_csv(spark: SparkSession, raw: RawFile) -> None:
    """One quoted CSV file by itself (a scan and a few jobs of its own): how a file the shared scan
    failed on tells why it cannot be read, and how a file whose first record Spark's parser reads at
    another width than `_header_width` is read."""
    options = csv_options(raw.delimiter, multi_line=True)
    try:
        first = spark.read.options(header="false", **options).csv(raw.source).first()
        if first is None:
            raise UnreadableFileError("no header row")
        raw.header = _unique_header(list(first))
        frame = _csv_records(spark, raw.source, options, len(raw.header))
        raw.records = frame.count()
    except UnreadableFileError as exc:
        raw.error = str(exc)
        return
    except Exception as exc:  # a Spark/Hadoop read error
        raw.error = f"cannot be read as csv: {_java_cause(exc)}"
        return
    raw.key = raw.uri
    raw.frame = frame.withColumn(FILE, F.lit(raw.key))


def _csv_records(spark: SparkSession, uri: str, options: dict[str, str], width: int) -> DataFrame:
    """Spark's CSV reader, for a file with quotes (fields with delimiters, line breaks and doubled
    quotes): one partition, scanned in record order."""
    schema = T.StructType(
        [T.StructField(source_column(i), T.StringType()) for i in range(width)]
        + [T.StructField(CORRUPT, T.StringType())]
    )
    frame = (
        spark.read.options(header="true", enforceSchema="true", columnNameOfCorruptRecord=CORRUPT, **options)
        .schema(schema)
        .csv(uri)
        .withColumn(_MID, F.monotonically_increasing_id())
    )
    return _with_record_numbers(frame, {0: 0})


def _jsonl_lines(spark: SparkSession, sources: list[str]) -> DataFrame:
    """Every non-blank line of JSON Lines files (a BOM at its start removed) with its file, its split,
    a row id (`_mid`) that is the same in every pass, its keys (`_keys`, null when the line is not
    a JSON object) and whether its bytes are valid UTF-8 (`_utf8`): told before the BOM is
    removed, since a regular expression replaces invalid bytes with U+FFFD."""
    value = F.col("value")
    return (
        _text_lines(spark, sources)
        .where(F.length(F.btrim(value)) > 0)
        .select(
            F.regexp_replace(value, "^\ufeff", "").alias("value"),
            F.is_valid_utf8(value).alias("_utf8"),
            FILE,
            "_block",
        )
        .withColumn(_MID, F.monotonically_increasing_id())
        .withColumn("_keys", F.json_object_keys("value"))
    )


def _json_array_elements(spark: SparkSession, sources: list[str]) -> DataFrame:
    """The elements of JSON array files as the lines of `_jsonl_lines`, each element's JSON text a
    line: one whole-text scan (a file is one row: an array cannot be split), the array parsed into
    its elements' texts (a nested value keeps its JSON), numbered from 0 in `_mid` within the
    file's one split. A file that is not a JSON array with elements is one line of its whole text,
    so that the checks on lines (UTF-8, NUL bytes, no JSON object) tell why."""
    text = F.regexp_replace(F.col("value"), "^\ufeff", "")
    elements = F.from_json(text, "array<string>")
    files = spark.read.text(sources, wholetext=True).select(
        F.when(F.size(elements) > 0, elements).otherwise(F.array(text)).alias("_elements"),
        F.is_valid_utf8("value").alias("_utf8"),
        F.col("_metadata.file_path").alias(FILE),
        F.lit(0).cast("bigint").alias("_block"),
    )
    return files.select(F.posexplode("_elements").alias(_MID, "value"), "_utf8", FILE, "_block").withColumn(
        "_keys", F.json_object_keys("value")
    )


def _read_jsonl_files(spark: SparkSession, files: list[RawFile], *, arrays: bool = False) -> None:
    """JSON Lines files (or, `arrays`, JSON array files, each element a line): one text scan for
    them all, one job that finds the files that are not valid UTF-8, hold NUL bytes or no JSON
    object and counts each file's records, and one that finds each file's keys (its header) in
    order of first appearance. The files then share one frame: every record is parsed once against
    all their keys and a file's columns are picked by position (`_jsonl_frame`)."""
    if not files:
        return
    sources = [f.source for f in files]
    lines = _json_array_elements(spark, sources) if arrays else _jsonl_lines(spark, sources)
    found = _splits(
        lines,
        F.count("_keys").alias("objects"),
        F.count(F.when(~F.col("_utf8"), 1)).alias("bad_utf8"),
        F.count(F.when(F.instr("value", "\x00") > 0, 1)).alias("nul"),
    )
    keys = _first_keys(lines)
    readable: list[tuple[RawFile, list[Row], list[str]]] = []
    for raw in files:
        splits = found.get(_scan_key(raw.source), [])
        total = {name: _total(splits, name) for name in ("rows", "objects", "bad_utf8", "nul")}
        if total["bad_utf8"]:
            raw.error = "not valid UTF-8 text"
        elif total["nul"]:
            raw.error = "binary content (NUL bytes) in a text format"
        elif arrays and not total["objects"]:
            raw.error = "not a JSON array of records (no element is an object with keys)"
        elif total["rows"] and not total["objects"]:
            raw.error = "not JSON Lines: no line is a JSON object"
        else:
            raw.records = total["rows"]
            raw.key = splits[0][FILE] if splits else raw.source
            file_keys = keys.get(_scan_key(raw.source), [])
            raw.header = _unique_header(list(file_keys))
            readable.append((raw, splits, file_keys))
    if readable:
        frame = _jsonl_frame(lines, readable)
        for raw, _, _ in readable:
            raw.frame = frame


def _first_keys(lines: DataFrame) -> dict[str, list[str]]:
    """Each file's keys in order of first appearance (record, then position in the record)."""
    rows = (
        lines.select(FILE, "_block", _MID, F.posexplode("_keys").alias("pos", "key"))
        .groupBy(FILE, "key")
        .agg(F.min(F.struct("_block", _MID, "pos")).alias("first"))
        .collect()
    )
    keys: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: tuple(r["first"])):
        keys.setdefault(_scan_key(r[FILE]), []).append(r["key"])
    return keys


def _jsonl_frame(lines: DataFrame, files: list[tuple[RawFile, list[Row], list[str]]]) -> DataFrame:
    """The files' records numbered in their file, `_c<i>` the value of the file's `i`-th key (as
    text; a nested value as its JSON) and `_corrupt` the line when it is not a JSON object.

    Files of a feed may differ in their keys and order (an optional key absent from a day), so
    each line is parsed once against the keys of all the files (a key a file does not have is
    null in all its lines) and `_c<i>` is picked by the position of the file's key among them."""
    union = list(dict.fromkeys(k for _, _, keys in files for k in keys))
    width = max(len(keys) for _, _, keys in files)
    numbered = _numbered(
        lines,
        [(raw.key, _chunks(splits), ([union.index(k) for k in keys],)) for raw, splits, keys in files],
        1,
        "_positions array<int>",
    )
    if union:  # parsed in a step of its own, so that the optimizer keeps one parse per line
        schema = T.StructType([T.StructField(k, T.StringType()) for k in union])
        numbered = numbered.withColumn("_parsed", F.from_json("value", schema)).withColumn(
            "_values", F.array(*[F.col("_parsed").getField(k) for k in union])
        )
    return numbered.select(
        *[
            F.get(F.col("_values"), F.get(F.col("_positions"), i)).alias(source_column(i))
            for i in range(width)
        ],
        F.when(F.col("_keys").isNull(), F.col("value")).alias(CORRUPT),
        RECORD_NUMBER,
        FILE,
    )


def _as_text(field: T.StructField) -> Column:
    col = F.col(f"`{field.name}`")
    dtype = field.dataType
    if isinstance(dtype, T.TimestampType):
        # An instant: written in UTC with its offset, never re-read in the source time zone.
        return F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    if isinstance(dtype, T.StructType | T.ArrayType | T.MapType):
        return F.to_json(col)
    if isinstance(dtype, T.BinaryType):
        return F.base64(col)
    return col.cast("string")


def _parquet_schema(spark: SparkSession, uri: str) -> T.StructType:
    """A Parquet file's schema as Spark's reader sees it (the schema Spark wrote in it, else its
    Parquet types converted by the session's settings), from its footer read on the driver: what
    `spark.read.parquet` infers, without the Spark job it runs for it."""
    jvm = _jvm(spark)
    path, _ = _hadoop_path(spark, uri)
    parquet = jvm.org.apache.spark.sql.execution.datasources.parquet
    footer = jvm.org.apache.parquet.hadoop.Footer(
        path, jvm.org.apache.parquet.hadoop.ParquetFileReader.readFooter(_java(spark).conf, path)
    )
    converter = parquet.ParquetToSparkSchemaConverter(spark._jsparkSession.sessionState().conf())
    schema = parquet.ParquetFileFormat.readSchemaFromFooter(footer, converter)
    return T.StructType.fromJson(json.loads(schema.json()))


def _parquet_records(spark: SparkSession, sources: list[str], schema: T.StructType) -> DataFrame:
    """Parquet files of one schema as text columns, a record's number its row's index in its file."""
    return (
        spark.read.schema(schema)
        .parquet(*sources)
        .select(
            *[_as_text(f).alias(source_column(i)) for i, f in enumerate(schema.fields)],
            F.lit(None).cast("string").alias(CORRUPT),
            (F.col("_metadata.row_index") + 1).alias(RECORD_NUMBER),
            F.col("_metadata.file_path").alias(FILE),
        )
    )


def _parquet_counts(frame: DataFrame, width: int) -> DataFrame:
    """Rows per file, by a pass that decodes every value: a corrupt page is found here, not while
    writing."""
    checksum = F.max(F.xxhash64(*_columns(width))) if width else F.lit(0)
    return frame.groupBy(FILE).agg(F.count(F.lit(1)).alias("rows"), checksum.cast("bigint").alias("checksum"))


def _read_parquet_files(spark: SparkSession, files: list[RawFile]) -> None:
    """Parquet files: each one's schema from its footer (no Spark job), one scan per distinct schema
    and one job for all the scans that counts each file's rows. When that job fails (a corrupt
    page), each file is read by itself, which tells whose."""
    by_schema: dict[str, tuple[T.StructType, list[RawFile]]] = {}
    for raw in files:
        try:
            schema = _parquet_schema(spark, raw.source)
        except Exception as exc:  # not Parquet, or a footer that cannot be read
            raw.error = f"cannot be read as parquet: {_java_cause(exc)}"
            continue
        by_schema.setdefault(schema.json(), (schema, []))[1].append(raw)
    if not by_schema:
        return
    scans = [
        (schema, group, _parquet_records(spark, [f.source for f in group], schema))
        for schema, group in by_schema.values()
    ]
    try:
        counts = _file_rows(
            functools.reduce(
                DataFrame.union, [_parquet_counts(frame, len(schema)) for schema, _, frame in scans]
            )
        )
    except Exception:  # a Spark read error: each file by itself tells whose
        for schema, group, _ in scans:
            for raw in group:
                _read_parquet_file(spark, raw, schema)
        return
    for schema, group, frame in scans:
        for raw in group:
            _take_parquet(raw, schema, frame, counts)


def _file_rows(counts: DataFrame) -> dict[str, tuple[str, int]]:
    """(path as the scan names it, rows) per file (by `_scan_key`)."""
    return {_scan_key(r[FILE]): (r[FILE], int(r["rows"])) for r in counts.collect()}


def _take_parquet(
    raw: RawFile, schema: T.StructType, frame: DataFrame, counts: dict[str, tuple[str, int]]
) -> None:
    raw.header = _unique_header(list(schema.names))
    raw.key, raw.records = counts.get(_scan_key(raw.source), (raw.source, 0))
    raw.frame = frame


def _read_parquet_file(spark: SparkSession, raw: RawFile, schema: T.StructType) -> None:
    """One Parquet file by itself (a scan it shared failed): readable, or why not."""
    frame = _parquet_records(spark, [raw.source], schema)
    try:
        counts = _file_rows(_parquet_counts(frame, len(schema)))
    except Exception as exc:
        raw.error = f"cannot be read as parquet: {_java_cause(exc)}"
        return
    _take_parquet(raw, schema, frame, counts)


def _utf8_copy(
    spark: SparkSession, uri: str, compressed: bool, settings: SourceSettings, work_dir: str | None
) -> tuple[str, bool, str, dict[str, Any]]:
    """Where to read a text file as UTF-8: the file itself, or a UTF-8 copy under `work_dir` when its
    encoding (set, or detected from its first bytes) is another.

    :returns: (uri to read, still compressed?, its decoded first bytes, what was decided).
    """
    head = head_bytes(spark, uri, compressed, sniff.HEAD_BYTES)
    if settings.encoding != AUTO:
        encoding = sniff.Encoding(settings.encoding, 1.0, False)
    else:
        found = sniff.encoding_of(head, complete=len(head) < sniff.HEAD_BYTES)
        if found is None:
            raise UnreadableFileError(
                "the text encoding cannot be told from the file's bytes: set `encoding` for this file "
                "in sources.yaml (e.g. cp1252, latin-1, utf-16)"
            )
        encoding = found
    source = "set" if settings.encoding != AUTO else "detected" if encoding.detected else "default"
    decided: dict[str, Any] = {"encoding": encoding.name, "encoding_source": source}
    if encoding.detected:
        decided["encoding_confidence"] = encoding.confidence
    if codecs.lookup(encoding.name).name == sniff.UTF8:
        return uri, compressed, head.decode(sniff.UTF8, errors="replace"), decided
    if work_dir is None:
        raise UnreadableFileError(f"a {encoding.name} file needs a work folder to be converted to UTF-8 in")
    name = uri.rsplit("/", 1)[-1].removesuffix(contract.COMPRESSED_SUFFIX)
    target = f"{work_dir.rstrip('/')}/{hashlib.sha256(uri.encode()).hexdigest()[:16]}-utf8-{name}"
    _transcode_to(spark, uri, compressed, encoding.name, target)
    text = head_bytes(spark, target, False, sniff.HEAD_BYTES).decode(sniff.UTF8, errors="replace")
    return target, False, text, decided


def _open_file(spark: SparkSession, uri: str, settings: SourceSettings, work_dir: str | None) -> RawFile:
    """Everything about a file that its name and first bytes tell, through the FileSystem API (no
    Spark job): format, size, gzip trailer, encoding (a UTF-8 copy when it is another) and the CSV
    delimiter. The file is left for the scan it shares with the others of its format (`frame`
    None, no error)."""
    fmt, compressed = file_format(uri)
    raw = RawFile(uri, fmt, source=uri, settings=settings)
    if fmt is None:
        raw.error = (
            "unknown file extension (expected .csv, .json, .jsonl, .ndjson or .parquet, optionally .gz)"
        )
        return raw
    try:
        size = file_size(spark, uri)
        if size is None:
            raise UnreadableFileError("no such file")
        if size == 0:
            raise UnreadableFileError("empty file (0 bytes)")
        if compressed:
            try:
                _check_gzip(spark, uri)
            except Exception as exc:
                raise UnreadableFileError(f"corrupt or truncated gzip: {_java_cause(exc)}") from exc
        if fmt == "parquet":
            target = uri
            if compressed:
                if work_dir is None:
                    raise UnreadableFileError("a .parquet.gz file needs a work folder to be inflated into")
                target = f"{work_dir.rstrip('/')}/{hashlib.sha256(uri.encode()).hexdigest()[:16]}.parquet"
                _gunzip_to(spark, uri, target)
            raw.source = target
            return raw
        raw.source, _, raw.head_text, raw.read_settings = _utf8_copy(
            spark, uri, compressed, settings, work_dir
        )
        if fmt == "json":
            layout = sniff.json_layout(raw.head_text)
            raw.read_settings["json_layout"] = layout
            if layout is None:
                raise UnreadableFileError(
                    "not JSON: a .json file holds an array of records or one record per line"
                )
            if layout == "array":
                return raw
            fmt = raw.file_format = "jsonl"
        if fmt == "jsonl":
            return raw
        if settings.delimiter == AUTO:
            raw.delimiter = sniff.delimiter_of(sniff.first_line(raw.head_text))
            raw.read_settings.update(delimiter=raw.delimiter, delimiter_source="detected")
        else:
            raw.delimiter = settings.delimiter
            raw.read_settings.update(delimiter=raw.delimiter, delimiter_source="set")
    except UnreadableFileError as exc:
        raw.error = str(exc)
    except Exception as exc:  # a Spark/Hadoop read error: the file is not what its name says
        raw.error = f"cannot be read as {fmt}: {_java_cause(exc)}"
    return raw


def _retry_detected(spark: SparkSession, raw: RawFile, work_dir: str | None) -> RawFile | None:
    """A file left to `auto` that is plain ASCII at the start and another encoding later: its
    encoding detected from more of the file, or None when that does not tell."""
    _, compressed = file_format(raw.uri)
    sample = head_bytes(spark, raw.uri, compressed, sniff.DETECT_BYTES)
    found = sniff.encoding_of(sample, complete=len(sample) < sniff.DETECT_BYTES)
    if found is None or found.name == sniff.UTF8:
        return None
    retried = _open_file(spark, raw.uri, dataclasses.replace(raw.settings, encoding=found.name), work_dir)
    retried.settings = raw.settings
    retried.read_settings.update(encoding_source="detected", encoding_confidence=found.confidence)
    return retried


def read_files(
    spark: SparkSession,
    files: Sequence[tuple[str, SourceSettings | None]],
    *,
    work_dir: str | None = None,
) -> list[RawFile]:
    """Read landing files as all-string columns, or decide each one is unreadable.

    :param files: (local path or `gs://` URI, how to read it: `spark.sources`, encoding and
        delimiter each set or `auto`; None for auto) per file; a file's name decides its format.
    :param work_dir: folder for a decompressed `.parquet.gz` copy or a UTF-8 copy of another encoding.
    :returns: a `RawFile` per file, in order; never raises for a bad file (the error says which
        setting fixes it).
    """
    raws = [_open_file(spark, uri, settings or SourceSettings(), work_dir) for uri, settings in files]
    _read_scans(spark, raws)
    retry = [
        (i, r)
        for i, r in enumerate(raws)
        if r.error and r.error.startswith("not valid UTF-8") and r.settings.encoding == AUTO
    ]
    if retry:
        retried = {i: _retry_detected(spark, r, work_dir) for i, r in retry}
        _read_scans(spark, [r for r in retried.values() if r])
        for i, r in retry:
            again = retried[i]
            if again is None:
                r.error = f"{r.error}: set `encoding` for this file in sources.yaml (e.g. cp1252 or latin-1)"
            else:
                raws[i] = again
    return raws


def _read_scans(spark: SparkSession, raws: list[RawFile]) -> None:
    """Read the files `_open_file` left to a scan shared with the others of their format: the CSV
    files of each delimiter, the JSON Lines files, the Parquet files."""
    left = [r for r in raws if r.readable and r.frame is None]
    by_delimiter: dict[str, list[RawFile]] = {}
    for raw in left:
        if raw.file_format == "csv":
            by_delimiter.setdefault(raw.delimiter, []).append(raw)
    for group in by_delimiter.values():
        _read_csv_scan(spark, group)
    _read_jsonl_files(spark, [r for r in left if r.file_format == "jsonl"])
    _read_jsonl_files(spark, [r for r in left if r.file_format == "json"], arrays=True)
    _read_parquet_files(spark, [r for r in left if r.file_format == "parquet"])


def read_file(
    spark: SparkSession, uri: str, *, settings: SourceSettings | None = None, work_dir: str | None = None
) -> RawFile:
    """`read_files` for one file."""
    return read_files(spark, [(uri, settings)], work_dir=work_dir)[0]

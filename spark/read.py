"""Thin I/O: read one landing file as all-string columns with record numbers, or say why not.

Everything goes through Spark and the Hadoop FileSystem API (through the JVM), so a `gs://` URI
works exactly like a local path. A file is read whole or not at all: every check that can reject
it runs before any of its rows is handed on.

- Format by name only (`spark.contract.FILE_FORMATS`, optionally `.gz`); anything else is unreadable.
- 0-byte and missing files, corrupt or truncated gzip (the whole stream is inflated in the JVM,
  trailer CRC included), invalid UTF-8 or NUL bytes in a text format, a file Spark cannot parse as
  the format its name says: unreadable, with the cause.
- Record numbers are 1-based, in file order, the CSV header not counted; a CSV record may span
  lines (quoted newlines), a JSON Lines record is a non-blank line.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

from spark import contract, sniff
from spark.sources import AUTO, SourceSettings

# Internal column names of a raw frame (source columns are `_c0`, `_c1`, ... in header order).
RECORD_NUMBER = "_record_number"
CORRUPT = "_corrupt"
_MID = "_mid"
FIELD_VALUE = "_value"
# monotonically_increasing_id() puts the partition index in the upper 31 bits.
_PARTITION_SHIFT = 33


def source_column(index: int) -> str:
    """Name of the raw frame column holding the header's `index`-th column."""
    return f"_c{index}"


@dataclass(frozen=True)
class RawFile:
    """One landing file read as strings.

    `frame` has the columns `_c0.._cN` (strings, in `header` order), `_record_number` (long,
    1-based) and `_corrupt` (the raw text of a record that could not be parsed, else null).
    `frame` is None and `error` says why when the file is unreadable.
    """

    uri: str
    file_format: str | None
    header: tuple[str, ...] = ()
    frame: DataFrame | None = None
    error: str | None = None
    lines: DataFrame | None = None
    """A splittable CSV file's text lines (`value`), header and blank lines included."""
    delimiter: str = ","
    head_text: str = ""
    """The decoded first bytes of a text file (`sniff.HEAD_BYTES`), for the checks of its values."""
    read_settings: dict[str, Any] = field(default_factory=dict)
    """How the file was read and whether each choice was set or detected (reported per file)."""

    @property
    def readable(self) -> bool:
        return self.error is None

    def field_values(self, index: int) -> DataFrame:
        """The header's `index`-th field of every record (column `_value`), as cheaply as the
        format allows, for a pass that reads one field (`transform.duplicate_candidates`).

        A splittable CSV file's field is cut out of each line (`substring_index` works on the
        bytes) instead of splitting the whole line: about half the CPU of that pass at 10M rows.
        The values may then be a few more than the records': the header line's name, and a
        short line's last field in place of a missing one.
        """
        assert self.frame is not None
        if self.lines is None:
            return self.frame.select(F.col(source_column(index)).alias(FIELD_VALUE))
        field = F.substring_index(F.col("value"), self.delimiter, index + 1)
        if index:
            field = F.substring_index(field, self.delimiter, -1)
        return self.lines.select(field.alias(FIELD_VALUE))


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


def _hadoop_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = _jvm(spark)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(conf)


def file_size(spark: SparkSession, uri: str) -> int | None:
    """Size in bytes of a file, or None when there is no such file."""
    path, fs = _hadoop_path(spark, uri)
    if not fs.exists(path):
        return None
    status = fs.getFileStatus(path)
    return None if status.isDirectory() else int(status.getLen())


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
    stream = jvm.java.util.zip.GZIPInputStream(fs.open(path), 1 << 16)
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
    return _jvm(spark).java.util.zip.GZIPInputStream(stream, 1 << 16) if compressed else stream


def head_bytes(spark: SparkSession, uri: str, compressed: bool, size: int) -> bytes:
    """The first `size` bytes of a file's content (inflated when it is gzip-compressed)."""
    stream = _open(spark, uri, compressed)
    try:
        return bytes(stream.readNBytes(size))
    finally:
        stream.close()


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
    return df.withColumn(RECORD_NUMBER, (offset + within + first).cast(T.LongType())).drop(_MID)


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


# Formats ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TextStats:
    splittable: bool
    """No record can span lines: no quote character, no carriage return inside a line and no
    line of whitespace only, so the file may be parsed line by line in parallel, with the same
    records and record numbers."""
    lines_by_partition: dict[int, int]
    """Non-blank lines per scan partition (the CSV scan of the same file has the same splits)."""

    @property
    def lines(self) -> int:
        """Non-blank lines."""
        return sum(self.lines_by_partition.values())


def _text_check(spark: SparkSession, uri: str) -> _TextStats:
    """One pass over a text file: every line valid UTF-8, no NUL byte, and the line counts.

    The costly tests (regexes, splitting on CR) run only on the rare lines that need them, and
    byte searches (`contains`) stand in for `instr`, which counts characters.
    """
    # Split on LF only, so a carriage return inside a line is seen; non-blank lines are counted
    # as Hadoop splits them (CR, LF, CRLF).
    value = F.col("value")
    has_cr = value.contains("\r")
    cr_inside = F.when(has_cr, F.regexp_replace(value, "\r$", "").contains("\r")).otherwise(False)
    non_blank = F.when(has_cr, F.exists(F.split(value, "\r"), lambda p: F.length(F.btrim(p)) > 0)).otherwise(
        F.btrim(value) != F.lit("")
    )
    blank_only = F.when(F.ascii(value) <= 32, value.rlike("^[\\x00-\\x20]+$")).otherwise(False)
    rows = (
        spark.read.option("lineSep", "\n")
        .text(uri)
        .groupBy(F.spark_partition_id().alias("p"))
        .agg(
            F.sum(F.when(~F.is_valid_utf8(value), 1).otherwise(0)).alias("bad_utf8"),
            F.sum(F.when(value.contains("\x00"), 1).otherwise(0)).alias("nul"),
            F.count(F.when(non_blank, 1)).alias("lines"),
            F.count(F.when(value.contains('"') | cr_inside | blank_only, 1)).alias("unsplittable"),
        )
        .collect()
    )
    bad_utf8 = sum(r["bad_utf8"] for r in rows)
    if bad_utf8:
        raise UnreadableFileError(f"not valid UTF-8 text ({bad_utf8} line(s) with invalid bytes)")
    if sum(r["nul"] for r in rows):
        raise UnreadableFileError("binary content (NUL bytes) in a text format")
    return _TextStats(
        splittable=not sum(r["unsplittable"] for r in rows),
        lines_by_partition={int(r["p"]): int(r["lines"]) for r in rows},
    )


def _split_lines(
    lines: DataFrame, delimiter: str, width: int, lines_by_partition: dict[int, int]
) -> DataFrame:
    """A splittable CSV file (`_TextStats.splittable`) read as text lines split on the delimiter.

    Without a quote character a record is a line and a field the text between two delimiters, so
    this gives what Spark's CSV reader gives: the same values, empty fields as null, and a record
    with more or fewer fields than the header flagged with its line in `_corrupt`, its first
    fields kept (`tests/spark/test_spark_read.py` compares the two). The CSV reader decodes every
    line into a Java string, tokenizes it character by character and encodes every field back:
    at 10M rows that was over half of the cleaning pass's CPU.
    """
    tokens = "_tokens"
    lines = (
        lines.where(F.col("value") != F.lit(""))
        .withColumn(_MID, F.monotonically_increasing_id())
        .select(F.split(F.col("value"), re.escape(delimiter), -1).alias(tokens), "value", _MID)
    )
    fields = [F.nullif(F.get(F.col(tokens), i), F.lit("")).alias(source_column(i)) for i in range(width)]
    frame = lines.select(*fields, F.when(F.size(tokens) != width, F.col("value")).alias(CORRUPT), _MID)
    # The header is the file's first non-blank line: record number 0, dropped.
    return _with_record_numbers(frame, lines_by_partition, first=0).where(F.col(RECORD_NUMBER) > 0)


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


def _read_csv(spark: SparkSession, uri: str, delimiter: str) -> RawFile:
    text = _text_check(spark, uri)
    if text.lines == 0:
        raise UnreadableFileError("no header row (the file holds no text)")
    # multiLine makes one file one partition (one core parses it all); needed only when a quoted
    # field may hold a line break. A splittable file's records are read by `_split_lines`, in
    # parallel; the CSV reader reads only its header.
    options = csv_options(delimiter, multi_line=not text.splittable)
    first = spark.read.options(header="false", **options).csv(uri).first()
    if first is None:
        raise UnreadableFileError("no header row")
    header = _unique_header(list(first))
    if text.splittable:
        lines = spark.read.text(uri)
        frame = _split_lines(lines, delimiter, len(header), text.lines_by_partition)
        return RawFile(uri, "csv", header, frame, lines=lines, delimiter=delimiter)
    return RawFile(uri, "csv", header, _csv_records(spark, uri, options, len(header)))


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


def _read_jsonl(spark: SparkSession, uri: str) -> tuple[tuple[str, ...], DataFrame]:
    value = F.regexp_replace(F.col("value"), "^\ufeff", "")
    lines = (
        spark.read.text(uri)
        .where(F.length(F.btrim("value")) > 0)
        .select(value.alias("value"))
        .withColumn(_MID, F.monotonically_increasing_id())
        .withColumn("_keys", F.json_object_keys("value"))
    )
    stats = (
        lines.groupBy(F.shiftright(F.col(_MID), _PARTITION_SHIFT).alias("p"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.count("_keys").alias("objects"),
            F.sum(F.when(~F.is_valid_utf8("value"), 1).otherwise(0)).alias("bad_utf8"),
            F.sum(F.when(F.instr("value", "\x00") > 0, 1).otherwise(0)).alias("nul"),
        )
        .collect()
    )
    if sum(r["bad_utf8"] for r in stats):
        raise UnreadableFileError("not valid UTF-8 text")
    if sum(r["nul"] for r in stats):
        raise UnreadableFileError("binary content (NUL bytes) in a text format")
    records = sum(r["n"] for r in stats)
    if records and not sum(r["objects"] for r in stats):
        raise UnreadableFileError("not JSON Lines: no line is a JSON object")
    # Keys in order of first appearance (record, then position in the record).
    key_rows = (
        lines.select(_MID, F.posexplode("_keys").alias("pos", "key"))
        .groupBy("key")
        .agg(F.min(F.struct(_MID, "pos")).alias("first"))
        .orderBy("first")
        .collect()
    )
    header = _unique_header([r["key"] for r in key_rows])
    keys = [r["key"] for r in key_rows]
    schema = T.StructType([T.StructField(k, T.StringType()) for k in dict.fromkeys(keys)])
    parsed = F.from_json("value", schema) if keys else F.lit(None)
    frame = lines.select(
        *[parsed.getField(k).alias(source_column(i)) for i, k in enumerate(keys)],
        F.when(F.col("_keys").isNull(), F.col("value")).alias(CORRUPT),
        _MID,
    )
    return header, _with_record_numbers(frame, {int(r["p"]): int(r["n"]) for r in stats})


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
    return col.cast(T.StringType())


def _read_parquet(spark: SparkSession, uri: str) -> tuple[tuple[str, ...], DataFrame]:
    source = spark.read.parquet(uri)
    header = _unique_header(list(source.columns))
    frame = source.select(
        *[_as_text(f).alias(source_column(i)) for i, f in enumerate(source.schema.fields)],
        F.lit(None).cast(T.StringType()).alias(CORRUPT),
    ).withColumn(_MID, F.monotonically_increasing_id())
    # The pass decodes every value, so a corrupt page is found here and not while writing.
    checksum = F.max(F.xxhash64(*[source_column(i) for i in range(len(header))])) if header else F.lit(0)
    rows = (
        frame.groupBy(F.shiftright(F.col(_MID), _PARTITION_SHIFT).alias("p"))
        .agg(F.count(F.lit(1)).alias("n"), checksum.alias("checksum"))
        .collect()
    )
    return header, _with_record_numbers(frame, {int(r["p"]): int(r["n"]) for r in rows})


def _read_json_array(spark: SparkSession, uri: str) -> tuple[tuple[str, ...], DataFrame]:
    """A `.json` file holding one JSON array of records: a record per element, numbered in array
    order (the whole file is one partition: a JSON array cannot be split)."""
    source = spark.read.options(
        multiLine="true", primitivesAsString="true", mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT
    ).json(uri)
    fields = [f for f in source.schema.fields if f.name != CORRUPT]
    if not fields:
        raise UnreadableFileError("not a JSON array of records (no element is an object with keys)")
    corrupt = F.col(CORRUPT) if CORRUPT in source.columns else F.lit(None).cast(T.StringType())
    frame = source.select(
        *[_as_text(f).alias(source_column(i)) for i, f in enumerate(fields)],
        corrupt.alias(CORRUPT),
    ).withColumn(_MID, F.monotonically_increasing_id())
    rows = frame.groupBy(F.shiftright(F.col(_MID), _PARTITION_SHIFT).alias("p")).count().collect()
    header = _unique_header([f.name for f in fields])
    return header, _with_record_numbers(frame, {int(r["p"]): int(r["count"]) for r in rows})


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


def _read_text_format(
    spark: SparkSession, uri: str, fmt: str, compressed: bool, settings: SourceSettings, work_dir: str | None
) -> RawFile:
    """A CSV, JSON Lines or JSON file, decoded as its settings say or as its first bytes show."""
    source, _, text, decided = _utf8_copy(spark, uri, compressed, settings, work_dir)
    if fmt == "json":
        layout = sniff.json_layout(text)
        decided["json_layout"] = layout
        if layout == "array":
            header, frame = _read_json_array(spark, source)
            return RawFile(uri, "json", header, frame, head_text=text, read_settings=decided)
        if layout is None:
            raise UnreadableFileError(
                "not JSON: a .json file holds an array of records or one record per line"
            )
        fmt = "jsonl"
    if fmt == "jsonl":
        header, frame = _read_jsonl(spark, source)
        return RawFile(uri, "jsonl", header, frame, head_text=text, read_settings=decided)
    header_line = sniff.first_line(text)
    if settings.delimiter == AUTO:
        delimiter = sniff.delimiter_of(header_line)
        decided.update(delimiter=delimiter, delimiter_source="detected")
    else:
        delimiter = settings.delimiter
        decided.update(delimiter=delimiter, delimiter_source="set")
    raw = _read_csv(spark, source, delimiter)
    return RawFile(
        uri,
        "csv",
        raw.header,
        raw.frame,
        lines=raw.lines,
        delimiter=delimiter,
        head_text=text,
        read_settings=decided,
    )


def read_file(
    spark: SparkSession, uri: str, *, settings: SourceSettings | None = None, work_dir: str | None = None
) -> RawFile:
    """Read one landing file as all-string columns, or decide it is unreadable.

    :param uri: local path or `gs://` URI; its name decides the format.
    :param settings: how to read it (`spark.sources`): encoding and delimiter, each set or `auto`.
    :param work_dir: folder for a decompressed `.parquet.gz` copy or a UTF-8 copy of another encoding.
    :returns: a `RawFile`; never raises for a bad file (the error says which setting fixes it).
    """
    settings = settings or SourceSettings()
    fmt, compressed = file_format(uri)
    if fmt is None:
        return RawFile(
            uri,
            None,
            error="unknown file extension (expected .csv, .json, .jsonl, .ndjson or .parquet, optionally .gz)",
        )
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
        if fmt != "parquet":
            try:
                return _read_text_format(spark, uri, fmt, compressed, settings, work_dir)
            except UnreadableFileError as exc:
                if "not valid UTF-8" not in str(exc) or settings.encoding != AUTO:
                    raise
                # Plain ASCII at the start, other bytes later: detect from more of the file.
                sample = head_bytes(spark, uri, compressed, sniff.DETECT_BYTES)
                found = sniff.encoding_of(sample, complete=len(sample) < sniff.DETECT_BYTES)
                if found is None or found.name == sniff.UTF8:
                    raise UnreadableFileError(
                        f"{exc}: set `encoding` for this file in sources.yaml (e.g. cp1252 or latin-1)"
                    ) from exc
                detected = dataclasses.replace(settings, encoding=found.name)
                raw = _read_text_format(spark, uri, fmt, compressed, detected, work_dir)
                raw.read_settings.update(encoding_source="detected", encoding_confidence=found.confidence)
                return raw
        target = uri
        if compressed:
            if work_dir is None:
                raise UnreadableFileError("a .parquet.gz file needs a work folder to be inflated into")
            target = f"{work_dir.rstrip('/')}/{hashlib.sha256(uri.encode()).hexdigest()[:16]}.parquet"
            _gunzip_to(spark, uri, target)
        header, frame = _read_parquet(spark, target)
    except UnreadableFileError as exc:
        return RawFile(uri, fmt, error=str(exc))
    except Exception as exc:  # a Spark/Hadoop read error: the file is not what its name says
        return RawFile(uri, fmt, error=f"cannot be read as {fmt}: {_java_cause(exc)}")
    return RawFile(uri, fmt, header=header, frame=frame)

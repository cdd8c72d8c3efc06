"""The cleaning job: landing files -> silver rows, quarantine, file stats and run metrics.

Runs unchanged in Spark local mode and on Dataproc Serverless: `python spark/job.py --run-id ...
--input transactions=gs://.../day1.csv --output gs://.../runs/<run>` (see `parse_args`), or
`run_job(spark, JobConfig(...))` from the local target. It needs only `spark/` and `sql/` (never
`pipeline/`); settings come in through `JobConfig`.

Outputs under `config.output` (all Parquet, columns exactly as in `sql/schemas/`):
`silver/{transactions,customers,agents,fx_rates}/`, `quarantine/`, `file_stats/`, and `metrics.json`.
For every file, rows read = rows written to silver + rows quarantined; the job checks it from
the written outputs and raises `ConservationError` naming the file when it does not hold.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import logging
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# `python spark/job.py` in a checkout; on Dataproc `spark` and `sql` come from the --py-files zip.
if __package__ in (None, "") and (Path(__file__).resolve().parent.parent / "sql" / "catalog.py").is_file():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812

from spark import contract, read, refdata, schema, sniff, transform
from spark.sources import AUTO, SourceSettings
from sql import catalog

LOG = logging.getLogger("cdi.spark")

SILVER_TABLES = {name: spec.table for name, spec in contract.ENTITIES.items()}
QUARANTINE_TABLE = "audit.quarantine"
FILE_STATS_TABLE = "audit.file_stats"


@dataclass(frozen=True)
class InputFile:
    """One claimed landing file: `uri` is where to read it, `source_file` the landing path
    recorded in lineage."""

    entity: str
    uri: str
    source_file: str
    settings: SourceSettings | None = None
    """How to read it (`sources.yaml`, resolved for this file); None: the run's defaults."""


@dataclass(frozen=True)
class JobConfig:
    """Settings of one run. `inputs` are in claim order: for duplicate keys the later file wins."""

    run_id: str
    inputs: tuple[InputFile, ...]
    output: str
    logical_end: datetime
    source_tz: str = "UTC"
    default_currency: str = "USD"
    csv_delimiter: str = AUTO
    """The defaults of a file without settings of its own."""

    def __post_init__(self) -> None:
        if self.logical_end.tzinfo is None:
            raise ValueError("logical_end must be time-zone aware (UTC)")
        ZoneInfo(self.source_tz)  # raises for an unknown zone
        for item in self.inputs:
            if item.entity not in contract.ENTITIES:
                raise ValueError(
                    f"{item.uri}: unknown entity {item.entity!r} (expected one of {list(contract.ENTITIES)})"
                )
        if self.csv_delimiter != AUTO and len(self.csv_delimiter) != 1:
            raise ValueError(f"csv_delimiter must be {AUTO!r} or one character, got {self.csv_delimiter!r}")

    def settings_of(self, item: InputFile) -> SourceSettings:
        return item.settings or SourceSettings(
            delimiter=self.csv_delimiter, source_tz=self.source_tz, default_currency=self.default_currency
        )


class ConservationError(RuntimeError):
    """Rows read != rows valid + rows quarantined for at least one file."""


# Structured logs --------------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        return json.dumps(payload, default=str)


def configure_logging() -> None:
    """JSON lines on stderr for the `cdi.spark` logger (idempotent)."""
    if not any(isinstance(h.formatter, _JsonFormatter) for h in LOG.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
        LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False


def log_event(message: str, **fields: Any) -> None:
    LOG.info(message, extra={"fields": fields})


@dataclass
class _Steps:
    run_id: str
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str, **fields: Any) -> Iterator[None]:
        start = time.perf_counter()
        yield
        took = round(time.perf_counter() - start, 3)
        self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)
        log_event("step done", run_id=self.run_id, step=name, seconds=took, **fields)


# The run ----------------------------------------------------------------------------------------


@dataclass
class _FileRun:
    index: int
    item: InputFile
    raw: read.RawFile
    settings: SourceSettings
    mapping: transform.ColumnMapping | None = None
    shape: int = 0
    """Index of `mapping` among the distinct headers of the entity's files."""
    reading: transform.FileReading = field(default_factory=transform.FileReading)
    missing_message: str | None = None


def _uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _configure_session(spark: SparkSession) -> None:
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    # Smaller scan splits than the 128 MiB default: a day's file of a few hundred MiB then keeps
    # every core busy to the end instead of leaving one to finish the last large split alone.
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(32 << 20))
    # A landing of many small files: Spark packs files into a scan task as if opening each cost
    # reading 4 MiB, which made 365 daily files of 80 KiB 52 tasks per pass over them; at 1 MiB
    # they are 13, a few per core. A single large file is split as before.
    spark.conf.set("spark.sql.files.openCostInBytes", str(1 << 20))
    # The cached cleaned frame is read a few times, right after it is built: compressing it cost
    # more CPU than building it (about 3x, measured at 2M rows) and saves nothing worth it.
    spark.conf.set("spark.sql.inMemoryColumnarStorage.compressed", "false")


def _distinct_frames(files: Sequence[_FileRun]) -> list[DataFrame]:
    """The raw frames of the files, each once (the files of one scan share theirs)."""
    frames: dict[int, DataFrame] = {}
    for f in files:
        if f.raw.frame is not None:
            frames.setdefault(id(f.raw.frame), f.raw.frame)
    return list(frames.values())


def _canonical(
    spark: SparkSession, entity: str, files: list[_FileRun], shapes: list[transform.ColumnMapping]
) -> DataFrame:
    """The entity's raw rows, all files in one frame, with their file's lineage and reading joined
    on `_file`, renamed to the contract (`transform.to_canonical`)."""
    raw = functools.reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), _distinct_frames(files))
    table = spark.createDataFrame(
        [
            transform.file_row(
                f.raw.key, position, f.item.source_file, f.shape, f.mapping, f.reading, f.missing_message
            )
            for position, f in enumerate(files)
            if f.mapping is not None
        ],
        transform.FILE_COLUMNS,
    )
    return raw.join(F.broadcast(table), read.FILE).transform(transform.to_canonical(shapes))


def _classify_entity(
    spark: SparkSession,
    config: JobConfig,
    entity: str,
    files: list[_FileRun],
    shapes: list[transform.ColumnMapping],
    currencies: frozenset[str],
) -> tuple[DataFrame, DataFrame]:
    """Clean the entity's readable files: one row per record with `_reason` and the typed values,
    before duplicates are marked; and the duplicate candidates (cached).

    Raw strings are kept only for the rows already rejected and for the duplicate candidates (keys
    seen more than once, found by a key-only pass), so the frame the job caches holds typed values;
    `raw_record` is built from them once duplicates are marked (`_mark_duplicates`).
    """
    union = _canonical(spark, entity, files, shapes)
    reading = transform.EntityReading.of([f.reading for f in files])
    if entity == "transactions":
        # A literal when every file agrees (the common case), else each row's file's value.
        zones = {f.reading.source_tz for f in files}
        currencies_by_file = {f.reading.default_currency for f in files}
        cleaner = transform.clean_transactions(
            logical_end=config.logical_end,
            source_tz=zones.pop() if len(zones) == 1 else F.col(transform.SOURCE_TZ),
            default_currency=(
                currencies_by_file.pop()
                if len(currencies_by_file) == 1
                else F.col(transform.DEFAULT_CURRENCY)
            ),
            currencies=currencies,
            reading=reading,
        )
    elif entity == "customers":
        countries = spark.createDataFrame(transform.country_lookup_rows(), transform.COUNTRY_LOOKUP_SCHEMA)
        cleaner = transform.clean_customers(countries=countries, reading=reading)
    elif entity == "fx_rates":
        cleaner = transform.clean_fx_rates(currencies=currencies, reading=reading)
    else:
        cleaner = transform.clean_agents(reading)
    spec = contract.ENTITIES[entity]
    if len(spec.keys) == 1:
        candidates = _duplicate_candidates(_keys(spark, spec, files))
        flag = transform.flag_candidates(candidates)
    else:
        # A key of several columns (fx_rates): one column's raw text does not bound the rows that
        # share the typed key (`2025/03/01` is `2025-03-01`), so every row is a candidate. A rates
        # file is days x currencies rows: nothing worth a key-only pass.
        candidates = spark.createDataFrame([], f"_key_hash long, {transform.CANDIDATE} boolean")

        def flag(df: DataFrame) -> DataFrame:
            return df.withColumn(transform.CANDIDATE, F.lit(True))

    cleaned = (
        union.transform(cleaner)
        .transform(transform.key_of_cleaned(entity))
        .transform(flag)
        .transform(transform.keep_raw_values_of_suspects(entity))
        .select(
            transform.FILE_INDEX,
            transform.SHAPE,
            read.RECORD_NUMBER,
            read.CORRUPT,
            transform.CANDIDATE,
            transform.REASON,
            transform.DETAIL,
            transform.EXTRA,
            transform.RAW_VALUES,
            *[transform.parsed(c) for c in spec.source_columns],
            *[transform.coerced(c) for c in transform.COERCIBLE[entity]],
        )
    )
    return cleaned, candidates


def _keys(spark: SparkSession, spec: contract.Entity, files: list[_FileRun]) -> DataFrame:
    """`_key` (`transform.with_key`) of every record of the files, read by itself
    (`read.field_values`) for the key-only pass."""
    frames = read.field_values(
        [
            (f.raw, f.mapping.contract_index[spec.key])
            for f in files
            if f.mapping is not None and spec.key in f.mapping.contract_index
        ]
    )
    if not frames:
        return spark.createDataFrame([], f"{transform.KEY} string")
    union = functools.reduce(DataFrame.union, frames).select(F.col(read.FIELD).alias(spec.key))
    return union.transform(transform.with_key(spec.name)).select(transform.KEY)


def _duplicate_candidates(keyed: DataFrame) -> DataFrame:
    """`transform.duplicate_candidates`, computed and cached before the cleaning pass.

    Runtime 3.0's Spark (4.0.1, versions.toml) has no switch to skip the partial aggregation of
    this query (`spark.sql.execution.bypassPartialAggregation` came later), so none is set.
    """
    candidates = transform.duplicate_candidates(keyed).persist(StorageLevel.MEMORY_AND_DISK)
    candidates.count()
    return candidates


def _mark_duplicates(
    entity: str,
    keyed: DataFrame,
    winners: DataFrame,
    files: list[_FileRun],
    shapes: list[transform.ColumnMapping],
) -> DataFrame:
    """The cleaned rows (with `_key`) with duplicates marked, their source file and `raw_record`
    for every rejected row."""
    spec = contract.ENTITIES[entity]
    source_files = [f.item.source_file for f in files]
    return (
        keyed.transform(transform.mark_duplicates(entity, winners, source_files))
        .withColumns(transform.raw_values(entity))
        .transform(transform.with_raw_record(shapes))
        .withColumn(
            transform.SOURCE_FILE, transform.source_file_of(F.col(transform.FILE_INDEX), source_files)
        )
        .drop(transform.KEY, transform.CANDIDATE, read.CORRUPT, transform.RAW_VALUES, *spec.source_columns)
    )


_UNDETERMINED = (
    "could be day-first or month-first: {why}; set `date_order: dmy` or `date_order: mdy` for this "
    "file in sources.yaml, then `cdi reprocess` it"
)


def _resolve_readings(spark: SparkSession, entity: str, files: list[_FileRun]) -> None:
    """Each file's `transform.FileReading`: its decimal separator, zone and currency from its
    settings, and one date order per file: the `date_order` setting, else the order the file's
    own numeric dates prove (a number above 12 in one position, none contradicting it). The
    evidence of every file whose first rows hold numeric dates comes from one query."""
    column = transform.DATE_COLUMNS[entity]
    to_scan: list[tuple[_FileRun, int]] = []
    for f in files:
        assert f.mapping is not None
        s = f.settings
        base = transform.FileReading(
            decimal=s.decimal, source_tz=s.source_tz, default_currency=s.default_currency
        )
        f.raw.read_settings["decimal"] = s.decimal
        index = f.mapping.contract_index.get(column)
        if s.date_order is not None or index is None:
            f.reading = replace(base, date_order=s.date_order or "ymd")
            if s.date_order is not None:
                f.raw.read_settings.update(date_order=s.date_order, date_order_source="set")
            continue
        fmt = f.raw.file_format or ""
        sample = sniff.sample_values(f.raw.head_text, fmt, f.raw.delimiter, f.raw.header[index], index)
        if fmt in ("csv", "jsonl") and not sniff.has_numeric_dates(sample):
            why = "the file's first rows hold no numeric date, so its order was not determined"
            f.reading = replace(base, date_order=None, date_issue=_UNDETERMINED.format(why=why))
            continue
        f.reading = base
        to_scan.append((f, index))
    if not to_scan:
        return
    # One query: each file's date column, from the frame its scan shares with others.
    first, second = (F.regexp_extract("v", sniff.NUMERIC_DATE_RE, i).cast("int") for i in (1, 2))
    by_frame: dict[tuple[int, int], list[_FileRun]] = {}
    for f, index in to_scan:
        by_frame.setdefault((id(f.raw.frame), index), []).append(f)
    frames = [
        group[0]
        .raw.frame.where(F.col(read.FILE).isin([f.raw.key for f in group]))
        .select(F.col(read.FILE).alias("f"), F.col(read.source_column(index)).alias("v"))
        for (_, index), group in by_frame.items()
        if group[0].raw.frame is not None
    ]
    evidence = {
        str(r["f"]): sniff.DateEvidence(int(r["first_max"]), int(r["second_max"]), int(r["values"]))
        for r in functools.reduce(DataFrame.union, frames)
        .where(F.col("v").rlike(sniff.NUMERIC_DATE_RE))
        .groupBy("f")
        .agg(F.max(first).alias("first_max"), F.max(second).alias("second_max"), F.count("v").alias("values"))
        .collect()
    }
    for f, _ in to_scan:
        found = evidence.get(f.raw.key, sniff.DateEvidence(0, 0, 0))
        if found.order is not None:
            f.reading = replace(f.reading, date_order=found.order)
            f.raw.read_settings.update(date_order=found.order, date_order_source="inferred")
            continue
        if found.values and found.contradictory:
            why = "the file holds numbers above 12 in both the first and the second place (mixed orders)"
        elif found.values:
            why = "no date of the file has a number above 12 to tell the order"
        else:
            why = "the file's dates were not numeric when its order was determined"
        f.reading = replace(f.reading, date_order=None, date_issue=_UNDETERMINED.format(why=why))
        if found.values:
            f.raw.read_settings.update(date_order="undetermined", date_order_source="inferred")


def _dictionary_off(entity: str) -> dict[str, str]:
    """Parquet writer options turning dictionary encoding off for the silver columns whose values
    (almost) never repeat: the key, the record number and instants. A dictionary there is built
    and thrown away for every page (about a fifth of the write's CPU at 2M rows)."""
    spec = contract.ENTITIES[entity]
    # A key of several columns (fx_rates: a date and a currency) repeats in each of them.
    columns = [spec.key, "record_number"] if len(spec.keys) == 1 else ["record_number"]
    columns += [f.name for f in catalog.table(spec.table).fields if f.type == "TIMESTAMP"]
    return {f"parquet.enable.dictionary#{c}": "false" for c in columns}


def _unreadable_rows(spark: SparkSession, run_id: str, files: Sequence[_FileRun]) -> DataFrame:
    rows = [
        (
            run_id,
            f.item.entity,
            f.item.source_file,
            None,
            "UNREADABLE_FILE",
            f"{f.item.source_file}: {f.raw.error}",
            None,
        )
        for f in files
    ]
    return spark.createDataFrame(rows, schema.struct_type(QUARANTINE_TABLE))


def _written_by_file(spark: SparkSession, output: str) -> dict[tuple[str, bool], int]:
    """(source file, valid?) -> rows, read back from the written silver and quarantine (one job)."""
    valid = [
        spark.read.parquet(_uri(output, "silver", entity)).select("source_file", F.lit(True).alias("valid"))
        for entity in contract.ENTITIES
    ]
    quarantined = (
        spark.read.parquet(_uri(output, "quarantine"))
        .where(F.col("record_number").isNotNull())
        .select("source_file", F.lit(False).alias("valid"))
    )
    rows = (
        functools.reduce(DataFrame.union, [*valid, quarantined])
        .groupBy("source_file", "valid")
        .count()
        .collect()
    )
    return {(r["source_file"], bool(r["valid"])): int(r["count"]) for r in rows}


@dataclass
class _Classified:
    """The entity's rows with their reason (null: valid), duplicates marked, ready to write."""

    frame: DataFrame
    files: list[_FileRun]
    cached: list[DataFrame]


def _read(spark: SparkSession, config: JobConfig, work_dir: str) -> list[_FileRun]:
    """Every file read (or found unreadable), its header mapped to the contract and its reading
    (decimal separator, date order, zone, currency) decided: before any row is written."""
    runs: list[_FileRun] = []
    for entity in contract.ENTITIES:
        items = [(i, item) for i, item in enumerate(config.inputs) if item.entity == entity]
        if not items:
            continue
        raws = read.read_files(
            spark, [(item.uri, config.settings_of(item)) for _, item in items], work_dir=work_dir
        )
        shapes: list[transform.ColumnMapping] = []
        for (index, item), raw in zip(items, raws, strict=True):
            run = _FileRun(index, item, raw, raw.settings)
            runs.append(run)
            if not raw.readable:
                log_event(
                    "unreadable file",
                    run_id=config.run_id,
                    step="read",
                    source_file=item.source_file,
                    error=raw.error,
                )
                continue
            run.mapping = transform.map_columns(entity, raw.header, dict(raw.settings.columns))
            if run.mapping not in shapes:
                shapes.append(run.mapping)
            run.shape = shapes.index(run.mapping)
            if run.mapping.missing_required:
                other = None
                if raw.file_format == "csv":
                    other = sniff.other_delimiter_in(sniff.first_line(raw.head_text), raw.delimiter)
                run.missing_message = transform.missing_column_message(run.mapping, other_delimiter=other)
        _resolve_readings(spark, entity, [r for r in runs if r.item.entity == entity and r.mapping])
    return sorted(runs, key=lambda r: r.index)


def _shapes(files: list[_FileRun]) -> list[transform.ColumnMapping]:
    """The distinct mappings of the files, by `_FileRun.shape`."""
    by_shape = {f.shape: f.mapping for f in files if f.mapping is not None}
    return [by_shape[i] for i in sorted(by_shape)]


def _clean(spark: SparkSession, config: JobConfig, runs: list[_FileRun]) -> dict[str, _Classified]:
    """Each entity parsed and cleaned once and cached (typed values; raw strings only for rejected
    rows and duplicate candidates), since the duplicate winners, the file figures and both outputs
    read it. The winners are an aggregate of the candidate rows alone."""
    currencies = refdata.currency_codes()
    classified: dict[str, _Classified] = {}
    for entity in contract.ENTITIES:
        files = [r for r in runs if r.item.entity == entity and r.raw.readable]
        if not files:
            continue
        shapes = _shapes(files)
        cleaned, candidates = _classify_entity(spark, config, entity, files, shapes, currencies)
        cleaned = cleaned.persist(StorageLevel.MEMORY_AND_DISK)
        keyed = cleaned.transform(transform.key_of_cleaned(entity))
        winners = transform.duplicate_winners(keyed.where(transform.CANDIDATE)).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        frame = _mark_duplicates(entity, keyed, winners, files, shapes)
        classified[entity] = _Classified(frame, files, [candidates, cleaned, winners])
    return classified


@dataclass
class _FileCounts:
    rows_valid: int = 0
    rows_quarantined: int = 0
    types_coerced: dict[str, int] = field(default_factory=dict)


def _count(classified: dict[str, _Classified]) -> tuple[dict[int, _FileCounts], dict[str, int]]:
    """Valid and quarantined rows and coerced values per file (by `_FileRun.index`), and rows per
    reason: one aggregate per entity (which also fills the caches)."""
    counts: dict[int, _FileCounts] = {}
    reasons: dict[str, int] = {}
    for entity, c in classified.items():
        coerce_cols = transform.COERCIBLE[entity]
        rows = (
            c.frame.groupBy(transform.FILE_INDEX, transform.REASON)
            .agg(
                F.count(F.lit(1)).alias("n"),
                *[F.sum(F.col(transform.coerced(col)).cast("int")).alias(col) for col in coerce_cols],
            )
            .collect()
        )
        for r in rows:
            stats = counts.setdefault(c.files[r[transform.FILE_INDEX]].index, _FileCounts())
            if r[transform.REASON] is None:
                stats.rows_valid += r["n"]
            else:
                stats.rows_quarantined += r["n"]
                reasons[r[transform.REASON]] = reasons.get(r[transform.REASON], 0) + r["n"]
            for col in coerce_cols:
                if r[col]:
                    stats.types_coerced[col] = stats.types_coerced.get(col, 0) + int(r[col])
    return counts, reasons


def _write(
    spark: SparkSession, config: JobConfig, runs: list[_FileRun], classified: dict[str, _Classified]
) -> None:
    """Silver (one folder per entity, empty when the run has no file of it) and the quarantine."""
    for entity, table in SILVER_TABLES.items():
        if entity in classified:
            silver = classified[entity].frame.transform(transform.silver_rows(entity, config.run_id))
        else:
            silver = schema.empty_frame(spark, table)
        silver.write.options(**_dictionary_off(entity)).mode("overwrite").parquet(
            _uri(config.output, "silver", entity)
        )
    quarantine = _unreadable_rows(spark, config.run_id, [r for r in runs if not r.raw.readable])
    for entity, c in classified.items():
        quarantine = quarantine.unionByName(
            c.frame.transform(transform.quarantine_rows(entity, config.run_id))
        )
    quarantine.write.mode("overwrite").parquet(_uri(config.output, "quarantine"))


def _file_stats(
    config: JobConfig, runs: list[_FileRun], counts: dict[int, _FileCounts]
) -> list[dict[str, Any]]:
    """An `audit.file_stats` row per file: rows read are the records its read counted in the file."""
    rows = []
    for run in runs:
        found = counts.get(run.index, _FileCounts())
        mapping = run.mapping
        error = f"{run.item.source_file}: {run.raw.error}" if run.raw.error else None
        if mapping is not None and mapping.missing_required:
            error = f"{run.item.source_file}: {run.missing_message}"
        rows.append(
            {
                "run_id": config.run_id,
                "entity": run.item.entity,
                "source_file": run.item.source_file,
                "file_format": run.raw.file_format,
                "rows_read": run.raw.records or 0,
                "rows_valid": found.rows_valid,
                "rows_quarantined": found.rows_quarantined,
                "columns_added": json.dumps(list(mapping.added)) if mapping else None,
                "columns_missing": json.dumps(list(mapping.missing)) if mapping else None,
                "columns_renamed": json.dumps(mapping.renamed) if mapping else None,
                "error": error,
                "types_coerced": json.dumps(found.types_coerced, sort_keys=True),
                "read_settings": json.dumps(run.raw.read_settings, sort_keys=True),
                "max_quarantine_pct": run.settings.max_quarantine_pct,
            }
        )
    return rows


def _conservation(spark: SparkSession, output: str, file_stats: list[dict[str, Any]]) -> list[str]:
    """Files whose records read (counted by the read, in the file) are not the rows written to
    silver plus the rows written to quarantine, or whose written rows are not what the job counted."""
    written = _written_by_file(spark, output)
    expected: dict[str, list[int]] = {}
    for s in file_stats:
        figures = expected.setdefault(s["source_file"], [0, 0, 0])
        for k, name in enumerate(("rows_read", "rows_valid", "rows_quarantined")):
            figures[k] += s[name]
    broken = []
    for src, (n_read, n_valid, n_quarantined) in expected.items():
        valid, quarantined = written.get((src, True), 0), written.get((src, False), 0)
        if n_read != valid + quarantined or valid != n_valid or quarantined != n_quarantined:
            broken.append(
                f"{src}: rows_read={n_read} rows_valid={valid} rows_quarantined={quarantined}"
                f" (counted valid={n_valid} quarantined={n_quarantined})"
            )
    return broken


def run_job(spark: SparkSession, config: JobConfig) -> dict[str, Any]:
    """Clean the run's landing files and write every output under `config.output`.

    :param spark: a session (local or Dataproc); its time zone is set to UTC.
    :param config: the run.
    :returns: the metrics (also written as `metrics.json`).
    :raises ConservationError: when a file's rows read != rows valid + rows quarantined.
    """
    configure_logging()
    _configure_session(spark)
    steps = _Steps(config.run_id)
    work_dir = _uri(config.output, "_work")
    log_event("job start", run_id=config.run_id, step="start", files=len(config.inputs), output=config.output)

    with steps.step("read", files=len(config.inputs)):
        runs = _read(spark, config, work_dir)
    with steps.step("clean"):
        classified = _clean(spark, config, runs)
    with steps.step("classify"):
        counts, reasons = _count(classified)
    with steps.step("write"):
        _write(spark, config, runs, classified)
    for c in classified.values():
        for frame in c.cached:
            frame.unpersist()
    with steps.step("check"):
        file_stats = _file_stats(config, runs, counts)
        broken = _conservation(spark, config.output, file_stats)
        stats_frame = spark.createDataFrame(
            [tuple(s[c] for c in catalog.table(FILE_STATS_TABLE).column_names) for s in file_stats],
            schema.struct_type(FILE_STATS_TABLE),
        )
        stats_frame.coalesce(1).write.mode("overwrite").parquet(_uri(config.output, "file_stats"))
    read.delete(spark, work_dir)

    unreadable_count = sum(1 for r in runs if not r.raw.readable)
    if unreadable_count:
        reasons["UNREADABLE_FILE"] = unreadable_count
    metrics = _metrics(config, runs, file_stats, reasons, steps, broken)
    read.write_text(spark, _uri(config.output, "metrics.json"), json.dumps(metrics, indent=2, default=str))
    log_event(
        "job done",
        run_id=config.run_id,
        step="done",
        files=metrics["files"],
        rows_read=metrics["rows_read"],
        rows_valid=metrics["rows_valid"],
        rows_quarantined=metrics["rows_quarantined"],
        conservation=metrics["conservation"]["ok"],
        steps_seconds=steps.seconds,
    )
    if broken:
        raise ConservationError("rows not conserved: " + "; ".join(broken))
    return metrics


def _metrics(
    config: JobConfig,
    runs: list[_FileRun],
    file_stats: list[dict[str, Any]],
    reasons: dict[str, int],
    steps: _Steps,
    broken: list[str],
) -> dict[str, Any]:
    entities: dict[str, dict[str, int]] = {}
    for s in file_stats:
        e = entities.setdefault(
            s["entity"], {"files": 0, "rows_read": 0, "rows_valid": 0, "rows_quarantined": 0}
        )
        e["files"] += 1
        for k in ("rows_read", "rows_valid", "rows_quarantined"):
            e[k] += s[k]
    return {
        "run_id": config.run_id,
        "output": config.output,
        "logical_end": config.logical_end.astimezone(UTC).isoformat(),
        "files": len(runs),
        "files_unreadable": sum(1 for r in runs if not r.raw.readable),
        "rows_read": sum(s["rows_read"] for s in file_stats),
        "rows_valid": sum(s["rows_valid"] for s in file_stats),
        "rows_quarantined": sum(s["rows_quarantined"] for s in file_stats),
        "entities": entities,
        "reasons": dict(sorted(reasons.items())),
        "file_stats": file_stats,
        "steps_seconds": steps.seconds,
        "conservation": {
            "ok": not broken,
            "files_checked": len({s["source_file"] for s in file_stats}),
            "broken": broken,
        },
    }


# Entry point ------------------------------------------------------------------------------------


def _input_file(text: str) -> tuple[str, str]:
    entity, sep, uri = text.partition("=")
    if not sep or entity not in contract.ENTITIES or not uri:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ENTITY=URI with ENTITY one of {', '.join(contract.ENTITIES)}"
        )
    return entity, uri


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give an offset or Z (e.g. 2024-06-01T00:00:00Z)")
    return value.astimezone(UTC)


def parse_args(argv: Sequence[str] | None = None) -> JobConfig:
    """Parse the command line into a `JobConfig`."""
    parser = argparse.ArgumentParser(
        prog="spark/job.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--run-id", required=True, help="pipeline run id, recorded on every output row")
    parser.add_argument(
        "--input",
        required=True,
        action="append",
        type=_input_file,
        metavar="ENTITY=URI",
        help="a claimed landing file, repeated in claim order (later wins duplicates); "
        f"ENTITY is one of {', '.join(contract.ENTITIES)}",
    )
    parser.add_argument(
        "--source-file",
        action="append",
        default=None,
        metavar="PATH",
        help="landing path recorded in lineage for the --input at the same position (default: its URI); "
        "give none or one per --input",
    )
    parser.add_argument(
        "--settings",
        action="append",
        default=None,
        metavar="JSON",
        help="how to read the --input at the same position (`spark.sources.SourceSettings` as JSON, "
        "resolved from sources.yaml by the DAG); give none or one per --input",
    )
    parser.add_argument("--output", required=True, help="run-scoped output folder or gs:// URI")
    parser.add_argument(
        "--logical-end",
        required=True,
        type=_timestamp,
        help="end of the run's data interval, ISO 8601 with offset",
    )
    parser.add_argument(
        "--source-tz", default="UTC", help="IANA time zone of naive source timestamps (default UTC)"
    )
    parser.add_argument(
        "--default-currency", default="USD", help="currency of rows without one (default USD)"
    )
    parser.add_argument(
        "--csv-delimiter",
        default=AUTO,
        help=f"field delimiter of CSV files without --settings: {AUTO} (default: from the header) or one character",
    )
    args = parser.parse_args(argv)
    sources = args.source_file or [uri for _, uri in args.input]
    if len(sources) != len(args.input):
        parser.error(
            f"{len(sources)} --source-file for {len(args.input)} --input: give none or one per input"
        )
    settings: list[SourceSettings | None] = [None] * len(args.input)
    if args.settings:
        if len(args.settings) != len(args.input):
            parser.error(
                f"{len(args.settings)} --settings for {len(args.input)} --input: give none or one per input"
            )
        settings = [SourceSettings.from_json(text) for text in args.settings]
    return JobConfig(
        run_id=args.run_id,
        inputs=tuple(
            InputFile(entity=entity, uri=uri, source_file=src, settings=setting)
            for (entity, uri), src, setting in zip(args.input, sources, settings, strict=True)
        ),
        output=args.output,
        logical_end=args.logical_end,
        source_tz=args.source_tz,
        default_currency=args.default_currency.upper(),
        csv_delimiter=args.csv_delimiter,
    )


def _schemas_from_zip() -> None:
    """`sql.catalog` reads the schema JSON files from disk; when `sql` is imported from the
    --py-files zip (Dataproc), extract them once to a local folder and point the catalog there."""
    if catalog.SCHEMAS_DIR.is_dir():
        return
    archive_path = next((p for p in map(Path, catalog.SCHEMAS_DIR.parents) if zipfile.is_zipfile(p)), None)
    if archive_path is None:
        raise FileNotFoundError(f"no table schemas at {catalog.SCHEMAS_DIR}")
    target = Path(tempfile.mkdtemp(prefix="cdi-schemas-"))
    # Removed when the driver exits: a local run of the packaged job (the Dataproc stand-in of the
    # tests) otherwise leaves one folder in /tmp per run.
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    with zipfile.ZipFile(archive_path) as archive:
        members = [m for m in archive.namelist() if m.startswith("sql/schemas/")]
        archive.extractall(target, members)
    catalog.SCHEMAS_DIR = target / "sql" / "schemas"
    catalog.table.cache_clear()
    log_event("schemas extracted", step="args", source=str(archive_path), target=str(catalog.SCHEMAS_DIR))


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    _schemas_from_zip()
    config = parse_args(argv)
    resolved = asdict(config)
    resolved["inputs"] = [asdict(i) for i in config.inputs]
    log_event("resolved arguments", run_id=config.run_id, step="args", args=resolved)
    # The call site of every DataFrame call, sent to the JVM for notebooks' error messages: about
    # half of the job's Py4J calls. A static setting: it takes effect only when this starts Spark.
    spark = (
        SparkSession.builder.appName(f"cdi-clean-{config.run_id}")
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        .getOrCreate()
    )
    try:
        run_job(spark, config)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Pure DataFrame -> DataFrame functions of the cleaning job (no I/O).

The flow for one entity, each step a function here:

1. `map_columns` (driver side): a file's header -> contract columns (normalized names, aliases),
   extras and the drift report.
2. `to_canonical`: a raw frame (`spark.read`) -> the contract columns as raw strings, `extra`
   (JSON text) and lineage; files of one entity are then unioned.
3. `clean_transactions` / `clean_customers` / `clean_agents`: typed values in `_p_<column>`
   columns, and `_reason` / `_detail` for the first rule a row breaks (`contract.RULE_ORDER`).
4. Duplicates: among rows that passed, one per key (latest file, then last record); the others
   DUPLICATE_KEY. `duplicate_winners` then `mark_duplicates`; the job runs the winners over the
   rows whose key was seen more than once (`duplicate_candidates`, a key-only pass before
   cleaning, then `flag_candidates`), so that only those rows keep their raw strings in its cache
   (`keep_raw_values_of_suspects`): a daily file re-sends a few orders, not most.
5. `with_raw_record`, `silver_rows`, `quarantine_rows`: the output frames.

Only built-in functions on the transactions path (try_cast, try_to_timestamp, regexes); the one
Python function is the vectorised phone-number formatter for customers.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

from spark import contract, schema, sniff
from spark.read import CORRUPT, FILE, RECORD_NUMBER, source_column
from sql import catalog

# Internal columns of the job (the output frames never carry them).
FILE_INDEX = "_file_idx"
SOURCE_FILE = "_source_file"
MISSING_COLUMN = "_missing_column"
KEY = "_key"
REASON = "_reason"
DETAIL = "_detail"
RAW_RECORD = "_raw_record"
RAW_VALUES = "_raw_values"
CANDIDATE = "_candidate"
EXTRA = "extra"

_WHITESPACE = " \t\r\n\u00a0"
_DETAIL_VALUE_CHARS = 200
_JSON_OPTIONS = {"ignoreNullFields": "false"}
# File index and record number packed in one long, so "latest" is a plain max().
_RECORD_BITS = 40


def parsed(column: str) -> str:
    """Name of the typed value of a contract column."""
    return f"_p_{column}"


def coerced(column: str) -> str:
    """Name of the flag saying a value was coerced from a drifted spelling."""
    return f"_coerced_{column}"


COERCIBLE: dict[str, tuple[str, ...]] = {
    "transactions": ("transaction_ts", "quantity", "unit_price", "amount"),
    "customers": ("signup_date",),
    "agents": ("hire_date",),
    "fx_rates": ("date", "rate"),
}


# 1. Header mapping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """How one file's header maps onto the contract of its entity."""

    entity: str
    header: tuple[str, ...]
    contract_index: dict[str, int] = field(default_factory=dict)
    """Contract column -> index of the header column holding it."""
    extras: tuple[tuple[int, str], ...] = ()
    """(header index, key in `extra`) for every column beyond the contract."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Source name -> contract name, for columns matched through an alias."""
    missing: tuple[str, ...] = ()
    """Contract columns the file lacks (optional ones are filled with null)."""
    missing_required: tuple[str, ...] = ()

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(key for _, key in self.extras)


def map_columns(
    entity: str, header: Sequence[str], columns: Mapping[str, str] | None = None
) -> ColumnMapping:
    """Match a file's header to the contract of `entity`.

    Names are mapped through the source's own `columns` (`sources.yaml`, by the name as given or
    normalized), else normalized (`contract.normalize_column_name`) and mapped through
    `contract.ALIASES`. When two columns claim one contract column, a `columns` entry beats an
    exact name, which beats an alias, and the first beats the later; the losers are kept as extra
    columns.

    :param entity: transactions, customers or agents.
    :param header: the file's column names as given.
    :param columns: source name -> contract name, from the source's settings.
    :returns: the `ColumnMapping`.
    """
    spec = contract.ENTITIES[entity]
    wanted = set(spec.source_columns)
    candidates: dict[str, tuple[int, int]] = {}  # contract column -> (priority, index)
    normalized = [contract.normalize_column_name(h) for h in header]
    own = {contract.normalize_column_name(k): v for k, v in (columns or {}).items()}
    for i, name in enumerate(normalized):
        canonical = own.get(name) or contract.ALIASES[entity].get(name, name)
        if canonical not in wanted:
            continue
        rank = (-1 if name in own else 0 if name == canonical else 1, i)
        if canonical not in candidates or rank < candidates[canonical]:
            candidates[canonical] = rank
    contract_index = {c: candidates[c][1] for c in spec.source_columns if c in candidates}
    taken = set(contract_index.values())
    extras: list[tuple[int, str]] = []
    keys: set[str] = set()
    for i, name in enumerate(normalized):
        if i in taken:
            continue
        key, n = name or f"column_{i + 1}", 1
        while key in keys:
            n += 1
            key = f"{name}_{n}"
        keys.add(key)
        extras.append((i, key))
    renamed = {header[i]: c for c, i in contract_index.items() if normalized[i] != c}
    missing = tuple(c for c in spec.source_columns if c not in contract_index)
    return ColumnMapping(
        entity=entity,
        header=tuple(header),
        contract_index=contract_index,
        extras=tuple(extras),
        renamed=renamed,
        missing=missing,
        missing_required=tuple(c for c in spec.required if c in missing),
    )


_CLOSE_NAME = 0.6
"""How alike (difflib ratio) a header name must be to a contract name or alias to be suggested:
`customer_ref` for customer_id (0.78) and `order_number` for order_id (0.6), not `betrag`."""


def missing_column_message(mapping: ColumnMapping, *, other_delimiter: str | None = None) -> str:
    """Why a file is rejected whole (MISSING_COLUMN) and what to do: the columns found, for each
    missing required column the closest name found (against it and its aliases), and the setting
    that maps it; or, when the header looks split on the wrong character, the delimiter setting."""
    found = ", ".join(repr(h) for h in mapping.header)
    missing = ", ".join(mapping.missing_required)
    if other_delimiter is not None:
        shown = "\\t" if other_delimiter == "\t" else other_delimiter
        return (
            f"missing required column {missing}: the header is one column {found} holding "
            f'{other_delimiter!r}; set `delimiter: "{shown}"` (or auto) for this file in sources.yaml'
        )
    taken = set(mapping.contract_index.values())
    unmapped = [
        (i, contract.normalize_column_name(h)) for i, h in enumerate(mapping.header) if i not in taken
    ]
    hints = []
    for column in mapping.missing_required:
        names = [column, *(a for a, c in contract.ALIASES[mapping.entity].items() if c == column)]
        scored = [
            (max(difflib.SequenceMatcher(None, n, name).ratio() for name in names), i) for i, n in unmapped
        ]
        best = max(scored, default=(0.0, -1))
        if best[0] >= _CLOSE_NAME:
            hints.append(f'"{mapping.header[best[1]]}": {column}')
    advice = (
        f"map them under `{mapping.entity}: columns:` in sources.yaml, e.g. {{{', '.join(hints)}}}"
        if hints
        else f"map the file's names under `{mapping.entity}: columns:` in sources.yaml"
    )
    return f"missing required column {missing}; columns found: {found}; {advice}"


# 2. Canonical raw frame ---------------------------------------------------------------------------


DATE_COLUMNS: dict[str, str] = {
    "transactions": "transaction_ts",
    "customers": "signup_date",
    "agents": "hire_date",
    "fx_rates": "date",
}
"""The column of each entity whose numeric dates follow the file's date order."""
DATE_ISSUE = "_date_issue"
DATE_ORDER = "_date_order"
DECIMAL = "_decimal"
SOURCE_TZ = "_source_tz"
DEFAULT_CURRENCY = "_default_currency"
SHAPE = "_shape"
"""Index of the file's header among the distinct headers of the entity's files (`to_canonical`)."""
FILE_DATE_ISSUE = "_file_date_issue"
"""Why the file's date order is not determined (`FileReading.date_issue`), null when it is."""

# A number written with a decimal comma, optionally with `.`, space or no-break space between
# thousands: `12,50`, `1.234,50`, `1 234`.
_DECIMAL_COMMA_NUMBER_RE = r"^\s*[+-]?(\d{1,3}([. \u00a0]\d{3})+|\d+)(,\d+)?\s*$"


@dataclass(frozen=True)
class FileReading:
    """How one file's values are read, beyond its header (`sources.yaml`, or what the file proves)."""

    decimal: str = "."
    date_order: str | None = "ymd"
    """`dmy` or `mdy` rewrites numeric dates (`03/04/2025`); None: not determined for this file,
    and its numeric dates whose day and month differ are quarantined as AMBIGUOUS_DATE."""
    date_issue: str = ""
    """Why the order is not determined and which setting settles it (the AMBIGUOUS_DATE detail)."""
    source_tz: str = "UTC"
    default_currency: str = "USD"


def decimal_comma_number(value: Column) -> Column:
    """`1.234,50` -> `1234.50` for a file whose decimal separator is a comma; other text unchanged
    (a currency symbol, or a point where a comma belongs, then go the drifted-number way)."""
    plain = F.regexp_replace(F.regexp_replace(value, r"[. \u00a0]", ""), ",", ".")
    return F.when(value.rlike(_DECIMAL_COMMA_NUMBER_RE), plain).otherwise(value)


def _numeric_date_parts(value: Column) -> list[Column]:
    return [F.regexp_extract(value, sniff.NUMERIC_DATE_RE, i) for i in range(1, 7)]


def _looks_numeric_date(value: Column) -> Column:
    """A cheap guard first (a separator in position 2 or 3): most values are ISO dates."""
    separators = ("/", ".", "-")
    guard = F.substring(value, 2, 1).isin(*separators) | F.substring(value, 3, 1).isin(*separators)
    return guard & value.rlike(sniff.NUMERIC_DATE_RE)


def numeric_date_as_iso(value: Column, order: str) -> Column:
    """A numeric date in the file's order (`dmy` or `mdy`) as naive ISO text; other text unchanged."""
    first, second, year, hour, minute, sec = _numeric_date_parts(value)
    day, month = (first, second) if order == "dmy" else (second, first)
    date = F.concat_ws("-", year, F.lpad(month, 2, "0"), F.lpad(day, 2, "0"))
    time = F.concat_ws(":", F.lpad(hour, 2, "0"), minute, F.when(sec != "", sec).otherwise(F.lit("00")))
    iso = F.when(hour != "", F.concat(date, F.lit(" "), time)).otherwise(date)
    return F.when(_looks_numeric_date(value), iso).otherwise(value)


def _ambiguous_date(value: Column, column: str, issue: Column) -> Column:
    """The AMBIGUOUS_DATE detail of a numeric date whose day and month differ, in a file whose
    order is not determined (a date whose two numbers are equal reads the same either way)."""
    first, second = _numeric_date_parts(value)[:2]
    differ = _looks_numeric_date(value) & (first.cast("int") != second.cast("int"))
    return F.when(differ, F.concat(F.lit(f"{column}="), _quoted(value), F.lit(" "), issue))


@dataclass(frozen=True)
class EntityReading:
    """What the files of one entity in a run need read beyond the contract form, so that the
    cleaning expressions carry a rewrite only when some file needs it."""

    date_orders: frozenset[str] = frozenset()
    """The numeric date orders (`dmy`, `mdy`) among the files."""
    decimal_comma: bool = False
    """Some file writes decimals with a comma."""

    @classmethod
    def of(cls, readings: Collection[FileReading]) -> EntityReading:
        orders = {r.date_order or "dmy" for r in readings} & {"dmy", "mdy"}
        return cls(frozenset(orders), any(r.decimal == "," for r in readings))

    def rewrite(
        self, *, dates: Sequence[str] = (), numbers: Sequence[str] = ()
    ) -> Callable[[DataFrame], DataFrame]:
        """The text columns `dates` and `numbers` rewritten to the contract form (`date`, `number`).

        A step of its own, over columns already trimmed: a rewrite mentions its value up to 17
        times, and Spark evaluates an expression at each mention but a column once per row. With
        `text(...)` inlined there, every row's timestamp was trimmed 17 times."""

        columns = [*(dates if self.date_orders else ()), *(numbers if self.decimal_comma else ())]

        def _(df: DataFrame) -> DataFrame:
            return df.withColumns(
                {c: self.date(F.col(c)) if c in dates else self.number(F.col(c)) for c in columns}
            )

        return _

    def date(self, value: Column) -> Column:
        """A numeric date as naive ISO text in its file's order (`_date_order`)."""
        result: Column | None = None
        for order in sorted(self.date_orders):
            rewritten = numeric_date_as_iso(value, order)
            is_order = F.col(DATE_ORDER) == F.lit(order)
            result = F.when(is_order, rewritten) if result is None else result.when(is_order, rewritten)
        return value if result is None else result.otherwise(value)

    def number(self, value: Column) -> Column:
        """A number in its file's decimal convention (`_decimal`) as a plain decimal."""
        if not self.decimal_comma:
            return value
        return F.when(F.col(DECIMAL) == F.lit(","), decimal_comma_number(value)).otherwise(value)


FILE_COLUMNS = T.StructType(
    [
        T.StructField(FILE, T.StringType(), False),
        T.StructField(FILE_INDEX, T.IntegerType(), False),
        T.StructField(SOURCE_FILE, T.StringType(), False),
        T.StructField(SHAPE, T.IntegerType(), False),
        T.StructField(MISSING_COLUMN, T.StringType()),
        T.StructField(FILE_DATE_ISSUE, T.StringType()),
        T.StructField(DATE_ORDER, T.StringType()),
        T.StructField(DECIMAL, T.StringType()),
        T.StructField(SOURCE_TZ, T.StringType()),
        T.StructField(DEFAULT_CURRENCY, T.StringType()),
    ]
)
"""One row per file of an entity (`file_row`): what `to_canonical` needs of a row's file, joined
to the rows on `_file`, so that many files cost one frame, not a branch each."""


def file_row(
    key: str,
    file_index: int,
    source_file: str,
    shape: int,
    mapping: ColumnMapping,
    reading: FileReading,
    missing_message: str | None = None,
) -> tuple[Any, ...]:
    """A `FILE_COLUMNS` row.

    :param key: the file's `_file` value (`read.RawFile.key`).
    :param file_index: position of the file in the run's claim order (later wins duplicates).
    :param source_file: landing path recorded in lineage.
    :param shape: index of the file's `mapping` in the list given to `to_canonical`.
    :param reading: the file's decimal separator, date order, time zone and currency.
    :param missing_message: the MISSING_COLUMN detail (`missing_column_message`).
    """
    missing = None
    if mapping.missing_required:
        missing = missing_message or "missing required column " + ", ".join(mapping.missing_required)
    return (
        key,
        file_index,
        source_file,
        shape,
        missing,
        reading.date_issue if reading.date_order is None else None,
        reading.date_order,
        reading.decimal,
        reading.source_tz,
        reading.default_currency,
    )


def to_canonical(shapes: Sequence[ColumnMapping]) -> Callable[[DataFrame], DataFrame]:
    """Rename a raw frame's columns to the contract, as raw strings, with lineage and each row's
    file's reading (the cleaners read numbers and numeric dates by it: one order per file, never
    per row; the raw strings stay as they were, for quarantine).

    :param shapes: `map_columns` of each distinct header among the files; a row's `_shape` (from
        its file's `FILE_COLUMNS` row, already joined) says which one is its file's. A feed of
        many files has one or a few: the expressions grow with the headers, not the files.
    :returns: a transform whose output has `_file_idx`, `_source_file`, `_record_number`,
        `_corrupt`, `_missing_column`, every contract source column (string; null when the file
        lacks it), `extra` (JSON object text of the other columns, or null when there are none),
        `_date_issue`, `_date_order`, `_decimal`, `_source_tz`, `_default_currency` and `_shape`.
    """
    entity = shapes[0].entity
    spec = contract.ENTITIES[entity]
    date_column = DATE_COLUMNS[entity]

    def by_shape(value_of: Callable[[ColumnMapping], Column]) -> Column:
        if len(shapes) == 1:
            return value_of(shapes[0])
        result: Column | None = None
        for index, mapping in enumerate(shapes):
            is_shape = F.col(SHAPE) == F.lit(index)
            value = value_of(mapping)
            result = F.when(is_shape, value) if result is None else result.when(is_shape, value)
        assert result is not None
        return result

    def column_of(name: str) -> Callable[[ColumnMapping], Column]:
        def value_of(mapping: ColumnMapping) -> Column:
            index = mapping.contract_index.get(name)
            return F.col(source_column(index)) if index is not None else F.lit(None).cast("string")

        return value_of

    def extra_of(mapping: ColumnMapping) -> Column:
        if not mapping.extras:
            return F.lit(None).cast("string")
        return F.to_json(
            F.struct(*[F.col(source_column(i)).alias(k) for i, k in mapping.extras]), _JSON_OPTIONS
        )

    def _(df: DataFrame) -> DataFrame:
        columns = [F.col(c) for c in (FILE_INDEX, SOURCE_FILE, RECORD_NUMBER, CORRUPT, MISSING_COLUMN)]
        issue = F.lit(None).cast("string")
        for name in spec.source_columns:
            value = by_shape(column_of(name))
            if name == date_column and any(name in m.contract_index for m in shapes):
                # Undetermined: the dates whose day and month are equal read the same in either order.
                issue = F.when(
                    F.col(FILE_DATE_ISSUE).isNotNull(), _ambiguous_date(value, name, F.col(FILE_DATE_ISSUE))
                )
            columns.append(value.alias(name))
        columns += [
            by_shape(extra_of).alias(EXTRA),
            issue.alias(DATE_ISSUE),
            F.coalesce(F.col(DATE_ORDER), F.lit("dmy")).alias(DATE_ORDER),
            *[F.col(c) for c in (DECIMAL, SOURCE_TZ, DEFAULT_CURRENCY, SHAPE)],
        ]
        return df.select(*columns)

    return _


def with_key(entity: str) -> Callable[[DataFrame], DataFrame]:
    """Add `_key`, the trimmed key of the entity (null when empty)."""
    key = contract.ENTITIES[entity].key

    def _(df: DataFrame) -> DataFrame:
        return df.withColumn(KEY, text(F.col(key)))

    return _


def key_of_cleaned(entity: str) -> Callable[[DataFrame], DataFrame]:
    """Add `_key` to a cleaned frame: the typed key, which is the same trimmed text as `with_key`
    gives (so the cleaning pass trims the key once and a cache need not hold it twice).

    A key of several columns (fx_rates) is their typed values joined by `|` (`2025-03-01|GBP`),
    null when one is: typed, so that `2025/03/01` and `2025-03-01` are the same day.
    """
    spec = contract.ENTITIES[entity]

    def _(df: DataFrame) -> DataFrame:
        if len(spec.keys) == 1:
            return df.withColumn(KEY, F.col(parsed(spec.key)))
        parts = [F.col(parsed(c)).cast("string") for c in spec.keys]
        separated = [x for part in parts for x in (F.lit("|"), part)][1:]
        return df.withColumn(KEY, F.concat(*separated))  # null when a part is

    return _


# 3. Parsing helpers -------------------------------------------------------------------------------


def text(col: Column) -> Column:
    """Trimmed text (spaces, tabs, line breaks, no-break spaces), null when empty.

    Every value of every row goes through it, so it stays the plainest form: one `btrim` (copying
    each value) and one comparison on bytes (`length` would count characters). `nullif`, not
    `when(t != '', t)`: Spark evaluates a `when` value apart from its condition, which trimmed
    every value twice; `nullif` names the trimmed value once. A faster-looking variant that skips
    the copy for values with nothing to trim made the 10M-row benchmark (`make bench-clean`) slower
    in one run of eight by a factor of two: the cleaning step's compiled code grew past what the
    JVM compiles reliably.
    """
    return F.nullif(F.btrim(col, F.lit(_WHITESPACE)), F.lit(""))


def _quoted(col: Column) -> Column:
    return F.coalesce(
        F.concat(F.lit("'"), F.substring(col, 1, _DETAIL_VALUE_CHARS), F.lit("'")), F.lit("null")
    )


def _interpreted(value: Column, expression: Callable[[Column], Column]) -> Column:
    """`expression(value)`, evaluated by Spark's expression interpreter, not by generated code.

    For the rare paths: the drifted spellings (`$1,234.50`, `1.234,50 EUR`), tried only for the
    few values that fail the contract form. Kept out of the code every row runs through, which
    they would have doubled in size; at 10M rows that made the cleaning step slower for all rows
    to serve under 2% of them (`make bench-clean`).
    """
    return F.when(value.isNotNull(), F.get(F.transform(F.array(value), expression), 0))


def drifted_number_text(value: Column) -> Column:
    """A number spelled with currency symbols or separators, rewritten as a plain decimal.

    `$1,234.50` -> `1234.50`, `1.234,50 EUR` -> `1234.50`, `1 234` -> `1234`, `12,50` -> `12.50`;
    anything else is returned stripped and will fail the cast.
    """
    stripped = F.regexp_replace(value, "[" + re.escape(contract.CURRENCY_SYMBOLS) + "]", "")
    stripped = F.btrim(F.regexp_replace(F.btrim(stripped), contract.CURRENCY_CODE_AFFIX_RE, ""))
    return (
        F.when(stripped.rlike(contract.THOUSANDS_COMMA_RE), F.regexp_replace(stripped, ",", ""))
        .when(
            stripped.rlike(contract.THOUSANDS_DOT_RE),
            F.regexp_replace(F.regexp_replace(stripped, r"\.", ""), ",", "."),
        )
        .when(
            stripped.rlike(contract.THOUSANDS_SPACE_RE),
            F.regexp_replace(F.regexp_replace(stripped, " ", ""), ",", "."),
        )
        .when(stripped.rlike(contract.DECIMAL_COMMA_RE), F.regexp_replace(stripped, ",", "."))
        .otherwise(stripped)
    )


def parse_number(value: Column, dtype: T.DecimalType) -> tuple[Column, Column]:
    """(decimal rounded half-up to `dtype`, coerced?) of trimmed text; null when not a number
    or out of range."""
    plain = value.try_cast(dtype.simpleString())
    result = F.coalesce(
        plain, _interpreted(value, lambda v: drifted_number_text(v).try_cast(dtype.simpleString()))
    )
    return result, plain.isNull() & result.isNotNull()


def parse_timestamp(value: Column, source_tz: str | Column) -> tuple[Column, Column]:
    """(UTC timestamp, coerced?) of trimmed text.

    The contract form (`contract.ISO_TIMESTAMP_OFFSET_RE` / `ISO_TIMESTAMP_RE`) first; then the
    drifted spellings of `contract.OTHER_TIMESTAMP_FORMATS`, `OTHER_TIMESTAMP_OFFSET_FORMATS` and
    epoch seconds / milliseconds. Numeric dates (`03/04/2025`) arrive here already rewritten in
    their file's order (`to_canonical`), never guessed per row. Naive values are wall-clock time
    in `source_tz` (a zone name, or a column when the files of a run differ). Relies on the
    session time zone being UTC.
    """

    def from_source_tz(naive: Column) -> Column:
        if isinstance(source_tz, str):
            return naive if source_tz == "UTC" else F.to_utc_timestamp(naive, source_tz)
        return F.to_utc_timestamp(naive, source_tz)

    as_timestamp = value.try_cast("timestamp")
    standard = F.when(value.rlike(contract.ISO_TIMESTAMP_OFFSET_RE), as_timestamp).when(
        value.rlike(contract.ISO_TIMESTAMP_RE), from_source_tz(as_timestamp)
    )

    def drifted(v: Column) -> Column:
        without_day_name = F.regexp_replace(v, contract.RFC2822_DAY_NAME_RE, "")
        return F.coalesce(
            *[from_source_tz(F.try_to_timestamp(v, F.lit(f))) for f in contract.OTHER_TIMESTAMP_FORMATS],
            *[
                F.try_to_timestamp(without_day_name, F.lit(f))
                for f in contract.OTHER_TIMESTAMP_OFFSET_FORMATS
            ],
            F.when(v.rlike(contract.EPOCH_SECONDS_RE), F.timestamp_seconds(v.try_cast("bigint"))),
            F.when(v.rlike(contract.EPOCH_MILLIS_RE), F.timestamp_millis(v.try_cast("bigint"))),
        )

    result = F.coalesce(standard, _interpreted(value, drifted))
    return result, standard.isNull() & result.isNotNull()


def _try_to_date(value: Column, pattern: str) -> Column:
    """The date `value` spells in `pattern`, else null (never an error, ANSI mode or not).

    Runtime 3.0's Spark (4.0.1, versions.toml) has no `try_to_date` (a later Spark's); a timestamp
    parsed at midnight of that date in the session time zone and cast back in the same zone is it.
    """
    return F.try_to_timestamp(value, F.lit(pattern)).cast("date")


def parse_date(value: Column) -> tuple[Column, Column]:
    """(date, coerced?) of trimmed text: `yyyy-MM-dd`, the other `contract.DATE_FORMATS`, or the
    date part of an ISO timestamp (as written, before any time zone conversion)."""
    plain = _try_to_date(value, "yyyy-MM-dd")
    iso = F.when(
        value.rlike(contract.ISO_TIMESTAMP_RE) | value.rlike(contract.ISO_TIMESTAMP_OFFSET_RE),
        _try_to_date(F.substring(value, 1, 10), "yyyy-MM-dd"),
    )
    result = F.coalesce(plain, iso, *[_try_to_date(value, f) for f in contract.DATE_FORMATS[1:]])
    return result, plain.isNull() & iso.isNull() & result.isNotNull()


# 3b. Rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A row breaks the rule when `failed` is true; `detail` names the field and value."""

    reason: str
    failed: Column
    detail: Column


def apply_rules(entity: str, rules: Sequence[Rule]) -> Callable[[DataFrame], DataFrame]:
    """Set `_reason` / `_detail` to the first broken rule, in `contract.RULE_ORDER`.

    MISSING_COLUMN (the whole file lacks a required column) and MALFORMED_RECORD come first.
    """
    order = contract.RULE_ORDER[entity]
    unknown = [r.reason for r in rules if r.reason not in order]
    if unknown:
        raise ValueError(f"{entity}: rules {unknown} are not in contract.RULE_ORDER")
    ordered = sorted(rules, key=lambda r: order.index(r.reason))
    reason = F.when(F.col(MISSING_COLUMN).isNotNull(), F.lit("MISSING_COLUMN")).when(
        F.col(CORRUPT).isNotNull(), F.lit("MALFORMED_RECORD")
    )
    detail = F.when(F.col(MISSING_COLUMN).isNotNull(), F.col(MISSING_COLUMN)).when(
        F.col(CORRUPT).isNotNull(),
        F.concat(F.lit("record does not parse: "), F.substring(F.col(CORRUPT), 1, _DETAIL_VALUE_CHARS)),
    )
    for rule in ordered:
        failed = F.coalesce(rule.failed, F.lit(False))
        reason = reason.when(failed, F.lit(rule.reason))
        detail = detail.when(failed, rule.detail)

    def _(df: DataFrame) -> DataFrame:
        return df.withColumns({REASON: reason, DETAIL: detail})

    return _


def _ambiguous_date_rule() -> Rule:
    """AMBIGUOUS_DATE: a numeric date whose file has no determined order (`to_canonical`)."""
    return Rule("AMBIGUOUS_DATE", F.col(DATE_ISSUE).isNotNull(), F.col(DATE_ISSUE))


def _bad_currency(currencies: Collection[str]) -> Rule:
    """BAD_CURRENCY: the currency is not one of `currencies` (ISO 4217 codes); orders and rates alike."""
    return Rule(
        "BAD_CURRENCY",
        ~F.col(parsed("currency")).isin(sorted(currencies)),
        F.concat(F.lit("currency="), _quoted(F.col("_t_currency")), F.lit(" is not an ISO 4217 code")),
    )


def _missing_required(fields: Sequence[tuple[str, Column]]) -> Rule:
    """MISSING_REQUIRED when any (name, trimmed text) is null; the detail names the first."""
    failed = F.lit(False)
    detail: Column | None = None
    for name, value in fields:
        is_null = value.isNull()
        failed = failed | is_null
        message = F.lit(f"{name} is empty")
        detail = F.when(is_null, message) if detail is None else detail.when(is_null, message)
    assert detail is not None
    return Rule("MISSING_REQUIRED", failed, detail)


def clean_transactions(
    *,
    logical_end: datetime,
    source_tz: str | Column = "UTC",
    default_currency: str | Column = "USD",
    currencies: Collection[str],
    reading: EntityReading | None = None,
) -> Callable[[DataFrame], DataFrame]:
    """Type and validate canonical transaction rows (see the contract in README / issue 3).

    :param logical_end: end of the run's data interval (tz-aware); later timestamps are FUTURE_TIMESTAMP.
    :param source_tz: IANA zone naive timestamps are read in (or a column: per file).
    :param default_currency: currency of rows that carry none (or a column: per file).
    :param currencies: allowed ISO 4217 codes (`refdata.currency_codes()`).
    :param reading: the numeric date orders and decimal separators among the files.
    :returns: a transform adding `_p_<column>` typed values, `_coerced_<column>` flags, `_reason`, `_detail`.
    """
    if logical_end.tzinfo is None:
        raise ValueError("logical_end must be time-zone aware")
    end = logical_end.astimezone(UTC)
    end_text = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    unit_price_type = schema.spark_type(_field("silver.transactions", "unit_price"))
    amount_type = schema.spark_type(_field("silver.transactions", "amount"))
    assert isinstance(unit_price_type, T.DecimalType)
    assert isinstance(amount_type, T.DecimalType)
    statuses = F.create_map(*[F.lit(x) for kv in sorted(contract.STATUS_SYNONYMS.items()) for x in kv])
    read = reading or EntityReading()

    def _(df: DataFrame) -> DataFrame:
        ts, ts_coerced = parse_timestamp(F.col("_t_transaction_ts"), source_tz)
        quantity_number, quantity_coerced = parse_number(F.col("_t_quantity"), T.DecimalType(38, 6))
        unit_price, unit_price_coerced = parse_number(F.col("_t_unit_price"), unit_price_type)
        amount_given, amount_coerced = parse_number(F.col("_t_amount"), amount_type)
        quantity = F.col("_n_quantity")
        whole = (quantity >= 1) & (quantity == F.floor(quantity)) & (quantity <= F.lit(2**63 - 1))
        product = F.round(F.try_multiply(F.col(parsed("quantity")), F.col(parsed("unit_price"))), 2).try_cast(
            amount_type
        )
        typed = (
            df.withColumns(
                {
                    parsed("transaction_id"): text(F.col("transaction_id")),
                    parsed("customer_id"): text(F.col("customer_id")),
                    parsed("agent_id"): text(F.col("agent_id")),
                    parsed("channel"): F.lower(text(F.col("channel"))),
                    parsed("payment_method"): F.lower(text(F.col("payment_method"))),
                    "_t_transaction_ts": text(F.col("transaction_ts")),
                    "_t_quantity": text(F.col("quantity")),
                    "_t_unit_price": text(F.col("unit_price")),
                    "_t_amount": text(F.col("amount")),
                    "_t_currency": F.upper(text(F.col("currency"))),
                    "_t_status": F.lower(text(F.col("status"))),
                }
            )
            .transform(
                read.rewrite(
                    dates=["_t_transaction_ts"], numbers=["_t_quantity", "_t_unit_price", "_t_amount"]
                )
            )
            .withColumns(
                {
                    parsed("transaction_ts"): ts,
                    coerced("transaction_ts"): ts_coerced,
                    "_n_quantity": quantity_number,
                    coerced("quantity"): quantity_coerced,
                    parsed("unit_price"): unit_price,
                    coerced("unit_price"): unit_price_coerced,
                    "_n_amount": amount_given,
                    coerced("amount"): amount_coerced,
                    parsed("currency"): F.coalesce(
                        F.col("_t_currency"),
                        F.lit(default_currency) if isinstance(default_currency, str) else default_currency,
                    ),
                    parsed("status"): F.when(
                        F.col("_t_status").isNull(), F.lit(contract.DEFAULT_STATUS)
                    ).otherwise(F.try_element_at(statuses, F.col("_t_status"))),
                }
            )
            .withColumn(
                parsed("quantity"),
                F.when(F.col("_t_quantity").isNull(), F.lit(contract.DEFAULT_QUANTITY).cast("bigint")).when(
                    whole, F.col("_n_quantity").cast("bigint")
                ),
            )
            .withColumn(
                parsed("amount"),
                F.when(F.col("_t_amount").isNotNull(), F.col("_n_amount")).when(
                    F.col("_t_quantity").isNotNull() & F.col("_t_unit_price").isNotNull(), product
                ),
            )
        )
        rules = [
            _missing_required(
                [
                    ("transaction_id", F.col(parsed("transaction_id"))),
                    ("transaction_ts", F.col("_t_transaction_ts")),
                    ("customer_id", F.col(parsed("customer_id"))),
                ]
            ),
            _ambiguous_date_rule(),
            Rule(
                "BAD_TIMESTAMP",
                F.col(parsed("transaction_ts")).isNull(),
                F.concat(
                    F.lit("transaction_ts="),
                    _quoted(F.col("_t_transaction_ts")),
                    F.lit(" matches no accepted format"),
                ),
            ),
            Rule(
                "FUTURE_TIMESTAMP",
                F.col(parsed("transaction_ts")) > F.lit(end),
                F.concat(
                    F.lit("transaction_ts="),
                    _quoted(F.col("transaction_ts")),
                    F.lit(f" is after the run's logical end {end_text}"),
                ),
            ),
            Rule(
                "BAD_QUANTITY",
                F.col("_t_quantity").isNotNull() & F.col(parsed("quantity")).isNull(),
                F.concat(
                    F.lit("quantity="),
                    _quoted(F.col("_t_quantity")),
                    F.lit(" is not a whole number of at least 1"),
                ),
            ),
            Rule(
                "BAD_AMOUNT",
                (F.col("_t_unit_price").isNotNull() & F.col(parsed("unit_price")).isNull())
                | F.col(parsed("amount")).isNull(),
                F.when(
                    F.col("_t_unit_price").isNotNull() & F.col(parsed("unit_price")).isNull(),
                    F.concat(
                        F.lit("unit_price="),
                        _quoted(F.col("_t_unit_price")),
                        F.lit(" is not a number in range"),
                    ),
                )
                .when(
                    F.col("_t_amount").isNotNull(),
                    F.concat(
                        F.lit("amount="), _quoted(F.col("_t_amount")), F.lit(" is not a number in range")
                    ),
                )
                .when(
                    F.col("_t_quantity").isNotNull() & F.col("_t_unit_price").isNotNull(),
                    F.lit("amount is empty and quantity x unit_price is out of range"),
                )
                .otherwise(F.lit("amount is empty and quantity and unit_price are not both given")),
            ),
            Rule(
                "NEGATIVE_AMOUNT",
                (F.col(parsed("amount")) < 0) | (F.col(parsed("unit_price")) < 0),
                F.when(
                    F.col(parsed("unit_price")) < 0,
                    F.concat(F.lit("unit_price="), _quoted(F.col("_t_unit_price")), F.lit(" is below 0")),
                ).otherwise(
                    F.concat(
                        F.lit("amount="),
                        _quoted(F.coalesce(F.col("_t_amount"), F.col(parsed("amount")).cast("string"))),
                        F.lit(" is below 0"),
                    )
                ),
            ),
            _bad_currency(currencies),
            Rule(
                "UNKNOWN_STATUS",
                F.col(parsed("status")).isNull(),
                F.concat(
                    F.lit("status="),
                    _quoted(F.col("_t_status")),
                    F.lit(" is not one of " + ", ".join(contract.STATUSES)),
                ),
            ),
        ]
        return typed.transform(apply_rules("transactions", rules))

    return _


def _field(table: str, column: str) -> catalog.Field:
    return catalog.table(table).field(column)


def e164_numbers(phone: pd.Series, region: pd.Series) -> pd.Series:
    """Phone numbers to E.164 (`phonenumbers`), `region` (alpha-2) as the default country; null
    when a number does not parse or is not a valid number."""
    import phonenumbers

    def one(number: object, country: object) -> str | None:
        if not isinstance(number, str):
            return None
        try:
            value = phonenumbers.parse(number, country if isinstance(country, str) else None)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(value):
            return None
        return str(phonenumbers.format_number(value, phonenumbers.PhoneNumberFormat.E164))

    return pd.Series([one(p, r) for p, r in zip(phone, region, strict=True)], dtype=object)


def _phone_udf() -> Any:
    return F.pandas_udf(e164_numbers, T.StringType())  # type: ignore[call-overload]


def clean_customers(
    *, countries: DataFrame, reading: EntityReading | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Type and validate canonical customer rows.

    Email trimmed, lower-cased and checked (`contract.EMAIL_RE`); country name / alpha-2 / alpha-3
    to alpha-2 through a join with `countries` (`country_key`, `alpha_2`); phone to E.164
    (`phonenumbers`, the country as the default region); signup_date a date.

    :param countries: lookup frame from `country_lookup`.
    """
    e164 = _phone_udf()

    def _(df: DataFrame) -> DataFrame:
        signup, signup_coerced = parse_date(F.col("_t_signup_date"))
        typed = (
            df.withColumns(
                {
                    parsed("customer_id"): text(F.col("customer_id")),
                    parsed("full_name"): text(F.col("full_name")),
                    parsed("city"): text(F.col("city")),
                    "_t_email": F.lower(text(F.col("email"))),
                    "_t_phone": text(F.col("phone")),
                    "_t_country": F.upper(text(F.col("country"))),
                    "_t_signup_date": text(F.col("signup_date")),
                }
            )
            .transform((reading or EntityReading()).rewrite(dates=["_t_signup_date"]))
            .join(F.broadcast(countries), F.col("_t_country") == F.col("country_key"), "left")
            .withColumnRenamed("alpha_2", parsed("country"))
            .drop("country_key")
            .withColumns(
                {
                    parsed("email"): F.when(F.col("_t_email").rlike(contract.EMAIL_RE), F.col("_t_email")),
                    parsed("phone"): F.when(
                        F.col("_t_phone").isNotNull(), e164(F.col("_t_phone"), F.col(parsed("country")))
                    ),
                    parsed("signup_date"): signup,
                    coerced("signup_date"): signup_coerced,
                }
            )
        )
        rules = [
            _missing_required([("customer_id", F.col(parsed("customer_id")))]),
            Rule(
                "BAD_EMAIL",
                F.col("_t_email").isNotNull() & F.col(parsed("email")).isNull(),
                F.concat(F.lit("email="), _quoted(F.col("_t_email")), F.lit(" is not a valid address")),
            ),
            Rule(
                "BAD_PHONE",
                F.col("_t_phone").isNotNull() & F.col(parsed("phone")).isNull(),
                F.concat(F.lit("phone="), _quoted(F.col("_t_phone")), F.lit(" is not a valid phone number")),
            ),
            Rule(
                "BAD_COUNTRY",
                F.col("_t_country").isNotNull() & F.col(parsed("country")).isNull(),
                F.concat(
                    F.lit("country="), _quoted(F.col("_t_country")), F.lit(" is not an ISO 3166 country")
                ),
            ),
            _ambiguous_date_rule(),
            Rule(
                "BAD_DATE",
                F.col("_t_signup_date").isNotNull() & F.col(parsed("signup_date")).isNull(),
                F.concat(F.lit("signup_date="), _quoted(F.col("_t_signup_date")), F.lit(" is not a date")),
            ),
        ]
        return typed.transform(apply_rules("customers", rules))

    return _


def clean_agents(reading: EntityReading | None = None) -> Callable[[DataFrame], DataFrame]:
    """Type and validate canonical agent rows: agent_id required, hire_date a date."""

    def _(df: DataFrame) -> DataFrame:
        hired, hired_coerced = parse_date(F.col("_t_hire_date"))
        typed = df.withColumns(
            {
                parsed("agent_id"): text(F.col("agent_id")),
                parsed("agent_name"): text(F.col("agent_name")),
                parsed("team"): text(F.col("team")),
                "_t_hire_date": text(F.col("hire_date")),
            }
        )
        typed = typed.transform((reading or EntityReading()).rewrite(dates=["_t_hire_date"])).withColumns(
            {parsed("hire_date"): hired, coerced("hire_date"): hired_coerced}
        )
        rules = [
            _missing_required([("agent_id", F.col(parsed("agent_id")))]),
            _ambiguous_date_rule(),
            Rule(
                "BAD_DATE",
                F.col("_t_hire_date").isNotNull() & F.col(parsed("hire_date")).isNull(),
                F.concat(F.lit("hire_date="), _quoted(F.col("_t_hire_date")), F.lit(" is not a date")),
            ),
        ]
        return typed.transform(apply_rules("agents", rules))

    return _


def clean_fx_rates(
    *, currencies: Collection[str], reading: EntityReading | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Type and validate canonical exchange-rate rows: date a date, currency an ISO 4217 code
    (upper-cased), rate a number above 0 (a rate of 0 would convert every amount to nothing, and
    a negative one has no meaning), all three required.

    :param currencies: allowed ISO 4217 codes (`refdata.currency_codes()`).
    :param reading: the numeric date orders and decimal separators among the files.
    """
    rate_type = schema.spark_type(_field("silver.fx_rates", "rate"))
    assert isinstance(rate_type, T.DecimalType)
    read = reading or EntityReading()

    def _(df: DataFrame) -> DataFrame:
        day, day_coerced = parse_date(F.col("_t_date"))
        rate, rate_coerced = parse_number(F.col("_t_rate"), rate_type)
        typed = df.withColumns(
            {
                "_t_date": text(F.col("date")),
                "_t_currency": F.upper(text(F.col("currency"))),
                "_t_rate": text(F.col("rate")),
            }
        )
        typed = typed.transform(read.rewrite(dates=["_t_date"], numbers=["_t_rate"])).withColumns(
            {
                parsed("date"): day,
                coerced("date"): day_coerced,
                parsed("currency"): F.col("_t_currency"),
                parsed("rate"): rate,
                coerced("rate"): rate_coerced,
            }
        )
        rules = [
            _missing_required(
                [
                    ("date", F.col("_t_date")),
                    ("currency", F.col("_t_currency")),
                    ("rate", F.col("_t_rate")),
                ]
            ),
            _ambiguous_date_rule(),
            Rule(
                "BAD_DATE",
                F.col(parsed("date")).isNull(),
                F.concat(F.lit("date="), _quoted(F.col("_t_date")), F.lit(" is not a date")),
            ),
            _bad_currency(currencies),
            Rule(
                "BAD_RATE",
                F.col(parsed("rate")).isNull() | (F.col(parsed("rate")) <= 0),
                F.concat(F.lit("rate="), _quoted(F.col("_t_rate")), F.lit(" is not a number above 0")),
            ),
        ]
        return typed.transform(apply_rules("fx_rates", rules))

    return _


# 4. Duplicates ----------------------------------------------------------------------------------


def _key_hash() -> Column:
    return F.xxhash64(F.col(KEY))


def duplicate_candidates(df: DataFrame) -> DataFrame:
    """64-bit hashes (`_key_hash`) of the keys that more than one raw row carries, whatever their
    reasons: only these rows can be duplicates, so only they keep their raw values until the
    winners are known.

    Reads nothing but the key (a CSV scan parses one column) and groups longs, not strings; a hash
    collision only makes a few more rows candidates.
    """
    return (
        df.where(F.col(KEY).isNotNull())
        .groupBy(_key_hash().alias("_key_hash"))
        .agg(F.count(F.lit(1)).alias("_rows"))
        .where(F.col("_rows") > 1)
        .select("_key_hash", F.lit(True).alias(CANDIDATE))
    )


def flag_candidates(candidates: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Add `_candidate`: the row's key hash is in `candidates` (from `duplicate_candidates`).

    Broadcast: the candidates are few next to the rows, and a shuffled join would move every wide row.
    """

    def _(df: DataFrame) -> DataFrame:
        return (
            df.withColumn("_key_hash", _key_hash())
            .join(F.broadcast(candidates), "_key_hash", "left")
            .withColumn(CANDIDATE, F.coalesce(F.col(CANDIDATE), F.lit(False)))
            .drop("_key_hash")
        )

    return _


def source_file_of(file_index: Column, source_files: Sequence[str]) -> Column:
    """The landing path of a file index (null when out of range)."""
    files = F.create_map(*[F.lit(x) for i, f in enumerate(source_files) for x in (i, f)])
    return F.try_element_at(files, file_index)


def _position() -> Column:
    return F.col(FILE_INDEX).cast("bigint") * F.lit(1 << _RECORD_BITS) + F.col(RECORD_NUMBER)


def duplicate_winners(df: DataFrame) -> DataFrame:
    """`_key` -> `_winner` (packed file index and record number) for the keys that more than one
    row without a reason carries: the latest file, then the last record.

    An aggregate of two narrow columns, not a window over whole rows: only the (usually few)
    duplicated keys come out, small enough to be broadcast back by the join in `mark_duplicates`.
    """
    return (
        df.where(F.col(REASON).isNull())
        .groupBy(KEY)
        .agg(F.max(_position()).alias("_winner"), F.count(F.lit(1)).alias("_rows"))
        .where(F.col("_rows") > 1)
        .select(KEY, "_winner")
    )


def mark_duplicates(
    entity: str, winners: DataFrame, source_files: Sequence[str]
) -> Callable[[DataFrame], DataFrame]:
    """Give DUPLICATE_KEY, and a detail naming the winner, to every row without a reason whose key
    is in `winners` (from `duplicate_winners`) and which is not the winner itself.

    :param source_files: landing paths by file index (for the detail).
    """
    key = ", ".join(contract.ENTITIES[entity].keys)

    def _(df: DataFrame) -> DataFrame:
        winner = F.col("_winner")
        loser = F.col(REASON).isNull() & winner.isNotNull() & (winner != _position())
        winner_file = source_file_of(F.shiftright(winner, _RECORD_BITS).cast("int"), source_files)
        winner_record = winner - F.shiftleft(F.shiftright(winner, _RECORD_BITS), _RECORD_BITS)
        detail = F.concat(
            F.lit(f"{key}="),
            _quoted(F.col(KEY)),
            F.lit(" superseded by record "),
            winner_record.cast("string"),
            F.lit(" of "),
            F.coalesce(winner_file, F.lit("?")),
        )
        return (
            df.join(winners, KEY, "left")
            .withColumns(
                {
                    REASON: F.when(loser, F.lit("DUPLICATE_KEY")).otherwise(F.col(REASON)),
                    DETAIL: F.when(loser, detail).otherwise(F.col(DETAIL)),
                }
            )
            .drop("_winner")
        )

    return _


# 5. Outputs ---------------------------------------------------------------------------------------


def raw_record(mappings: Sequence[ColumnMapping]) -> Column:
    """The original values of a row as JSON text keyed by the original header names.

    Rebuilt from the canonical raw strings and `extra` with each file's header (mapping i is the
    header of the rows whose `_shape` is i), so nothing extra travels with the valid rows; a
    malformed record also carries its raw text under `_corrupt_record`.
    """
    extra_map = F.from_json(F.col(EXTRA), "map<string,string>")  # pyspark 4.0 types a schema as DDL or struct
    result: Column | None = None
    for index, mapping in enumerate(mappings):
        by_position = {i: c for c, i in mapping.contract_index.items()}
        extra_key = dict(mapping.extras)
        fields = [
            (
                F.col(by_position[i])
                if i in by_position
                else F.try_element_at(extra_map, F.lit(extra_key[i]))
            ).alias(name)
            for i, name in enumerate(mapping.header)
        ]
        plain = F.to_json(F.struct(*fields), _JSON_OPTIONS) if fields else F.lit("{}")
        with_corrupt = F.to_json(F.struct(*fields, F.col(CORRUPT).alias("_corrupt_record")), _JSON_OPTIONS)
        value = F.when(F.col(CORRUPT).isNotNull(), with_corrupt).otherwise(plain)
        is_shape = F.col(SHAPE) == index
        result = F.when(is_shape, value) if result is None else result.when(is_shape, value)
    return result if result is not None else F.lit(None).cast("string")


def with_raw_record(mappings: Sequence[ColumnMapping]) -> Callable[[DataFrame], DataFrame]:
    """Add `_raw_record` for rejected rows only (null for valid rows)."""

    def _(df: DataFrame) -> DataFrame:
        return df.withColumn(RAW_RECORD, F.when(F.col(REASON).isNotNull(), raw_record(mappings)))

    return _


def keep_raw_values_of_suspects(entity: str) -> Callable[[DataFrame], DataFrame]:
    """The raw strings of rows rejected or duplicate candidates (`_candidate`) in one array column,
    `_raw_values` (null for the other rows); `extra` stays (silver keeps it).

    Only a rejected row needs them (for `raw_record`), and only a candidate can still be rejected
    once the winners are known: so a cached frame carries the raw strings of a few rows, not all.
    One column, not one per field: the cache records every null of every column, and ten columns
    null in 98% of the rows were about a third of what it stored. An array, not `raw_record`
    itself, so the cleaning stage's generated code stays small. `raw_values` unpacks it.
    """
    spec = contract.ENTITIES[entity]

    def _(df: DataFrame) -> DataFrame:
        suspect = F.col(REASON).isNotNull() | F.col(CANDIDATE)
        return df.withColumn(RAW_VALUES, F.when(suspect, F.array(*spec.source_columns)))

    return _


def raw_values(entity: str) -> dict[str, Column]:
    """The raw strings `keep_raw_values_of_suspects` packed, as their columns again."""
    return {c: F.col(RAW_VALUES)[i] for i, c in enumerate(contract.ENTITIES[entity].source_columns)}


def silver_rows(entity: str, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """Valid rows in exactly the silver table's columns and types; the columns the silver load
    derives (`contract.DERIVED_COLUMNS`: the amount in the reporting currency, which needs the
    rates held in silver) are null here."""
    spec = contract.ENTITIES[entity]
    derived = [c for c in catalog.table(spec.table).column_names if c in contract.DERIVED_COLUMNS]

    def _(df: DataFrame) -> DataFrame:
        return (
            df.where(F.col(REASON).isNull())
            .select(
                *[F.col(parsed(c)).alias(c) for c in spec.source_columns],
                *[F.lit(None).alias(c) for c in derived],
                F.col(EXTRA),
                F.col(SOURCE_FILE).alias("source_file"),
                F.col(RECORD_NUMBER).alias("record_number"),
                F.lit(run_id).alias("run_id"),
            )
            .transform(schema.conform(spec.table))
        )

    return _


def quarantine_rows(entity: str, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """Rejected rows in exactly the `audit.quarantine` columns."""

    def _(df: DataFrame) -> DataFrame:
        return (
            df.where(F.col(REASON).isNotNull())
            .select(
                F.lit(run_id).alias("run_id"),
                F.lit(entity).alias("entity"),
                F.col(SOURCE_FILE).alias("source_file"),
                F.col(RECORD_NUMBER).alias("record_number"),
                F.col(REASON).alias("reason"),
                F.col(DETAIL).alias("detail"),
                F.col(RAW_RECORD).alias("raw_record"),
            )
            .transform(schema.conform("audit.quarantine"))
        )

    return _


def country_lookup_rows() -> list[tuple[str, str]]:
    """Rows of the country lookup frame (`country_key`, `alpha_2`), from `refdata`."""
    from spark import refdata

    return list(refdata.country_spellings())


COUNTRY_LOOKUP_SCHEMA = T.StructType(
    [T.StructField("country_key", T.StringType(), False), T.StructField("alpha_2", T.StringType(), False)]
)

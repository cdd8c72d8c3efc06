"""Speed and memory of the cleaning job on one large transactions file (issue 4, "Speed and memory").

`python -m bench.clean --rows N` (`make bench-clean ROWS=N`, default 10,000,000):

1. **Generate** (not timed) N transaction rows into one CSV with numpy and Arrow, about 2% of them
   dirty, one defect each, of the sample data's kinds (`pipeline.sample_data.DIRTY_KINDS`):
   duplicate keys (exact re-sends and changed re-sends), bad and negative amounts, malformed and
   future timestamps, missing ids, unknown statuses, bad currencies. The generator knows the
   quarantine reason each dirty row should get, so both implementations are also checked against
   it. The clean rows use the sample data's vocabularies (channels and their casing, status
   synonyms, the four amount styles, Z / offset / space / naive timestamps).
2. **Spark** (timed, start-up included): a child process starts the local session of
   `pipeline.spark_session` (local[*]) and calls `spark.job.run_job` on the file, the real job
   with every output (silver, quarantine, file stats, metrics, the conservation check).
3. **DuckDB** (timed): a child process applies the same rules in SQL to the same file (every
   column read as text, the same parsing, reason order and dedupe) and writes the valid rows and
   the quarantine as Parquet: the reference floor.

Each child's process tree (the JVM included) is sampled for RSS every 0.1 s, each address space
counted once. The run prints rows/s, wall time, peak RSS and the counts of both, checks that the
valid and quarantined counts agree (exit status 1 when they do not) and ends with
`clean: rows=N spark_s=X duckdb_s=Y ratio=R peak_rss_gib=M` (R = X / Y, M the Spark run's peak).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from pipeline.sample_data import (
    _CHANNEL_WEIGHTS,
    _PAYMENTS,
    _PRICE_WEIGHTS,
    _PRICES_CENTS,
    _QUANTITIES,
    _QUANTITY_WEIGHTS,
    EXPECTED_REASONS,
    TRANSACTION_COLUMNS,
)
from spark import contract

FINAL_LINE = re.compile(
    r"^clean: rows=(\d+) spark_s=(\d+\.\d+) duckdb_s=(\d+\.\d+) ratio=(\d+\.\d+) peak_rss_gib=(\d+\.\d+)$"
)
# Issue 4 set the time; issue 18 tightened memory and the ratio to DuckDB ("at most 2.0x DuckDB and
# 4 GiB peak"), measured on the Spark that Dataproc runs (versions.toml).
TARGET_SECONDS = 120.0
TARGET_RSS_GIB = 4.0
TARGET_RATIO = 2.0
DIRTY_SHARE = 0.02
CHUNK_ROWS = 1_000_000
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 30
LOGICAL_END = datetime(2025, 2, 1, tzinfo=UTC)
RUN_ID = "bench-clean"
LANDING = "landing/transactions/"
SOURCE_FILE = f"{LANDING}bench.csv"
GIB = 1 << 30

# Defect kinds in the order they are dealt out (duplicates first, one defect per dirty row).
DIRTY_ORDER: tuple[str, ...] = tuple(EXPECTED_REASONS)


# 1. The file ------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, n: int, weights: Sequence[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def _vocab(values: Sequence[str | None]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _cat(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _cents_text(cents: np.ndarray) -> pa.Array:
    """Integer cents -> `d.dd` text."""
    whole = pa.array(cents // 100).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), width=2, padding="0")
    return _cat(whole, ".", frac)


def _where(mask: np.ndarray, a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), a, b)


def _timestamps(rng: np.random.Generator, seconds: np.ndarray) -> pa.Array:
    """The instants as sources write them: Z, offsets, space separator, naive (UTC)."""
    n = len(seconds)
    utc = pa.array(seconds, pa.timestamp("s"))
    style = rng.random(n)
    offset_h = np.array([2, 1, -5, 5])[rng.integers(0, 4, n)]
    offset_m = np.where(offset_h == 5, 30, 0)
    local = pa.array(seconds + offset_h * 3600 + offset_m * 60, pa.timestamp("s"))
    sign = np.where(offset_h >= 0, "+", "-")
    suffix = _cat(
        pa.array(sign),
        pc.utf8_lpad(pa.array(np.abs(offset_h)).cast(pa.string()), width=2, padding="0"),
        ":",
        pc.utf8_lpad(pa.array(offset_m).cast(pa.string()), width=2, padding="0"),
    )
    plus2 = pa.array(seconds + 7200, pa.timestamp("s"))
    out = pc.strftime(utc, format="%Y-%m-%d %H:%M")
    for upper, text in (
        (0.98, pc.strftime(utc, format="%Y-%m-%d %H:%M:%S")),
        (0.85, _cat(pc.strftime(plus2, format="%Y-%m-%d %H:%M:%S"), "+02:00")),
        (0.82, pc.strftime(utc, format="%Y-%m-%d %H:%M:%SZ")),
        (0.72, _cat(pc.strftime(local, format="%Y-%m-%dT%H:%M:%S"), suffix)),
        (0.60, pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")),
    ):
        out = _where(style < upper, text, out)
    return out


def _clean_chunk(rng: np.random.Generator, first_id: int, n: int, customers: int) -> dict[str, pa.Array]:
    channels = ("online", "store", "phone", "marketplace", None)
    channel = _pick(rng, n, _CHANNEL_WEIGHTS[False])
    casing = rng.random(n)
    channel_text = pc.take(_vocab(channels), pa.array(channel))
    channel_text = _where(casing < 0.05, pc.utf8_title(channel_text), channel_text)
    channel_text = _where((casing >= 0.05) & (casing < 0.07), pc.utf8_upper(channel_text), channel_text)

    ids = pc.utf8_lpad(pa.array(np.arange(first_id, first_id + n)).cast(pa.string()), width=10, padding="0")
    seconds = int(START.timestamp()) + rng.integers(0, DAYS * 86400, n)
    customer = (customers * rng.random(n) ** 2.5).astype(np.int64) + 1
    customer_text = _cat("C", pc.utf8_lpad(pa.array(customer).cast(pa.string()), width=7, padding="0"))
    agent = rng.integers(1, 121, n)
    agent_text = _cat("A", pc.utf8_lpad(pa.array(agent).cast(pa.string()), width=4, padding="0"))
    self_service = (
        (channel == 3) | ((channel == 0) & (rng.random(n) < 0.88)) | ((channel == 4) & (rng.random(n) < 0.5))
    )
    agent_text = _where(self_service, pa.nulls(n, pa.string()), agent_text)

    price = np.asarray(_PRICES_CENTS)[_pick(rng, n, _PRICE_WEIGHTS)]
    quantity = np.asarray(_QUANTITIES)[_pick(rng, n, _QUANTITY_WEIGHTS)]
    style = rng.random(n)
    style = np.where((channel == 3) & (style < 0.7), 0.9, style)
    quantity_text = pa.array(quantity).cast(pa.string())
    price_text = _cents_text(price)
    amount_text = _cents_text(quantity * price)
    null = pa.nulls(n, pa.string())
    # In full; quantity x unit_price only; amount only; unit_price and amount without quantity.
    amount_text = _where((style >= 0.75) & (style < 0.87), null, amount_text)
    no_qty = style >= 0.87
    quantity_text = _where(no_qty, null, quantity_text)
    price_text = _where((style >= 0.87) & (style < 0.95), null, price_text)
    amount_text = _where(style >= 0.95, _cents_text(price), amount_text)

    statuses = ("completed", "refunded", "cancelled", "canceled", "paid", None)
    status = _pick(rng, n, (0.84, 0.03, 0.012, 0.008, 0.03, 0.08))
    methods = ("card", "cash", "paypal", "apple_pay", "bank_transfer", "gift_card", None)
    weights: dict[str, float] = {}
    for names, w in _PAYMENTS.values():
        for name, x in zip(names, w, strict=True):
            weights[name] = weights.get(name, 0.0) + x
    payment = _pick(rng, n, [*(weights[str(m)] for m in methods[:-1]), 0.2])
    return {
        "transaction_id": _cat("TX-", ids),
        "transaction_ts": _timestamps(rng, seconds),
        "customer_id": customer_text,
        "agent_id": agent_text,
        "channel": channel_text,
        "quantity": quantity_text,
        "unit_price": price_text,
        "amount": amount_text,
        "currency": _where(rng.random(n) < 0.93, pa.array(["USD"] * n, pa.string()), null),
        "status": pc.take(_vocab(statuses), pa.array(status)),
        "payment_method": pc.take(_vocab(methods), pa.array(payment)),
    }


def _replace(column: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    order = np.argsort(rows, kind="stable")
    return pc.replace_with_mask(column, pa.array(mask), values.take(pa.array(order)))


def _choice(rng: np.random.Generator, options: Sequence[str], n: int) -> pa.Array:
    return pa.array(np.asarray(options, dtype=object)[rng.integers(0, len(options), n)], pa.string())


def _chunk(rng: np.random.Generator, first_id: int, n: int, customers: int) -> tuple[pa.Table, Counter[str]]:
    """`n` rows of the file, ~2% dirty; returns the rows and the dirty rows per kind."""
    cols = _clean_chunk(rng, first_id, n, customers)
    n_dirty = min(round(n * DIRTY_SHARE), max(n - 2, 0) // 2)
    slots = rng.choice(np.arange(1, n), size=n_dirty, replace=False) if n_dirty else np.zeros(0, np.int64)
    kinds = np.array([DIRTY_ORDER[i % len(DIRTY_ORDER)] for i in range(n_dirty)], dtype=object)
    rng.shuffle(kinds)
    dirty = np.zeros(n, dtype=bool)
    dirty[slots] = True

    # Duplicates: the dirty row becomes a copy of an earlier clean row, which then loses.
    dup_slots = np.sort(slots[np.isin(kinds, ("duplicate_resend", "duplicate_changed"))])
    dup_kinds = {int(s): str(k) for s, k in zip(slots, kinds, strict=True)}
    sources = np.zeros(len(dup_slots), dtype=np.int64)
    pending = np.ones(len(dup_slots), dtype=bool)
    while pending.any():
        sources[pending] = rng.integers(0, dup_slots[pending])
        pending = dirty[sources]
    order = np.arange(n)
    order[dup_slots] = sources
    table = pa.table(cols).take(pa.array(order))
    cols = {name: table.column(name).combine_chunks() for name in table.column_names}
    changed = np.array([s for s in dup_slots if dup_kinds[int(s)] == "duplicate_changed"], dtype=np.int64)
    if len(changed):
        cols["status"] = _replace(cols["status"], changed, pa.array(["refunded"] * len(changed)))

    t_base = pc.strftime(
        pa.array(int(START.timestamp()) + rng.integers(0, DAYS * 86400, n), pa.timestamp("s")),
        format="%Y-%m-%d %H:%M:%S",
    )
    for kind in DIRTY_ORDER:
        rows = np.sort(slots[kinds == kind])
        k = len(rows)
        if not k or kind.startswith("duplicate_"):
            continue
        if kind == "bad_amount":
            cols["amount"] = _replace(cols["amount"], rows, _choice(rng, ("abc", "12.3.4", "ten"), k))
        elif kind == "negative_amount":
            cols["amount"] = _replace(
                cols["amount"], rows, _cat("-", _cents_text(rng.integers(100, 50000, k)))
            )
        elif kind == "malformed_timestamp":
            base = pc.take(t_base, pa.array(rows))
            day32 = _cat(pc.utf8_slice_codeunits(base, 0, 8), "32", pc.utf8_slice_codeunits(base, 10, 19))
            hour25 = _cat(
                pc.utf8_slice_codeunits(base, 0, 10), "T25", pc.utf8_slice_codeunits(base, 13, 19), "Z"
            )
            pick = rng.integers(0, 3, k)
            text = _where(pick == 0, day32, _where(pick == 1, hour25, pa.array(["yesterday evening"] * k)))
            cols["transaction_ts"] = _replace(cols["transaction_ts"], rows, text)
        elif kind == "future_timestamp":
            base = pc.take(t_base, pa.array(rows))
            text = _cat(
                "2099", pc.utf8_slice_codeunits(base, 4, 10), "T", pc.utf8_slice_codeunits(base, 11, 19), "Z"
            )
            cols["transaction_ts"] = _replace(cols["transaction_ts"], rows, text)
        elif kind == "missing_transaction_id":
            cols["transaction_id"] = _replace(cols["transaction_id"], rows, pa.nulls(k, pa.string()))
        elif kind == "missing_customer_id":
            cols["customer_id"] = _replace(cols["customer_id"], rows, pa.nulls(k, pa.string()))
        elif kind == "unknown_status":
            cols["status"] = _replace(
                cols["status"], rows, _choice(rng, ("pending", "on_hold", "shipped"), k)
            )
        elif kind == "bad_currency":
            cols["currency"] = _replace(cols["currency"], rows, _choice(rng, ("US$", "DOLLARS", "ZZZ"), k))
        else:
            raise ValueError(f"unknown defect {kind!r}")
    return pa.table({c: cols[c] for c in TRANSACTION_COLUMNS}), Counter(str(k) for k in kinds)


def generate(path: Path, rows: int, *, seed: int = 7) -> dict[str, int]:
    """Write `rows` transaction rows to one CSV (header, no quoting, nulls as empty fields).

    :returns: the quarantine reason counts the rows should get (`EXPECTED_REASONS` of each dirty row).
    """
    rng = np.random.default_rng(seed)
    customers = max(100, rows // 50)
    expected: Counter[str] = Counter()
    schema = pa.schema([(c, pa.string()) for c in TRANSACTION_COLUMNS])
    options = pa_csv.WriteOptions(quoting_style="none", include_header=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(TRANSACTION_COLUMNS) + "\n")
    with path.open("ab") as sink, pa_csv.CSVWriter(sink, schema, write_options=options) as writer:
        for first in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - first)
            table, kinds = _chunk(rng, first + 1, n, customers)
            writer.write_table(table)
            for kind, count in kinds.items():
                expected[EXPECTED_REASONS[kind]] += count
    return dict(sorted(expected.items()))


# 2. Spark ---------------------------------------------------------------------------------------


def _paths(path: Path | Sequence[Path]) -> list[Path]:
    return [path] if isinstance(path, Path) else list(path)


def source_file(path: Path, *, many: bool) -> str:
    """The landing path recorded in lineage: `SOURCE_FILE` for one file, else each file's name
    under `landing/transactions/` (as `bench.files` lands them)."""
    return f"{LANDING}{path.name}" if many else SOURCE_FILE


def run_spark(path: Path | Sequence[Path], output: Path) -> dict[str, Any]:
    """The real job on a local session; seconds include starting the session. Several paths are
    one run's files in claim order (for a duplicate key the later file wins)."""
    paths = _paths(path)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    start = time.perf_counter()
    from pipeline.spark_session import get_spark
    from spark.job import InputFile, JobConfig, run_job

    spark = get_spark(sum(p.stat().st_size for p in paths))  # as `cdi run` sizes it
    started = time.perf_counter() - start
    config = JobConfig(
        run_id=RUN_ID,
        inputs=tuple(InputFile("transactions", str(p), source_file(p, many=len(paths) > 1)) for p in paths),
        output=str(output),
        logical_end=LOGICAL_END,
    )
    metrics = run_job(spark, config)
    seconds = time.perf_counter() - start
    spark.stop()
    return {
        "seconds": seconds,
        "startup_seconds": started,
        "rows_read": metrics["rows_read"],
        "rows_valid": metrics["rows_valid"],
        "rows_quarantined": metrics["rows_quarantined"],
        "reasons": metrics["reasons"],
        "steps_seconds": metrics["steps_seconds"],
        "conservation": metrics["conservation"]["ok"],
        "driver_memory": spark.sparkContext.getConf().get("spark.driver.memory"),
        "shuffle_partitions": spark.sparkContext.getConf().get("spark.sql.shuffle.partitions"),
    }


# 3. DuckDB --------------------------------------------------------------------------------------


def _sql_text(col: str) -> str:
    """`transform.text`: trimmed, null when empty."""
    return f"nullif(trim({col}, ' \t\r\n\u00a0'), '')"


def _re(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def _stripped_number(v: str) -> str:
    """The currency symbols and ISO code affix dropped (first half of `drifted_number_text`)."""
    symbols = "[" + re.escape(contract.CURRENCY_SYMBOLS) + "]"
    no_symbols = f"trim(regexp_replace({v}, {_re(symbols)}, '', 'g'))"
    return f"trim(regexp_replace({no_symbols}, {_re(contract.CURRENCY_CODE_AFFIX_RE)}, '', 'g'))"


def _drifted_number(s: str) -> str:
    """`transform.drifted_number_text` in DuckDB SQL, of the stripped text `s`."""
    return f"""CASE
        WHEN regexp_matches({s}, {_re(contract.THOUSANDS_COMMA_RE)}) THEN replace({s}, ',', '')
        WHEN regexp_matches({s}, {_re(contract.THOUSANDS_DOT_RE)}) THEN replace(replace({s}, '.', ''), ',', '.')
        WHEN regexp_matches({s}, {_re(contract.THOUSANDS_SPACE_RE)}) THEN replace(replace({s}, ' ', ''), ',', '.')
        WHEN regexp_matches({s}, {_re(contract.DECIMAL_COMMA_RE)}) THEN replace({s}, ',', '.')
        ELSE {s} END"""


def _number(v: str, dtype: str) -> str:
    """Plain decimal first; the drifted spelling (only computed when the plain cast fails)."""
    return f"coalesce(try_cast({v} AS {dtype}), try_cast({_drifted_number(_stripped_number(v))} AS {dtype}))"


_STRPTIME = {"'T'": "T", "yyyy": "%Y", "MMM": "%b", "MM": "%m", "dd": "%d", "d": "%d", "HH": "%H", "mm": "%M"}
_STRPTIME |= {"ss": "%S", "X": "%z", "Z": "%z", "z": "%Z"}


def _spark_to_strptime(fmt: str) -> str:
    """A Spark datetime pattern of the contract as a DuckDB strptime format."""
    return re.sub(
        "|".join(re.escape(t) for t in sorted(_STRPTIME, key=len, reverse=True)),
        lambda m: _STRPTIME[m.group()],
        fmt,
    )


def _timestamp(v: str) -> str:
    """`transform.parse_timestamp` for source_tz UTC (the session time zone is UTC). Numeric dates
    (`03/04/2025`) follow their file's date order in the job (`spark.sniff`), never a per-row guess;
    the generated file holds none, so the floor needs no order."""
    naive = ", ".join(f"'{_spark_to_strptime(f)}'" for f in contract.OTHER_TIMESTAMP_FORMATS)
    offset = ", ".join(f"'{_spark_to_strptime(f)}'" for f in contract.OTHER_TIMESTAMP_OFFSET_FORMATS)
    # One coalesce: the drifted spellings are only tried when the contract form fails.
    return f"""coalesce(
          CASE WHEN regexp_matches({v}, {_re(contract.ISO_TIMESTAMP_OFFSET_RE)})
                 OR regexp_matches({v}, {_re(contract.ISO_TIMESTAMP_RE)})
               THEN try_cast({v} AS TIMESTAMPTZ)::TIMESTAMP END,
          try_strptime({v}, [{naive}]),
          try_strptime(regexp_replace({v}, {_re(contract.RFC2822_DAY_NAME_RE)}, ''), [{offset}])::TIMESTAMP,
          CASE WHEN regexp_matches({v}, {_re(contract.EPOCH_SECONDS_RE)}) THEN to_timestamp(try_cast({v} AS BIGINT))::TIMESTAMP END,
          CASE WHEN regexp_matches({v}, {_re(contract.EPOCH_MILLIS_RE)}) THEN epoch_ms(try_cast({v} AS BIGINT)) END
        )"""


def _quoted(col: str) -> str:
    return f"coalesce('''' || substring({col}, 1, 200) || '''', 'null')"


def duckdb_sql(
    path: Path | Sequence[Path], output: Path, currencies: Sequence[str], threads: int | None = None
) -> list[str]:
    """The statements of the DuckDB implementation (the last two write the outputs).

    Several paths are read in one scan, in order, so the row order (the dedupe order: the later
    file wins) is the files' order; each row keeps its file's name and its record number within
    that file, as the job writes them."""
    ws = _sql_text
    paths = _paths(path)
    many = len(paths) > 1
    files = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    file_col = ", filename" if many else ""
    # The record number within the file: rows are numbered across the scan, files in order.
    file_record = (
        "record_number - min(record_number) OVER (PARTITION BY filename) + 1" if many else "record_number"
    )
    source = f"'{LANDING}' || parse_filename(filename)" if many else f"'{SOURCE_FILE}'"
    statuses = " ".join(
        f"WHEN t_status = '{k}' THEN '{v}'" for k, v in sorted(contract.STATUS_SYNONYMS.items())
    )
    codes = ", ".join(f"'{c}'" for c in sorted(currencies))
    end = LOGICAL_END.strftime("%Y-%m-%d %H:%M:%S")
    raw_cols = ", ".join(TRANSACTION_COLUMNS)
    raw_json = "to_json(struct_pack(" + ", ".join(f"{c} := {c}" for c in TRANSACTION_COLUMNS) + "))"
    return [
        "SET TimeZone = 'UTC'",
        *([f"SET threads = {threads}"] if threads else []),
        # rowid follows the files and their rows in order (insertion order is preserved): the
        # record number of one file, the order of several.
        f"""CREATE TEMP TABLE raw AS SELECT {raw_cols}{file_col} FROM read_csv({files}, header = true,
            all_varchar = true, delim = ',', quote = '"', escape = '"', strict_mode = true{", filename = true" if many else ""})""",
        f"""CREATE TEMP TABLE typed AS
        WITH t AS (
          SELECT rowid + 1 AS record_number, {raw_cols}{file_col},
            {ws("transaction_id")} AS p_transaction_id,
            {ws("customer_id")} AS p_customer_id,
            {ws("agent_id")} AS p_agent_id,
            lower({ws("channel")}) AS p_channel,
            lower({ws("payment_method")}) AS p_payment_method,
            {ws("transaction_ts")} AS t_ts,
            {ws("quantity")} AS t_quantity,
            {ws("unit_price")} AS t_unit_price,
            {ws("amount")} AS t_amount,
            upper({ws("currency")}) AS t_currency,
            lower({ws("status")}) AS t_status
          FROM raw
        ), n AS (
          SELECT *,
            {_number("t_quantity", "DECIMAL(38,6)")} AS n_quantity,
            {_number("t_unit_price", "DECIMAL(18,4)")} AS p_unit_price,
            {_number("t_amount", "DECIMAL(18,2)")} AS n_amount,
            {_timestamp("t_ts")} AS p_ts,
            coalesce(t_currency, 'USD') AS p_currency,
            CASE WHEN t_status IS NULL THEN '{contract.DEFAULT_STATUS}' {statuses} END AS p_status
          FROM t
        ), q AS (
          SELECT *,
            CASE WHEN t_quantity IS NULL THEN {contract.DEFAULT_QUANTITY}::BIGINT
                 WHEN n_quantity >= 1 AND n_quantity = floor(n_quantity) AND n_quantity <= 9223372036854775807
                 THEN n_quantity::BIGINT END AS p_quantity
          FROM n
        ), a AS (
          SELECT *,
            CASE WHEN t_amount IS NOT NULL THEN n_amount
                 WHEN t_quantity IS NOT NULL AND t_unit_price IS NOT NULL
                 THEN try_cast(round(try_cast(p_quantity AS DECIMAL(38,0)) * p_unit_price, 2) AS DECIMAL(18,2))
            END AS p_amount
          FROM q
        )
        SELECT *, {file_record} AS file_record_number,
          CASE
            WHEN p_transaction_id IS NULL OR t_ts IS NULL OR p_customer_id IS NULL THEN 'MISSING_REQUIRED'
            WHEN p_ts IS NULL THEN 'BAD_TIMESTAMP'
            WHEN p_ts > TIMESTAMP '{end}' THEN 'FUTURE_TIMESTAMP'
            WHEN t_quantity IS NOT NULL AND p_quantity IS NULL THEN 'BAD_QUANTITY'
            WHEN (t_unit_price IS NOT NULL AND p_unit_price IS NULL) OR p_amount IS NULL THEN 'BAD_AMOUNT'
            WHEN p_amount < 0 OR p_unit_price < 0 THEN 'NEGATIVE_AMOUNT'
            WHEN p_currency NOT IN ({codes}) THEN 'BAD_CURRENCY'
            WHEN p_status IS NULL THEN 'UNKNOWN_STATUS'
          END AS reason
        FROM a""",
        """CREATE TEMP TABLE classified AS
        SELECT * EXCLUDE (winner),
          CASE WHEN reason IS NULL AND record_number <> winner THEN 'DUPLICATE_KEY' ELSE reason END AS final_reason
        FROM (SELECT *, max(CASE WHEN reason IS NULL THEN record_number END)
                          OVER (PARTITION BY p_transaction_id) AS winner FROM typed)""",
        f"""COPY (
          SELECT p_transaction_id AS transaction_id, p_ts AS transaction_ts, p_customer_id AS customer_id,
            p_agent_id AS agent_id, p_channel AS channel, p_quantity AS quantity, p_unit_price AS unit_price,
            p_amount AS amount, p_currency AS currency, p_status AS status, p_payment_method AS payment_method,
            NULL::VARCHAR AS extra, {source} AS source_file, file_record_number AS record_number,
            '{RUN_ID}' AS run_id
          FROM classified WHERE final_reason IS NULL
        ) TO '{output / "silver.parquet"}' (FORMAT parquet)""",
        f"""COPY (
          SELECT '{RUN_ID}' AS run_id, 'transactions' AS entity, {source} AS source_file,
            file_record_number AS record_number,
            final_reason AS reason,
            CASE final_reason
              WHEN 'MISSING_REQUIRED' THEN CASE WHEN p_transaction_id IS NULL THEN 'transaction_id is empty'
                WHEN t_ts IS NULL THEN 'transaction_ts is empty' ELSE 'customer_id is empty' END
              WHEN 'BAD_TIMESTAMP' THEN 'transaction_ts=' || {_quoted("t_ts")} || ' matches no accepted format'
              WHEN 'FUTURE_TIMESTAMP' THEN 'transaction_ts=' || {_quoted("t_ts")} || ' is after the run''s logical end'
              WHEN 'BAD_QUANTITY' THEN 'quantity=' || {_quoted("t_quantity")} || ' is not a whole number of at least 1'
              WHEN 'BAD_AMOUNT' THEN 'amount=' || {_quoted("t_amount")} || ' is not a number in range'
              WHEN 'NEGATIVE_AMOUNT' THEN 'amount=' || {_quoted("coalesce(t_amount, p_amount::VARCHAR)")} || ' is below 0'
              WHEN 'BAD_CURRENCY' THEN 'currency=' || {_quoted("t_currency")} || ' is not an ISO 4217 code'
              WHEN 'UNKNOWN_STATUS' THEN 'status=' || {_quoted("t_status")} || ' is not one of completed, refunded, cancelled'
              WHEN 'DUPLICATE_KEY' THEN 'transaction_id=' || {_quoted("p_transaction_id")} || ' superseded by record ' || winner_of_key
            END AS detail,
            {raw_json} AS raw_record
          FROM (SELECT *, max(record_number) FILTER (WHERE final_reason IS NULL)
                            OVER (PARTITION BY p_transaction_id) AS winner_of_key FROM classified)
          WHERE final_reason IS NOT NULL
        ) TO '{output / "quarantine.parquet"}' (FORMAT parquet)""",
    ]


def run_duckdb(path: Path | Sequence[Path], output: Path) -> dict[str, Any]:
    import duckdb

    from spark import refdata

    currencies = sorted(refdata.currency_codes())
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    con = duckdb.connect(config={"temp_directory": str(output / "_tmp")})
    for statement in duckdb_sql(path, output, currencies):
        con.execute(statement)
    counts = con.execute(
        "SELECT final_reason, count(*) FROM classified GROUP BY ALL ORDER BY final_reason NULLS FIRST"
    ).fetchall()
    con.close()
    seconds = time.perf_counter() - start
    reasons = {str(r): int(n) for r, n in counts if r is not None}
    valid = sum(int(n) for r, n in counts if r is None)
    return {
        "seconds": seconds,
        "rows_read": valid + sum(reasons.values()),
        "rows_valid": valid,
        "rows_quarantined": sum(reasons.values()),
        "reasons": dict(sorted(reasons.items())),
    }


# Children and memory ----------------------------------------------------------------------------


@dataclass
class _Measured:
    result: dict[str, Any]
    wall_seconds: float
    peak_rss: int


def _same_address_space(pid: int, other: int) -> bool:
    """Whether two processes share one address space (Linux `kcmp(KCMP_VM)`).

    Java starts a command (Hadoop's `chmod`, for one) with `posix_spawn`, whose child shares the
    JVM's memory until it executes the command; `/proc` then shows the JVM's RSS twice. A sample
    taken in that window once reported 6.6 GiB for a 3.3 GiB JVM. False where `kcmp` is missing
    or refused, so the sum stays an upper bound.
    """
    kcmp = _kcmp()
    return kcmp is not None and kcmp(pid, other, _KCMP_VM, 0, 0) == 0


_KCMP = {"x86_64": 312, "aarch64": 272}
_KCMP_VM = 1


@functools.cache
def _kcmp() -> Callable[..., int] | None:
    """`kcmp` through libc's `syscall`, looked up once (the sampler asks ten times a second)."""
    number = _KCMP.get(platform.machine())
    if number is None or sys.platform != "linux":
        return None
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    return functools.partial(syscall, number)


def _tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, each address space counted once."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total, counted = 0, []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            rss = proc.memory_info().rss
            if not any(_same_address_space(proc.pid, seen) for seen in counted):
                total += rss
                counted.append(proc.pid)
    return total


def _run_child(phase: str, path: Path, output: Path) -> _Measured:
    result_file = output.parent / f"{phase}.result.json"
    cmd = [sys.executable, "-m", "bench.clean", "--phase", phase, "--csv", str(path), "--output", str(output)]
    return measure(phase, [*cmd, "--result", str(result_file)], result_file)


def measure(phase: str, cmd: Sequence[str], result_file: Path) -> _Measured:
    """Run `cmd` in a fresh process, sampling its process tree's RSS; its result is the JSON it
    writes to `result_file`, the wall time includes the interpreter's start."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(child.pid))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = child.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - start
    if child.returncode != 0:
        sys.stderr.write(stderr[-5000:])
        raise RuntimeError(f"the {phase} run failed (exit status {child.returncode})")
    return _Measured(json.loads(result_file.read_text()), wall, peak)


# Report -----------------------------------------------------------------------------------------


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clean", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="transaction rows to generate")
    parser.add_argument("--workdir", type=Path, help="folder for the file and outputs (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--phase", choices=["spark", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase:  # a child: one implementation, result as JSON
        runner = run_spark if args.phase == "spark" else run_duckdb
        args.result.write_text(json.dumps(runner(args.csv, args.output)))
        return 0

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-clean-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "transactions.csv"
    try:
        print(f"machine: {os.cpu_count()} CPUs; load average before: {_load()}")
        start = time.perf_counter()
        expected = generate(path, args.rows, seed=args.seed)
        size = path.stat().st_size
        print(
            f"generated (not timed): {args.rows:,} rows, {size / (1 << 20):,.0f} MiB, "
            f"{sum(expected.values()):,} dirty rows, in {time.perf_counter() - start:.1f} s"
        )
        for name in ("spark_out", "duckdb_out"):
            shutil.rmtree(workdir / name, ignore_errors=True)
        spark = _run_child("spark", path, workdir / "spark_out")
        print(f"load average after spark: {_load()}")
        duck = _run_child("duckdb", path, workdir / "duckdb_out")
        print(f"load average after duckdb: {_load()}")
        return _report(args.rows, expected, spark, duck)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _report(rows: int, expected: dict[str, int], spark: _Measured, duck: _Measured) -> int:
    s, d = spark.result, duck.result
    print(
        f"spark : {s['seconds']:7.1f} s ({s['startup_seconds']:.1f} s start-up), {rows / s['seconds']:>12,.0f} rows/s, "
        f"peak RSS {spark.peak_rss / GIB:.2f} GiB (JVM included; driver memory {s['driver_memory']}, "
        f"shuffle partitions {s['shuffle_partitions']})"
    )
    print("        steps_seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in s["steps_seconds"].items()))
    print(
        f"duckdb: {d['seconds']:7.1f} s, {rows / d['seconds']:>12,.0f} rows/s, peak RSS {duck.peak_rss / GIB:.2f} GiB"
    )
    print(
        f"child wall (interpreter start included): spark {spark.wall_seconds:.1f} s, duckdb {duck.wall_seconds:.1f} s"
    )
    print(f"{'':18} {'expected':>10} {'spark':>10} {'duckdb':>10}")
    print(
        f"{'rows_valid':18} {rows - sum(expected.values()):>10,} {s['rows_valid']:>10,} {d['rows_valid']:>10,}"
    )
    print(
        f"{'rows_quarantined':18} {sum(expected.values()):>10,} {s['rows_quarantined']:>10,} {d['rows_quarantined']:>10,}"
    )
    for reason in sorted(set(expected) | set(s["reasons"]) | set(d["reasons"])):
        e, x, y = expected.get(reason, 0), s["reasons"].get(reason, 0), d["reasons"].get(reason, 0)
        flag = "" if e == x == y else "   <- differs"
        print(f"  {reason:16} {e:>10,} {x:>10,} {y:>10,}{flag}")
    agree = s["rows_valid"] == d["rows_valid"] and s["rows_quarantined"] == d["rows_quarantined"]
    print(
        "counts: spark and duckdb "
        + ("agree" if agree else "DISAGREE")
        + (", reasons too" if s["reasons"] == d["reasons"] else ", reasons differ")
        + ("; both match the generator" if s["reasons"] == d["reasons"] == expected else "")
    )
    ratio = s["seconds"] / d["seconds"]
    peak = spark.peak_rss / GIB
    for name, ok in (
        (f"time {s['seconds']:.1f} s <= {TARGET_SECONDS:.0f} s", s["seconds"] <= TARGET_SECONDS),
        (f"peak RSS {peak:.2f} GiB <= {TARGET_RSS_GIB:.0f} GiB", peak <= TARGET_RSS_GIB),
        (f"ratio {ratio:.2f} <= {TARGET_RATIO}", ratio <= TARGET_RATIO),
    ):
        print(f"target {name}: {'met' if ok else 'MISSED'}")
    print(
        f"clean: rows={rows} spark_s={s['seconds']:.2f} duckdb_s={d['seconds']:.2f} ratio={ratio:.2f} peak_rss_gib={peak:.2f}"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())

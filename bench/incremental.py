"""Cost of one incremental daily run against the size of history (issue 5, "Cost").

`python -m bench.incremental` builds two DuckDB warehouses, with 30 and 365 days of silver
history (about 30k orders a day, 200k customers) and gold built for all of it, then times one
incremental daily run on top of each. The run is what the local target does with one day's file:
the day's rows (plus 1% late rows dated 3 days earlier and a few re-sent orders of the day before)
staged from Parquet written the way the Spark job writes silver, then the warehouse steps of
`pipeline.targets.local` in order: affected days, displaced rows, the MERGEs, the silver-stage
checks, every gold step of `plan.GOLD_STEPS` with its mode, the gold-stage checks. Every statement
is a production SQL file run through `pipeline.warehouse`; nothing here re-implements the SQL.

It prints the per-step timings of both runs, the time of a full gold rebuild of the large
warehouse (about 11M silver rows), what every query of the run reads (rows and row groups per
table, from DuckDB's profiler), checks that the incremental gold equals a full rebuild's, and ends
with the line `incremental: d30_s=X d365_s=Y ratio=R` (R = Y / X; target R <= 1.3: the cost of a
run follows the new data, not history).

Building history is setup and is not part of the figures. History is generated as silver rows
directly (numpy and Arrow, with the sample data's vocabularies and rhythms): 11M rows through CSV
files and Spark would take far longer than the benchmark itself.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import duckdb
import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import dq, plan, silver_load, warehouse
from pipeline.config import Settings

# The sample data's vocabularies and rhythms (channel mix, hourly curves, prices, refund rates),
# reused so that the benchmark's rows look like the demo's, only vectorized and at scale.
from pipeline.sample_data import (
    _CANCEL_RATE,
    _CHANNEL_WEIGHTS,
    _CHANNELS,
    _COUNTRIES,
    _EMAIL_DOMAINS,
    _HOURLY,
    _NAMES,
    _PAYMENTS,
    _PRICE_WEIGHTS,
    _PRICES_CENTS,
    _QUANTITIES,
    _QUANTITY_WEIGHTS,
    _REFUND_RATE,
    _TEAM_CYCLE,
    _TEAMS,
    WEEKDAY_VOLUME,
)
from sql import catalog

FINAL_LINE = re.compile(r"^incremental: d30_s=(\d+\.\d+) d365_s=(\d+\.\d+) ratio=(\d+\.\d+)$")
TARGET_RATIO = 1.3
DEFAULT_NEW_DAY = date(2025, 6, 30)
STATE_TABLES = ("gold.customer_state",)
"""Tables read whole by design: the compact per-customer state RFM is computed from."""
SNAPSHOT_SCHEMA = "bench_incremental"
"""Schema of the benchmark's warehouses holding the incremental run's gold, kept for comparison
with the full rebuild that follows it."""

_STATUSES = ("completed", "refunded", "cancelled")
_DIRTY_REASONS = (
    "BAD_AMOUNT",
    "NEGATIVE_AMOUNT",
    "BAD_TIMESTAMP",
    "FUTURE_TIMESTAMP",
    "MISSING_REQUIRED",
    "UNKNOWN_STATUS",
    "BAD_CURRENCY",
)
_US_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSpec:
    """What to build and run. Both warehouses share the population and the new day's file."""

    history_days: tuple[int, int] = (30, 365)
    """Days of silver history of the small and the large warehouse (`d30` and `d365`)."""
    orders_per_day: int = 30_000
    customers: int = 200_000
    agents: int = 120
    new_day: date = DEFAULT_NEW_DAY
    """Day of the incremental run's file; history ends the day before."""
    late_share: float = 0.01
    """Late rows in the new file, as a share of its rows, dated `late_days_back` days earlier."""
    late_days_back: int = 3
    resend_share: float = 0.001
    """Orders of the previous day re-sent in the new file with a changed status (MERGE updates)."""
    dirty_share: float = 0.02
    """Rows of the new file the Spark job quarantined (loaded into audit.quarantine)."""
    reporting_tz: str = Settings.reporting_tz
    seed: int = 7
    repeat: int = 3
    """Timed runs per warehouse (each on a fresh copy of the built warehouse); medians reported."""
    gold_chunk_days: int = 92
    """Days per overwrite when building gold for history (setup)."""

    def __post_init__(self) -> None:
        small, large = self.history_days
        if not 1 <= small < large:
            raise ValueError(f"history days must satisfy 1 <= small < large, got {self.history_days}")
        if self.late_days_back < 1 or self.late_days_back > small:
            raise ValueError(f"late_days_back must be within 1..{small}, got {self.late_days_back}")
        for name in ("orders_per_day", "customers", "agents", "repeat", "gold_chunk_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def run_id(self) -> str:
        return _run_id(self.new_day)

    @property
    def run_date(self) -> date:
        """The run's as-of date: its data interval (the new day) ends the next midnight."""
        return self.new_day + timedelta(days=1)


def _run_id(day: date) -> str:
    """Id of the scheduled DAG run whose data interval is `day`."""
    return f"scheduled__{day + timedelta(days=1)}T00:00:00+00:00"


def _label(days: int, spec: BenchSpec) -> str:
    return "d30" if days == spec.history_days[0] else "d365"


# --- timing ------------------------------------------------------------------------------------


@dataclass
class Timer:
    """Wall time per named step, in the order the steps first ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


# --- what each query reads (DuckDB profiler) ---------------------------------------------------


@dataclass(frozen=True)
class TableRead:
    """One table's scans within one statement, summed over the scans of that table."""

    table: str
    scans: int
    rows_scanned: int
    row_groups_scanned: int
    row_groups_total: int


def _table_reads(profile: Mapping[str, Any]) -> list[TableRead]:
    """Per-table scan figures of a DuckDB JSON profile (EXPLAIN ANALYZE or enable_profiling)."""
    found: dict[str, list[int]] = {}

    def walk(node: Mapping[str, Any]) -> None:
        table = (node.get("extra_info") or {}).get("Table")
        if node.get("type") == "TABLE_SCAN" and table:
            name = ".".join(str(table).split(".")[-2:])  # drop the catalog (the file's name)
            sums = found.setdefault(name, [0, 0, 0, 0])
            sums[0] += 1
            sums[1] += int(node.get("rows_scanned") or 0)
            sums[2] += int(node.get("row_groups_scanned") or 0)
            sums[3] += int(node.get("total_row_groups_to_scan") or 0)
        for child in node.get("children") or ():
            walk(child)

    for root in profile.get("operator") or ():
        walk(root)
    return [TableRead(name, *sums) for name, sums in sorted(found.items())]


class Profiler:
    """Collects what each statement of a run reads, keyed by the SQL file it runs."""

    def __init__(self) -> None:
        self.reads: dict[str, list[TableRead]] = {}

    def explain(self, con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any]) -> None:
        """Run a read-only SQL file under EXPLAIN ANALYZE (before the production call runs it)."""
        text = catalog.read_sql(relative)
        rows = con.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {warehouse.transpile(text)}", warehouse.bind(text, params)
        ).fetchall()
        self.reads[relative] = _table_reads(json.loads(rows[0][1]))

    @contextmanager
    def statement(self, con: duckdb.DuckDBPyConnection, relative: str) -> Iterator[None]:
        """Profile the one statement run inside the block (for statements that write: MERGE)."""
        con.execute("SET enable_profiling = 'no_output'")
        try:
            yield
            self.reads[relative] = _table_reads(json.loads(con.get_profiling_information(format="json")))
        finally:
            con.execute("RESET enable_profiling")


# --- population and rows -----------------------------------------------------------------------


def _ordinal(day: date) -> int:
    return (day - _EPOCH).days


def _probabilities(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    array: np.ndarray = np.asarray(weights, dtype=np.float64)
    normalized: np.ndarray = array / float(array.sum())
    return normalized


def _arrow_type(f: catalog.Field) -> pa.DataType:
    """Arrow type of a schema field, as the Spark job writes it to Parquet (spark/schema.py)."""
    if f.type in ("NUMERIC", "BIGNUMERIC"):
        return pa.decimal128(f.precision or 38, f.scale if f.scale is not None else 9)
    simple: dict[str, pa.DataType] = {
        "STRING": pa.string(),
        "JSON": pa.string(),
        "INTEGER": pa.int64(),
        "FLOAT": pa.float64(),
        "TIMESTAMP": pa.timestamp("us", tz="UTC"),
        "DATE": pa.date32(),
    }
    return simple[f.type]


def arrow_schema(qualified_table: str) -> pa.Schema:
    """The Parquet schema of a table's Spark output: the catalog's columns, types and modes."""
    return pa.schema(
        [
            pa.field(f.name, _arrow_type(f), nullable=not f.required)
            for f in catalog.table(qualified_table).fields
        ]
    )


def arrow_table(
    qualified_table: str, columns: Mapping[str, pa.Array | pa.ChunkedArray | list[Any]], rows: int
) -> pa.Table:
    """A table with the schema of `qualified_table`: the given columns, and null for every other
    NULLABLE column (so a column added to the schema later does not break the benchmark)."""
    schema = arrow_schema(qualified_table)
    unknown = sorted(set(columns) - set(schema.names))
    if unknown:
        raise KeyError(f"{qualified_table} has no column(s) {unknown}")
    arrays = []
    for f in schema:
        value = columns.get(f.name)
        if isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(f.type))
        elif value is not None:
            arrays.append(pa.array(value, type=f.type))
        elif f.nullable:
            arrays.append(pa.nulls(rows, f.type))
        else:
            raise KeyError(f"{qualified_table}.{f.name} is REQUIRED and was not generated")
    return pa.Table.from_arrays(arrays, schema=schema)


def _decimal(unscaled: np.ndarray, type_: pa.DataType, null: np.ndarray | None = None) -> pa.Array:
    """A decimal128 array from its unscaled integers (cents for scale 2), exactly."""
    words = np.zeros((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = np.where(unscaled < 0, -1, 0)
    array = pa.Array.from_buffers(type_, len(unscaled), [None, pa.py_buffer(words.tobytes())])
    if null is None:
        return array
    return pc.if_else(pa.array(null), pa.scalar(None, type_), array)


def _pick(vocabulary: pa.Array, index: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return vocabulary.take(pa.array(index.astype(np.int32), mask=null))


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    padded = pc.utf8_lpad(pc.cast(pa.array(numbers.astype(np.int64)), pa.string()), width=6, padding="0")
    return pc.binary_join_element_wise(prefix, padded, "")


@dataclass(frozen=True)
class Population:
    """Customers and agents over the whole frame (the large history plus the new day)."""

    customer_ids: pa.Array
    customer_weight: np.ndarray
    signup: np.ndarray
    """Signup day per customer, as a day ordinal since 1970-01-01."""
    churn: np.ndarray
    """Last ordering day per customer (ordinal); far in the future when the customer stays."""
    customers: pa.Table
    """silver.customers rows of every customer, in customer order."""
    agent_ids: pa.Array
    agent_team: np.ndarray
    agent_weight: np.ndarray
    agents: pa.Table

    def customer_cum_weights(self, day: date) -> np.ndarray:
        ordinal = _ordinal(day)
        eligible = (self.signup <= ordinal) & (self.churn >= ordinal)
        return np.cumsum(np.where(eligible, self.customer_weight, 0.0))


def population(spec: BenchSpec) -> Population:
    """Customers (Pareto-like order frequency, 8% signing up and 25% churning during the frame,
    13 countries) and agents (four teams, as in the sample data), deterministic in the seed."""
    rng = np.random.default_rng([spec.seed, 1])
    n = spec.customers
    frame_start = _ordinal(spec.new_day) - spec.history_days[1]
    is_new = rng.random(n) < 0.08
    is_new[0] = False  # someone can order on the first day
    signup = np.where(
        is_new,
        frame_start + rng.integers(0, spec.history_days[1] + 1, n),
        frame_start - rng.integers(1, 3 * 365 + 1, n),
    )
    churn = np.where(
        rng.random(n) < 0.25,
        frame_start + rng.integers(0, spec.history_days[1] + 1, n),
        np.iinfo(np.int64).max,
    )
    weight = np.minimum(rng.pareto(1.3, n) + 1.0, 25.0)
    country_index = rng.choice(len(_COUNTRIES), n, p=_probabilities([c.weight for c in _COUNTRIES]))
    picks = rng.random((n, 5))
    names, emails, phones, countries, cities = [], [], [], [], []
    for i in range(n):
        country = _COUNTRIES[country_index[i]]
        firsts, lasts = _NAMES[country.names]
        first = firsts[int(picks[i, 0] * len(firsts))]
        last = lasts[int(picks[i, 1] * len(lasts))]
        names.append(f"{first} {last}")
        local = re.sub(r"[^a-z]", "", f"{first}.{last}".lower().encode("ascii", "ignore").decode())
        emails.append(f"{local}{i}@{_EMAIL_DOMAINS[int(picks[i, 2] * len(_EMAIL_DOMAINS))]}")
        code = phonenumbers.country_code_for_region(country.alpha2)
        phones.append(f"+{code}{7_000_000_000 + int(picks[i, 3] * 999_999_999)}")
        countries.append(country.alpha2)
        cities.append(country.cities[int(picks[i, 4] * len(country.cities))])
    customer_ids = _ids("C", np.arange(1, n + 1))
    first_run = _run_id(spec.new_day - timedelta(days=spec.history_days[1]))
    customers = arrow_table(
        "silver.customers",
        {
            "customer_id": customer_ids,
            "full_name": pa.array(names),
            "email": pa.array(emails),
            "phone": pa.array(phones),
            "country": pa.array(countries),
            "city": pa.array(cities),
            "signup_date": pa.array(signup.astype("datetime64[D]")).cast(pa.date32()),
            "source_file": pa.array(["customers/customers.csv"] * n),
            "record_number": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "run_id": pa.array([first_run] * n),
        },
        n,
    )
    k = spec.agents
    agent_ids = _ids("A", np.arange(1, k + 1))
    agent_team = np.array([_TEAM_CYCLE[i % len(_TEAM_CYCLE)] for i in range(k)])
    agents = arrow_table(
        "silver.agents",
        {
            "agent_id": agent_ids,
            "agent_name": pa.array([f"Agent {i + 1}" for i in range(k)]),
            "team": pa.array([_TEAMS[t] for t in agent_team]),
            "hire_date": pa.array(
                [date(2020, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 1500, k)]
            ),
            "source_file": pa.array(["agents/agents.jsonl"] * k),
            "record_number": pa.array(np.arange(1, k + 1, dtype=np.int64)),
            "run_id": pa.array([first_run] * k),
        },
        k,
    )
    return Population(
        customer_ids=customer_ids,
        customer_weight=weight,
        signup=signup,
        churn=churn,
        customers=customers,
        agent_ids=agent_ids,
        agent_team=agent_team,
        agent_weight=rng.uniform(0.5, 1.5, k),
        agents=agents,
    )


_CHANNEL_VOCAB = pa.array([c or None for c in _CHANNELS])
_STATUS_VOCAB = pa.array(_STATUSES)
_PAYMENT_VOCAB = sorted({m for methods, _ in _PAYMENTS.values() for m in methods})


def _day_volume(spec: BenchSpec, day: date) -> int:
    rng = np.random.default_rng([spec.seed, 2, _ordinal(day)])
    return max(1, round(spec.orders_per_day * WEEKDAY_VOLUME[day.weekday()] * rng.uniform(0.95, 1.05)))


def _agent_for(
    rng: np.random.Generator, pop: Population, channel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Agent index per order and whether it has none (self-service), by channel as in the sample:
    store -> a retail team, phone -> inside sales, 12% of online -> customer care, half of the
    orders without a channel -> anyone, marketplace -> self-service."""
    n = len(channel)
    index = np.zeros(n, dtype=np.int64)
    none = np.ones(n, dtype=bool)
    retail = [_TEAMS.index("Retail North"), _TEAMS.index("Retail South")]
    store_team = np.array(retail)[rng.integers(0, 2, n)]
    draw = rng.random(n)
    wanted = {
        "store": (channel == _CHANNELS.index("store"), store_team),
        "phone": (channel == _CHANNELS.index("phone"), np.full(n, _TEAMS.index("Inside Sales"))),
        "online": (
            (channel == _CHANNELS.index("online")) & (draw < 0.12),
            np.full(n, _TEAMS.index("Customer Care")),
        ),
        "": ((channel == _CHANNELS.index("")) & (draw < 0.5), np.full(n, -1)),
    }
    for mask, team in wanted.values():
        for t in np.unique(team[mask]):
            rows = mask & (team == t)
            members = np.flatnonzero(pop.agent_team == t) if t >= 0 else np.arange(len(pop.agent_team))
            if not rows.any() or not len(members):
                continue
            p = _probabilities(pop.agent_weight[members])
            index[rows] = members[rng.choice(len(members), int(rows.sum()), p=p)]
            none[rows] = False
    return index, none


def day_rows(
    spec: BenchSpec,
    pop: Population,
    day: date,
    count: int,
    *,
    stream: int,
    id_prefix: str,
    source_file: str,
    run_id: str,
    first_record: int = 1,
) -> pa.Table:
    """`count` silver.transactions rows dated `day`, in time order, as the Spark job writes them.

    Channel mix, hourly curves per channel and weekday/weekend, prices, quantities, refund and
    cancellation rates and payment methods follow the sample data. `stream` separates the random
    streams of a day's own rows and of late rows for it.
    """
    rng = np.random.default_rng([spec.seed, 3, stream, _ordinal(day)])
    weekend = day.weekday() >= 5
    channel = rng.choice(len(_CHANNELS), count, p=_probabilities(_CHANNEL_WEIGHTS[weekend]))
    hour = np.zeros(count, dtype=np.int64)
    for c, name in enumerate(_CHANNELS):
        rows = channel == c
        hour[rows] = rng.choice(24, int(rows.sum()), p=_probabilities(_HOURLY[(name, weekend)]))
    micros = _ordinal(day) * _US_PER_DAY + hour * 3_600_000_000 + rng.integers(0, 3_600, count) * 1_000_000
    order = np.argsort(micros, kind="stable")
    channel, micros = channel[order], micros[order]

    cum = pop.customer_cum_weights(day)
    customer = np.minimum(np.searchsorted(cum, rng.random(count) * cum[-1], side="right"), len(cum) - 1)
    agent, self_service = _agent_for(rng, pop, channel)

    price = np.asarray(_PRICES_CENTS)[rng.choice(len(_PRICES_CENTS), count, p=_probabilities(_PRICE_WEIGHTS))]
    quantity = np.asarray(_QUANTITIES)[
        rng.choice(len(_QUANTITIES), count, p=_probabilities(_QUANTITY_WEIGHTS))
    ]
    style = rng.random(count)
    # As in the sample: amount only (no quantity, no unit price) or one unit at its price.
    no_unit_price = (style >= 0.87) & (style < 0.95)
    one_unit = style >= 0.95
    amount_cents = np.where(one_unit, price, quantity * price)
    quantity = np.where(no_unit_price | one_unit, 1, quantity)

    refund = np.array([_REFUND_RATE[name] for name in _CHANNELS])[channel]
    cancel = np.array([_CANCEL_RATE[name] for name in _CHANNELS])[channel]
    draw = rng.random(count)
    status = np.where(draw < refund, 1, np.where(draw < refund + cancel, 2, 0))

    payment = np.zeros(count, dtype=np.int64)
    for c, name in enumerate(_CHANNELS):
        rows = channel == c
        methods, weights = _PAYMENTS[name]
        vocabulary_index = np.array([_PAYMENT_VOCAB.index(m) for m in methods])
        payment[rows] = vocabulary_index[rng.choice(len(methods), int(rows.sum()), p=_probabilities(weights))]
    no_payment = rng.random(count) < 0.04

    schema = arrow_schema("silver.transactions")
    return arrow_table(
        "silver.transactions",
        {
            "transaction_id": _ids(id_prefix, np.arange(1, count + 1)),
            "transaction_ts": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
            "customer_id": pop.customer_ids.take(pa.array(customer)),
            "agent_id": _pick(pop.agent_ids, agent, self_service),
            "channel": _pick(_CHANNEL_VOCAB, channel),
            "quantity": pa.array(quantity.astype(np.int64)),
            "unit_price": _decimal(price * 100, schema.field("unit_price").type, no_unit_price),
            "amount": _decimal(amount_cents, schema.field("amount").type),
            "currency": pa.array(np.full(count, "USD")),
            # What the silver load's conversion sets (sql/silver/transactions_convert.sql): these
            # rows skip the load, and USD is the reporting currency.
            "amount_reporting": _decimal(amount_cents, schema.field("amount_reporting").type),
            "status": _pick(_STATUS_VOCAB, status),
            "payment_method": _pick(pa.array(_PAYMENT_VOCAB), payment, no_payment),
            "source_file": pa.array(np.full(count, source_file)),
            "record_number": pa.array(np.arange(first_record, first_record + count, dtype=np.int64)),
            "run_id": pa.array(np.full(count, run_id)),
        },
        count,
    )


def history_day(spec: BenchSpec, pop: Population, day: date) -> pa.Table:
    """The silver rows one day's file left in history (loaded by that day's run)."""
    return day_rows(
        spec,
        pop,
        day,
        _day_volume(spec, day),
        stream=0,
        id_prefix=f"TX-{day:%Y%m%d}-",
        source_file=f"transactions/transactions_{day}.csv",
        run_id=_run_id(day),
    )


# --- Parquet as the Spark job writes it --------------------------------------------------------


def write_spark_parquet(table: pa.Table, folder: Path, *, parts: int = 2) -> list[Path]:
    """Write a table as a Spark job's output folder: `part-NNNNN-<uuid>-c000.snappy.parquet` files
    (timestamps in microseconds, UTC; decimals of precision <= 18 as INT64) and `_SUCCESS`."""
    folder.mkdir(parents=True, exist_ok=True)
    job = uuid.uuid5(uuid.NAMESPACE_URL, str(folder))
    bounds = np.linspace(0, table.num_rows, parts + 1).astype(int) if table.num_rows else [0, 0]
    written = []
    for part, (start, stop) in enumerate(itertools.pairwise(bounds)):
        path = folder / f"part-{part:05d}-{job}-c000.snappy.parquet"
        pq.write_table(
            table.slice(int(start), int(stop - start)),
            path,
            compression="snappy",
            store_decimal_as_integer=True,
        )
        written.append(path)
    (folder / "_SUCCESS").write_bytes(b"")
    return written


def _replace_columns(table: pa.Table, columns: Mapping[str, np.ndarray | pa.ChunkedArray]) -> pa.Table:
    """`table` with some columns replaced by name, cast to their types in `table`."""
    for name, values in columns.items():
        index = table.schema.get_field_index(name)
        array = values if isinstance(values, pa.ChunkedArray) else pa.array(values)
        table = table.set_column(index, table.schema.field(index), array.cast(table.schema.field(index).type))
    return table


@dataclass(frozen=True)
class StagedRun:
    """The Spark job's output for the incremental run, and what it holds."""

    output: Path
    rows_valid: int
    new_rows: int
    late_rows: int
    late_day: date
    resent_rows: int
    resent_day: date
    customers: int
    source_files: tuple[str, ...]
    """Landing paths of the run's claimed files (transactions and customers)."""


def stage_new_day(spec: BenchSpec, pop: Population, output: Path) -> StagedRun:
    """Write the incremental run's Spark output under `output` (silver/<entity>, quarantine,
    file_stats): the new day's orders, late orders for `late_days_back` days earlier, orders of the
    previous day re-sent as refunded, the day's new customers and a few changed ones."""
    day = spec.new_day
    source_file = f"transactions/transactions_{day}.csv"
    customers_file = f"customers/customers_{day}.csv"
    new_rows = _day_volume(spec, day)
    own = day_rows(
        spec,
        pop,
        day,
        new_rows,
        stream=0,
        id_prefix=f"TX-{day:%Y%m%d}-",
        source_file=source_file,
        run_id=spec.run_id,
    )
    late_day = day - timedelta(days=spec.late_days_back)
    late_count = round(new_rows * spec.late_share)
    late = day_rows(
        spec,
        pop,
        late_day,
        late_count,
        stream=1,
        id_prefix=f"TX-{late_day:%Y%m%d}-L",
        source_file=source_file,
        run_id=spec.run_id,
        first_record=new_rows + 1,
    )
    resent_day = day - timedelta(days=1)
    previous = history_day(spec, pop, resent_day)
    resent_count = min(round(new_rows * spec.resend_share), previous.num_rows)
    rng = np.random.default_rng([spec.seed, 4])
    picked = np.sort(rng.choice(previous.num_rows, resent_count, replace=False))
    resent = previous.take(pa.array(picked))
    first = new_rows + late_count + 1
    resent = _replace_columns(
        resent,
        {
            "status": np.full(resent_count, "refunded"),
            "source_file": np.full(resent_count, source_file),
            "record_number": np.arange(first, first + resent_count, dtype=np.int64),
            "run_id": np.full(resent_count, spec.run_id),
        },
    )
    transactions = pa.concat_tables([own, late, resent])
    write_spark_parquet(transactions, output / "silver" / "transactions")

    # Customers: the day's signups, and a few existing customers re-sent with a new e-mail.
    ordinal = _ordinal(day)
    signed_today = np.flatnonzero(pop.signup == ordinal)
    changed = rng.choice(np.flatnonzero(pop.signup < ordinal), max(1, spec.customers // 2000), replace=False)
    index = np.sort(np.concatenate([signed_today, changed]))
    customers = pop.customers.take(pa.array(index))
    customers = _replace_columns(
        customers,
        {
            "email": pc.binary_join_element_wise("updated.", customers.column("email"), ""),
            "source_file": np.full(len(index), customers_file),
            "record_number": np.arange(1, len(index) + 1, dtype=np.int64),
            "run_id": np.full(len(index), spec.run_id),
        },
    )
    write_spark_parquet(customers, output / "silver" / "customers")
    write_spark_parquet(arrow_schema("silver.agents").empty_table(), output / "silver" / "agents", parts=1)

    # Quarantine and file stats: what the Spark job reports beside silver.
    dirty = round(transactions.num_rows * spec.dirty_share)
    quarantine = arrow_table(
        "audit.quarantine",
        {
            "run_id": pa.array(np.full(dirty, spec.run_id)),
            "entity": pa.array(np.full(dirty, "transactions")),
            "source_file": pa.array(np.full(dirty, source_file)),
            "record_number": pa.array(
                np.arange(transactions.num_rows + 1, transactions.num_rows + dirty + 1, dtype=np.int64)
            ),
            "reason": pa.array([_DIRTY_REASONS[i % len(_DIRTY_REASONS)] for i in range(dirty)]),
            "detail": pa.array(np.full(dirty, "generated by bench.incremental")),
            "raw_record": pa.array(np.full(dirty, '{"transaction_id": "", "amount": "abc"}')),
        },
        dirty,
    )
    write_spark_parquet(quarantine, output / "quarantine", parts=1)
    stats = arrow_table(
        "audit.file_stats",
        {
            "run_id": [spec.run_id, spec.run_id],
            "entity": ["transactions", "customers"],
            "source_file": [source_file, customers_file],
            "file_format": ["csv", "csv"],
            "rows_read": [transactions.num_rows + dirty, len(index)],
            "rows_valid": [transactions.num_rows, len(index)],
            "rows_quarantined": [dirty, 0],
        },
        2,
    )
    write_spark_parquet(stats, output / "file_stats", parts=1)
    return StagedRun(
        output=output,
        rows_valid=transactions.num_rows,
        new_rows=new_rows,
        late_rows=late_count,
        late_day=late_day,
        resent_rows=resent_count,
        resent_day=resent_day,
        customers=len(index),
        source_files=(source_file, customers_file),
    )


# --- building a warehouse with history (setup) -------------------------------------------------


@dataclass(frozen=True)
class History:
    path: Path
    days: int
    silver_rows: int
    customers: int
    seconds_silver: float
    seconds_gold: float
    seconds_warm_up: float
    """The daily run of the last history day (see `build_history`)."""
    size_bytes: int


def build_history(spec: BenchSpec, pop: Population, days: int, path: Path, parquet_dir: Path) -> History:
    """A warehouse with `days` days of silver history before the new day and gold built for all
    of them with the production SQL, left as a daily run leaves it.

    All days but the last are bulk-loaded: silver appended in day order by one thread (full row
    groups, as daily appends leave them once DuckDB has compacted them), the key index filled from
    it, gold built in chunks of partition overwrites, then the other steps. The last day then comes
    through a whole daily run (`incremental_run`, its days then marked built), which leaves the
    warehouse as the previous day's run would."""
    first = spec.new_day - timedelta(days=days)
    history = [first + timedelta(days=i) for i in range(days)]
    bulk = history[:-1]
    started = time.perf_counter()
    files = []
    for day in bulk:
        target = parquet_dir / f"transactions_{day}.parquet"
        if not target.exists():
            pq.write_table(history_day(spec, pop, day), target, compression="snappy")
        files.append(target)
    signed_up = pc.less_equal(pop.customers.column("signup_date"), pa.scalar(bulk[-1], pa.date32()))
    reference = parquet_dir.parent / f"reference_{days}"
    customers = write_spark_parquet(pop.customers.filter(signed_up), reference / "customers", parts=1)
    agents = write_spark_parquet(pop.agents, reference / "agents", parts=1)
    with warehouse.connect(path) as con:
        warehouse.load_parquet(con, "silver.customers", customers, staging=False)
        warehouse.load_parquet(con, "silver.agents", agents, staging=False)
        # Day by day in order, as daily runs append them: each row group then spans a few days. One
        # thread: row groups are filled, as daily appends leave them once DuckDB has compacted them
        # (parallel appends leave partly filled ones behind, which later checkpoints compact, a few
        # at a time: a cost of this setup, not of a daily run).
        con.execute("SET threads = 1")
        warehouse.load_parquet(con, "silver.transactions", files, staging=False)
        # The key -> day index the loads keep up to date, filled as for a warehouse that predates it.
        silver_load.ensure_key_index(con)
        con.execute("RESET threads")
        con.execute("CHECKPOINT")
        seconds_silver = time.perf_counter() - started
        started = time.perf_counter()
        params = plan.query_parameters(
            run_id=_run_id(bulk[-1]),
            days=bulk,
            run_date=history[-1],
            reporting_tz=spec.reporting_tz,
            rows_valid=0,
        )
        for step in plan.GOLD_STEPS:
            if step.mode == "partitions":
                for start in range(0, len(bulk), spec.gold_chunk_days):
                    chunk = bulk[start : start + spec.gold_chunk_days]
                    chunk_params = {**params, "days": chunk, **plan.day_bounds(chunk)}
                    warehouse.build_gold_step(con, step, chunk_params)
            else:
                warehouse.build_gold_step(con, step, params)
        con.execute("CHECKPOINT")
        seconds_gold = time.perf_counter() - started
    # The last day of history through a daily run: its own orders only (no late or re-sent rows).
    started = time.perf_counter()
    warm_spec = replace(spec, new_day=history[-1], late_share=0.0, resend_share=0.0)
    warm_output = path.parent / "warm_up_output"
    if warm_output.exists():
        shutil.rmtree(warm_output)
    warm_up = incremental_run(warm_spec, path, stage_new_day(warm_spec, pop, warm_output))
    with warehouse.connect(path) as con:
        silver_load.mark_days_built(con, warm_up.days)
        rows = warehouse.table_rows(con, "silver.transactions")
        n_customers = warehouse.table_rows(con, "silver.customers")
    seconds_warm_up = time.perf_counter() - started
    return History(
        path, days, rows, n_customers, seconds_silver, seconds_gold, seconds_warm_up, path.stat().st_size
    )


# --- the incremental run: the local target's warehouse steps -----------------------------------


def load_silver(
    db: Path, staged: StagedRun, run_id: str, timer: Timer, profiler: Profiler | None = None
) -> list[date]:
    """`pipeline.targets.local.load_silver`: the task's body, `pipeline.silver_load.load_run`, with
    a timer per step (and the profiler on each SQL file); returns the days the gold build rebuilds
    (the run's, and any still pending from a dead run)."""

    def step(name: str) -> AbstractContextManager[object]:
        return timer.step(f"load_silver.{name}")

    def observe(
        con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any]
    ) -> AbstractContextManager[object]:
        if profiler is None:
            return nullcontext()
        if relative.endswith("_merge.sql"):
            return profiler.statement(con, relative)
        profiler.explain(con, relative, params)
        return nullcontext()

    with timer.step("load_silver.connect"):
        con = warehouse.connect(db)
    with con:
        loaded = silver_load.load_run(con, staged.output, run_id, step=step, observe=observe)
    return [date.fromisoformat(d) for d in loaded["affected_days"]]


def run_checks(
    db: Path, stage: str, params: Mapping[str, Any], timer: Timer, profiler: Profiler | None = None
) -> list[dict[str, Any]]:
    """`pipeline.targets.local._run_checks`: every check of the stage, stored in audit.dq_results;
    an error-severity failure raises (the benchmark's data is clean, so that is a bug)."""
    task = "dq_checks" if stage == "silver" else "reconcile"

    @contextmanager
    def observe(con: duckdb.DuckDBPyConnection, relative: str, values: Mapping[str, Any]) -> Iterator[None]:
        with timer.step(f"{task}.{Path(relative).stem}"):
            if profiler:
                profiler.explain(con, relative, values)
            yield

    with timer.step(f"{task}.connect"):
        con = warehouse.connect(db)
    with con:
        results = dq.run_checks(con, plan.checks(stage), params, observe=observe)
    failed = dq.failed_errors(results)
    if failed:
        raise RuntimeError(f"error-severity checks failed in the benchmark run: {failed}")
    return results


def build_gold(
    db: Path,
    params: Mapping[str, Any],
    timer: Timer,
    profiler: Profiler | None = None,
    *,
    prefix: str = "gold",
) -> None:
    """`pipeline.targets.local.gold_task` for every step of `plan.GOLD_STEPS`, in order."""
    for step in plan.GOLD_STEPS:
        with timer.step(f"{prefix}.{step.name}"), warehouse.connect(db) as con:
            if profiler is None:
                warehouse.build_gold_step(con, step, params)
            elif step.mode == "merge":
                # The profile of the MERGE itself (build_gold_step counts the rows after it).
                with profiler.statement(con, step.sql):
                    warehouse.execute_file(con, step.sql, params)
            else:
                profiler.explain(con, step.sql, params)
                warehouse.build_gold_step(con, step, params)


@dataclass(frozen=True)
class RunResult:
    days: list[date]
    params: dict[str, Any]
    seconds: dict[str, float]
    total: float


def incremental_run(
    spec: BenchSpec, db: Path, staged: StagedRun, profiler: Profiler | None = None
) -> RunResult:
    """One daily run's warehouse work, as the DAG's tasks run it: load_silver, dq_checks, the
    gold steps, reconcile (each task opening the warehouse, as each Airflow task does)."""
    timer = Timer()
    started = time.perf_counter()
    days = load_silver(db, staged, spec.run_id, timer, profiler)
    params = plan.query_parameters(
        run_id=spec.run_id,
        days=days,
        run_date=spec.run_date,
        reporting_tz=spec.reporting_tz,
        rows_valid=staged.rows_valid,
    )
    run_checks(db, "silver", params, timer, profiler)
    build_gold(db, params, timer, profiler)
    run_checks(db, "gold", params, timer, profiler)
    total = time.perf_counter() - started
    return RunResult(days, params, dict(timer.seconds), total)


# --- full rebuild and correctness ----------------------------------------------------------------


def _gold_tables() -> list[catalog.Table]:
    return [catalog.table(step.table) for step in plan.GOLD_STEPS]


def snapshot_gold(db: Path) -> None:
    """Copy every gold table to `bench_incremental.<name>` (the incremental run's result)."""
    with warehouse.connect(db) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SNAPSHOT_SCHEMA}")
        for table in _gold_tables():
            con.execute(
                f"CREATE OR REPLACE TABLE {SNAPSHOT_SCHEMA}.{table.name} AS SELECT * FROM {table.qualified_name}"
            )


def full_rebuild(db: Path, params: Mapping[str, Any]) -> tuple[float, dict[str, float], int]:
    """Rebuild gold for every day in silver with the production steps; wall time, per step, rows."""
    with warehouse.connect(db) as con:
        rows = con.execute("SELECT DISTINCT CAST(transaction_ts AS DATE) FROM silver.transactions").fetchall()
        silver_rows = warehouse.table_rows(con, "silver.transactions")
    all_days = sorted(r[0] for r in rows)
    timer = Timer()
    started = time.perf_counter()
    build_gold(db, {**params, "days": all_days, **plan.day_bounds(all_days)}, timer, prefix="rebuild")
    return time.perf_counter() - started, dict(timer.seconds), silver_rows


@dataclass(frozen=True)
class Comparison:
    table: str
    rows_incremental: int
    rows_rebuilt: int
    rows_touched: int
    """Rows of the run's affected days (partitioned tables) or of the whole table."""
    mismatched: int
    """Rows in one result and not the other (multiset difference, both ways)."""


def compare_gold(db: Path, days: Sequence[date]) -> list[Comparison]:
    """The incremental run's gold (snapshot) against the full rebuild's, per table."""
    out = []
    with warehouse.connect(db, read_only=True) as con:
        for table in _gold_tables():
            cols = ", ".join(table.column_names)
            ours = f"SELECT {cols} FROM {SNAPSHOT_SCHEMA}.{table.name}"
            theirs = f"SELECT {cols} FROM {table.qualified_name}"
            diff = (
                f"SELECT count(*) FROM (({ours} EXCEPT ALL {theirs}) UNION ALL ({theirs} EXCEPT ALL {ours}))"
            )
            touched = f"SELECT count(*) FROM {SNAPSHOT_SCHEMA}.{table.name}"
            args: dict[str, Any] = {}
            if table.partition_field:
                touched += f" WHERE {table.partition_field} IN (SELECT UNNEST($days))"
                args = {"days": list(days)}
            out.append(
                Comparison(
                    table=table.qualified_name,
                    rows_incremental=_scalar(con, f"SELECT count(*) FROM {SNAPSHOT_SCHEMA}.{table.name}"),
                    rows_rebuilt=warehouse.table_rows(con, table.qualified_name),
                    rows_touched=_scalar(con, touched, args),
                    mismatched=_scalar(con, diff),
                )
            )
    return out


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> int:
    rows = con.execute(sql, dict(params or {})).fetchall()
    return int(rows[0][0]) if rows else 0


# --- the benchmark -------------------------------------------------------------------------------


@dataclass
class WarehouseResult:
    label: str
    history: History
    runs: list[RunResult]
    reads: dict[str, list[TableRead]]
    table_rows: dict[str, int]
    rebuild_seconds: float
    rebuild_steps: dict[str, float]
    rebuild_silver_rows: int
    comparison: list[Comparison]

    @property
    def median_total(self) -> float:
        return statistics.median(r.total for r in self.runs)

    def median_step(self, name: str) -> float:
        return statistics.median(r.seconds.get(name, 0.0) for r in self.runs)

    @property
    def days(self) -> list[date]:
        return self.runs[-1].days


@dataclass(frozen=True)
class BenchResult:
    spec: BenchSpec
    staged: StagedRun
    small: WarehouseResult
    large: WarehouseResult

    @property
    def ratio(self) -> float:
        return self.large.median_total / self.small.median_total

    @property
    def final_line(self) -> str:
        return (
            f"incremental: d30_s={self.small.median_total:.2f} "
            f"d365_s={self.large.median_total:.2f} ratio={self.ratio:.2f}"
        )


def _table_sizes(db: Path) -> dict[str, int]:
    with warehouse.connect(db, read_only=True) as con:
        return {t.qualified_name: warehouse.table_rows(con, t.qualified_name) for t in catalog.tables()}


def run_benchmark(spec: BenchSpec, workdir: Path, log: Callable[[str], None]) -> BenchResult:
    """Build both warehouses, run the incremental day `spec.repeat` times on fresh copies of each
    (alternating, so that background load hits both alike), profile one more run of each, then
    rebuild gold fully and compare it with the incremental result."""
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir: {workdir}")
    started = time.perf_counter()
    pop = population(spec)
    log(
        f"population: {spec.customers:,} customers, {spec.agents} agents ({time.perf_counter() - started:.1f} s)"
    )
    # History files are a function of these fields only: reuse them across runs with a kept workdir.
    parquet_dir = workdir / (
        f"history-seed{spec.seed}-{spec.orders_per_day}x{spec.customers}c{spec.agents}a-"
        f"{spec.new_day}-{spec.history_days[1]}d"
    )
    parquet_dir.mkdir(exist_ok=True)
    staged = stage_new_day(spec, pop, workdir / "run_output")
    log(
        f"new file: {staged.new_rows:,} orders of {spec.new_day}, {staged.late_rows:,} late orders of "
        f"{staged.late_day}, {staged.resent_rows:,} re-sent orders of {staged.resent_day}, "
        f"{staged.customers:,} customers; rows_valid={staged.rows_valid:,}"
    )
    bases: dict[int, History] = {}
    for days in sorted(set(spec.history_days)):
        base = workdir / f"d{days}" / "base.duckdb"
        base.parent.mkdir(parents=True, exist_ok=True)
        for stale in (base, base.with_name(f"{base.name}.wal")):
            stale.unlink(missing_ok=True)
        bases[days] = build_history(spec, pop, days, base, parquet_dir)
        h = bases[days]
        log(
            f"built d{days} (setup, not timed): {h.silver_rows:,} silver rows, {h.customers:,} customers; "
            f"silver {h.seconds_silver:.1f} s, gold {h.seconds_gold:.1f} s, daily run of the last day "
            f"{h.seconds_warm_up:.1f} s; file {h.size_bytes / 2**20:.0f} MiB"
        )

    def fresh(days: int, name: str) -> Path:
        """A copy of the built warehouse (a stale WAL beside it would be replayed into it), written
        through to disk: otherwise the first checkpoint's fsync would write back the whole copy
        (0.2-0.3 s for the 365-day file), a cost of the copy, not of the run."""
        target = bases[days].path.with_name(f"{name}.duckdb")
        target.with_name(f"{target.name}.wal").unlink(missing_ok=True)
        shutil.copyfile(bases[days].path, target)
        with target.open("rb") as copied:
            os.fsync(copied.fileno())
        return target

    runs: dict[int, list[RunResult]] = {days: [] for days in spec.history_days}
    for attempt in range(spec.repeat):
        for days in spec.history_days:
            db = fresh(days, "run")
            result = incremental_run(spec, db, staged)
            runs[days].append(result)
            log(
                f"run {attempt + 1}/{spec.repeat} on d{days}: {result.total:.2f} s (days {_days_text(result.days)})"
            )
    results = {}
    for days in spec.history_days:
        db = bases[days].path.with_name("run.duckdb")
        sizes = _table_sizes(db)
        snapshot_gold(db)
        rebuild, rebuild_steps, silver_rows = full_rebuild(db, runs[days][-1].params)
        comparison = compare_gold(db, runs[days][-1].days)
        profiler = Profiler()
        incremental_run(spec, fresh(days, "profiled"), staged, profiler)
        results[days] = WarehouseResult(
            label=_label(days, spec),
            history=bases[days],
            runs=runs[days],
            reads=profiler.reads,
            table_rows=sizes,
            rebuild_seconds=rebuild,
            rebuild_steps=rebuild_steps,
            rebuild_silver_rows=silver_rows,
            comparison=comparison,
        )
    small, large = spec.history_days
    return BenchResult(spec, staged, results[small], results[large])


def _days_text(days: Sequence[date]) -> str:
    return ", ".join(d.isoformat() for d in days)


# --- report ----------------------------------------------------------------------------------


def _is_full(read: TableRead) -> bool:
    """Whether a scan pruned nothing (on a table of more than two row groups)."""
    return read.row_groups_total > 2 and read.row_groups_scanned >= read.row_groups_total


def _full_reads(reads: Sequence[TableRead]) -> list[str]:
    """Tables a query read whole (every row group), the per-customer state aside."""
    return [r.table for r in reads if _is_full(r) and r.table not in STATE_TABLES]


def _fmt_reads(reads: Sequence[TableRead], sizes: Mapping[str, int], per_day: Mapping[str, float]) -> str:
    """One query's reads: rows scanned of the table's rows, the days of rows that is, row groups
    (DuckDB's unit of pruning, 122,880 rows) scanned of the table's; FULL when none was pruned."""
    parts = []
    for r in reads:
        total = sizes.get(r.table)
        share = f"{r.rows_scanned:,}/{total:,}" if total is not None else f"{r.rows_scanned:,}"
        days = f" (~{r.rows_scanned / per_day[r.table]:.0f} days)" if per_day.get(r.table) else ""
        scans = f" x{r.scans}" if r.scans > 1 else ""
        full = " FULL" if _is_full(r) else ""
        parts.append(
            f"{r.table}{scans} {share} rows{days}, row groups {r.row_groups_scanned}/{r.row_groups_total}{full}"
        )
    return "; ".join(parts) or "(no table scan)"


def report(result: BenchResult, out: TextIO) -> None:
    """Print the figures; the last line is `incremental: d30_s=X d365_s=Y ratio=R`."""
    spec, small, large = result.spec, result.small, result.large

    def say(text: str = "") -> None:
        print(text, file=out)

    say()
    say(
        f"== incremental run: median of {spec.repeat} on fresh copies; affected days "
        f"{_days_text(large.days)}; history {small.history.silver_rows:,} vs {large.history.silver_rows:,} rows"
    )
    names = list(dict.fromkeys([*small.runs[0].seconds, *large.runs[0].seconds]))
    width = max(len(n) for n in names) + 2
    say(f"{'step':<{width}}{small.label + '_s':>9}{large.label + '_s':>9}{'ratio':>8}{'delta_s':>9}")
    for name in names:
        a, b = small.median_step(name), large.median_step(name)
        ratio = f"{b / a:.2f}" if a > 0.0005 else "-"
        say(f"{name:<{width}}{a:>9.3f}{b:>9.3f}{ratio:>8}{b - a:>9.3f}")
    say(f"{'total (wall)':<{width}}{small.median_total:>9.3f}{large.median_total:>9.3f}{result.ratio:>8.2f}")

    delta = large.median_total - small.median_total
    growth = sorted(((large.median_step(n) - small.median_step(n), n) for n in names), reverse=True)
    say()
    say(f"== growth with history: the {large.label} run takes {delta:+.2f} s more; largest contributors:")
    for seconds, name in growth[:6]:
        share = f" ({seconds / delta:.0%} of the difference)" if delta > 0 else ""
        say(f"  {name}: {seconds:+.3f} s{share}")

    say()
    say(
        f"== full gold rebuild, {large.label}: {large.rebuild_silver_rows:,} silver rows in "
        f"{large.rebuild_seconds:.1f} s ({small.label}: {small.rebuild_silver_rows:,} rows in "
        f"{small.rebuild_seconds:.1f} s)"
    )
    say("   " + ", ".join(f"{n.split('.', 1)[1]} {s:.1f} s" for n, s in large.rebuild_steps.items()))

    for res in (large, small):
        per_day = {
            "silver.transactions": res.table_rows["silver.transactions"] / (res.history.days + 1),
            "gold.customer_daily": res.table_rows["gold.customer_daily"] / (res.history.days + 1),
            "gold.aov_daily": res.table_rows["gold.aov_daily"] / (res.history.days + 1),
            "gold.agent_performance": res.table_rows["gold.agent_performance"] / (res.history.days + 1),
            "gold.peak_hours_daily": res.table_rows["gold.peak_hours_daily"] / (res.history.days + 1),
        }
        say()
        say(
            f"== rows read per query, {res.label} run (DuckDB profiler: rows scanned/table rows, row "
            f"groups scanned/total; FULL = no pruning); the run rebuilds {len(res.days)} days"
        )
        for relative, reads in res.reads.items():
            say(f"  {relative}: {_fmt_reads(reads, res.table_rows, per_day)}")
        unpruned = [
            f"{step.sql} ({', '.join(tables)})"
            for step in plan.GOLD_STEPS
            if (tables := _full_reads(res.reads.get(step.sql, ())))
        ]
        say(
            f"  gold queries reading every row group of a table, not just the run's days "
            f"(besides the per-customer state, {', '.join(STATE_TABLES)}, which RFM reads whole): "
            f"{'; '.join(unpruned) or 'none'}"
        )

    say()
    for res in (small, large):
        bad = [c for c in res.comparison if c.mismatched]
        verdict = (
            "equal" if not bad else "DIFFERENT: " + ", ".join(f"{c.table} ({c.mismatched})" for c in bad)
        )
        touched = ", ".join(f"{c.table.split('.')[1]} {c.rows_touched}" for c in res.comparison)
        say(
            f"== correctness, {res.label}: incremental gold vs full rebuild: {verdict} (rows checked on the run's days: {touched})"
        )

    met = "met" if result.ratio <= TARGET_RATIO else "MISSED"
    say(f"== target ratio <= {TARGET_RATIO}: {met}")
    say(result.final_line)


def parse_args(argv: Sequence[str] | None = None) -> tuple[BenchSpec, Path | None]:
    defaults = BenchSpec()
    parser = argparse.ArgumentParser(
        prog="python -m bench.incremental", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--days",
        type=int,
        nargs=2,
        metavar=("SMALL", "LARGE"),
        default=list(defaults.history_days),
        help="days of history of the two warehouses (reported as d30 and d365)",
    )
    parser.add_argument(
        "--orders-per-day", type=int, default=defaults.orders_per_day, help="mean orders per day"
    )
    parser.add_argument(
        "--customers", type=int, default=defaults.customers, help="customers in the population"
    )
    parser.add_argument("--agents", type=int, default=defaults.agents, help="agents in the population")
    parser.add_argument(
        "--new-day", type=date.fromisoformat, default=defaults.new_day, help="day of the incremental file"
    )
    parser.add_argument(
        "--late-share", type=float, default=defaults.late_share, help="late rows, share of the file"
    )
    parser.add_argument(
        "--late-days-back",
        type=int,
        default=defaults.late_days_back,
        help="how many days earlier late rows are",
    )
    parser.add_argument(
        "--resend-share", type=float, default=defaults.resend_share, help="re-sent orders of the previous day"
    )
    parser.add_argument(
        "--reporting-tz", default=defaults.reporting_tz, help="reporting time zone (peak hours)"
    )
    parser.add_argument(
        "--repeat", type=int, default=defaults.repeat, help="timed runs per warehouse (median)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to build (kept); default: a temporary folder, removed",
    )
    args = parser.parse_args(argv)
    spec = BenchSpec(
        history_days=(args.days[0], args.days[1]),
        orders_per_day=args.orders_per_day,
        customers=args.customers,
        agents=args.agents,
        new_day=args.new_day,
        late_share=args.late_share,
        late_days_back=args.late_days_back,
        resend_share=args.resend_share,
        reporting_tz=args.reporting_tz,
        seed=args.seed,
        repeat=args.repeat,
    )
    return spec, args.workdir


def main(argv: Sequence[str] | None = None) -> int:
    spec, workdir = parse_args(argv)

    def log(text: str) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stdout, flush=True)

    if workdir is not None:
        result = run_benchmark(spec, workdir, log)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
            result = run_benchmark(spec, Path(tmp), log)
    report(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

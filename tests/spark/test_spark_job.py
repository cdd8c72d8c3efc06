"""`spark/job.py` end to end on a corpus of well-formed, malformed and drifting landing files.

The corpus is generated from `CORPUS` (one row per file with its expected outcome) into a
temporary landing folder and cleaned by ONE `run_job` call; every test reads that run's outputs.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.testing import assertDataFrameEqual

from spark import contract, job, read, schema, transform
from spark.job import InputFile, JobConfig, run_job

RUN_ID = "run-corpus"
LOGICAL_END = datetime(2024, 7, 1, tzinfo=UTC)
TX_HEADER = "transaction_id,transaction_ts,customer_id,agent_id,channel,quantity,unit_price,amount,currency,status,payment_method"


def _csv(*lines: str, header: str = TX_HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def _parquet(columns: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def _jsonl(*records: dict[str, Any] | str) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


GOOD_ROWS = [
    "{id},2024-06-01T10:00:00Z,C1,A1,store,2,5.00,,USD,completed,card",
    "{id}b,2024-06-01 11:00:00,C2,,Online,1,,19.99,eur,PAID,",
]


def _good(prefix: str) -> bytes:
    return _csv(*[r.format(id=prefix) for r in GOOD_ROWS])


@dataclass(frozen=True)
class Case:
    name: str
    entity: str
    content: Callable[[], bytes]
    rows_read: int
    rows_valid: int
    error: str | None = None
    """A regex the file's error must match."""
    reasons: dict[str, int] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)


CORPUS: list[Case] = [
    # well-formed, every format
    Case("good.csv", "transactions", lambda: _good("G"), 2, 2),
    Case(
        "good_crlf_bom.csv",
        "transactions",
        lambda: b"\xef\xbb\xbf" + _good("B").replace(b"\n", b"\r\n"),
        2,
        2,
    ),
    Case("good.csv.gz", "transactions", lambda: gzip.compress(_good("Z")), 2, 2),
    Case(
        "good.jsonl",
        "transactions",
        lambda: _jsonl(
            {
                "transaction_id": "J1",
                "transaction_ts": "2024-06-02T00:00:00Z",
                "customer_id": "C1",
                "amount": 5,
            }
        ),
        1,
        1,
    ),
    Case(
        "good.ndjson.gz",
        "transactions",
        lambda: gzip.compress(
            _jsonl(
                {"transaction_id": "N1", "transaction_ts": "2024-06-02", "customer_id": "C1", "amount": "5.5"}
            )
        ),
        1,
        1,
    ),
    Case(
        "typed.parquet",
        "transactions",
        lambda: _parquet(
            {
                "transaction_id": ["P1", "P2"],
                "transaction_ts": pa.array(
                    [datetime(2024, 6, 3, 9, tzinfo=UTC), datetime(2024, 6, 3, 10, tzinfo=UTC)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "customer_id": ["C1", "C2"],
                "quantity": pa.array([2, 1], pa.int64()),
                "amount": pa.array([Decimal("10.00"), Decimal("3.50")], pa.decimal128(10, 2)),
            }
        ),
        2,
        2,
    ),
    Case(
        "good.parquet.gz",
        "transactions",
        lambda: gzip.compress(
            _parquet(
                {
                    "transaction_id": ["Q1"],
                    "transaction_ts": ["2024-06-04T00:00:00Z"],
                    "customer_id": ["C1"],
                    "amount": ["1"],
                }
            )
        ),
        1,
        1,
    ),
    # CSV edge cases
    Case("header_only.csv", "transactions", lambda: _csv(), 0, 0),
    Case(
        "quoted.csv",
        "transactions",
        lambda: _csv(
            'QT1,2024-06-01T10:00:00Z,C1,,"store, main",1,,"1,234.50",USD,completed,"card ""gold"""',
            'QT2,2024-06-01T10:00:00Z,C1,,"multi\nline",1,,3,USD,completed,',
        ),
        2,
        2,
    ),
    Case(
        "huge_field.csv",
        "transactions",
        lambda: _csv(
            "H1,2024-06-01T10:00:00Z,C1,,,1,,3,USD,completed,," + "x" * 2_000_000, header=TX_HEADER + ",note"
        ),
        1,
        1,
        drift={"columns_added": ["note"]},
    ),
    Case(
        "ragged.csv",
        "transactions",
        lambda: _csv(
            "R1,2024-06-01T10:00:00Z,C1", "R2,2024-06-01T10:00:00Z,C1,,,1,,3,USD,completed,,extra,fields"
        ),
        2,
        0,
        reasons={"MALFORMED_RECORD": 2},
    ),
    # schema drift
    Case(
        "renamed_extra.csv",
        "transactions",
        lambda: _csv(
            "D1,2024-06-01T10:00:00Z,C1,3,2.50,WELCOME",
            header="Order ID,Order Time,Cust-ID,QTY,Price,Promo Code",
        ),
        1,
        1,
        drift={
            "columns_added": ["promo_code"],
            "columns_renamed": {
                "Order ID": "transaction_id",
                "Order Time": "transaction_ts",
                "Cust-ID": "customer_id",
                "QTY": "quantity",
                "Price": "unit_price",
            },
        },
    ),
    Case(
        "missing_optional.csv",
        "transactions",
        lambda: _csv(
            "M1,2024-06-01T10:00:00Z,C1,4", header="transaction_id,transaction_ts,customer_id,amount"
        ),
        1,
        1,
        drift={
            "columns_missing": [
                "agent_id",
                "channel",
                "quantity",
                "unit_price",
                "currency",
                "status",
                "payment_method",
            ]
        },
    ),
    Case(
        "missing_required.csv",
        "transactions",
        lambda: _csv(
            "X1,2024-06-01T10:00:00Z,4",
            "X2,2024-06-01T10:00:00Z,5",
            header="transaction_id,transaction_ts,amount",
        ),
        2,
        0,
        error="missing required column customer_id",
        reasons={"MISSING_COLUMN": 2},
    ),
    Case(
        "type_drift.csv",
        "transactions",
        lambda: _csv(
            'T1,1717236000,C1,,,1,,"$1,234.50",USD,completed,',
            'T2,"Sat, 1 Jun 2024 10:00:00 +0000",C1,,,1,,"1.234,50",USD,completed,',
            "T3,2024/06/01 10:00,C1,,,1,,12.00 EUR,EUR,completed,",
            "T4,25/06/2024,C1,,,1,,1 000,USD,completed,",
            "T5,05/06/2024,C1,,,1,,1,USD,completed,",
        ),
        # The file's 25/06 proves day-first, so 05/06 is the 5th of June (one order per file, never
        # guessed per row); numeric dates read in the file's order are reported in read_settings.
        5,
        5,
        drift={"types_coerced": {"transaction_ts": 3, "amount": 4}},
    ),
    Case(
        "bad_values.csv",
        "transactions",
        lambda: _csv(
            ",2024-06-01T10:00:00Z,C1,,,1,,3,USD,completed,",
            "V2,whenever,C1,,,1,,3,USD,completed,",
            "V3,2024-07-02T00:00:00Z,C1,,,1,,3,USD,completed,",
            "V4,2024-06-01T10:00:00Z,C1,,,0,,3,USD,completed,",
            "V5,2024-06-01T10:00:00Z,C1,,,1,,lots,USD,completed,",
            "V6,2024-06-01T10:00:00Z,C1,,,1,,-3,USD,completed,",
            "V7,2024-06-01T10:00:00Z,C1,,,1,,3,ZZZ,completed,",
            "V8,2024-06-01T10:00:00Z,C1,,,1,,3,USD,lost,",
        ),
        8,
        0,
        reasons={
            "MISSING_REQUIRED": 1,
            "BAD_TIMESTAMP": 1,
            "FUTURE_TIMESTAMP": 1,
            "BAD_QUANTITY": 1,
            "BAD_AMOUNT": 1,
            "NEGATIVE_AMOUNT": 1,
            "BAD_CURRENCY": 1,
            "UNKNOWN_STATUS": 1,
        },
    ),
    # duplicates across files: the later file wins, then the later row
    Case(
        "dup_first.csv",
        "transactions",
        lambda: _csv("DUP,2024-06-01T10:00:00Z,C1,,,1,,1,USD,completed,"),
        1,
        0,
        reasons={"DUPLICATE_KEY": 1},
    ),
    Case(
        "dup_second.csv",
        "transactions",
        lambda: _csv(
            "DUP,2024-06-01T10:00:00Z,C1,,,1,,2,USD,completed,",
            "DUP,2024-06-01T10:00:00Z,C1,,,1,,3,USD,completed,",
        ),
        2,
        1,
        reasons={"DUPLICATE_KEY": 1},
    ),
    # JSON Lines edge cases
    Case(
        "mixed.jsonl",
        "transactions",
        lambda: _jsonl(
            {
                "transaction_id": "JM1",
                "transaction_ts": "2024-06-02T00:00:00Z",
                "customer_id": "C1",
                "amount": 1,
                "tags": ["a"],
            },
            "",
            "{not json",
            "[1, 2, 3]",
            '"a string"',
        ),
        4,
        1,
        reasons={"MALFORMED_RECORD": 3},
        drift={"columns_added": ["tags"]},
    ),
    # unreadable files: nothing of them loads
    Case("empty.csv", "transactions", lambda: b"", 0, 0, error=r"empty file \(0 bytes\)"),
    Case("blank_lines.csv", "transactions", lambda: b"\n\n  \n", 0, 0, error="no header row"),
    Case(
        "binary.csv",
        "transactions",
        lambda: random.Random(7).randbytes(4096),
        0,
        0,
        error="encoding cannot be told|not valid UTF-8|NUL bytes",
    ),
    # Not UTF-8: its encoding is detected (cp1252, the superset of Latin-1) and the value kept whole.
    Case(
        "latin1.csv",
        "transactions",
        lambda: _csv("L1,2024-06-01T10:00:00Z,Café,,,1,,3,USD,completed,").decode().encode("latin-1"),
        1,
        1,
    ),
    Case(
        "nul_bytes.csv", "transactions", lambda: _good("U").replace(b"C1", b"C\x001"), 0, 0, error="NUL bytes"
    ),
    Case(
        "parquet_named.csv",
        "transactions",
        lambda: _parquet({"transaction_id": ["Y"]}),
        0,
        0,
        error="encoding cannot be told|not valid UTF-8|NUL bytes",
    ),
    Case("csv_named.parquet", "transactions", lambda: _good("W"), 0, 0, error="cannot be read as parquet"),
    Case(
        "truncated.csv.gz",
        "transactions",
        lambda: gzip.compress(_good("K") * 50)[:-10],
        0,
        0,
        error="corrupt or truncated gzip",
    ),
    Case("not_gzip.csv.gz", "transactions", lambda: _good("NG"), 0, 0, error="corrupt or truncated gzip"),
    Case("text.jsonl", "transactions", lambda: b"hello\nworld\n", 0, 0, error="not JSON Lines"),
    Case("spreadsheet.xlsx", "transactions", lambda: b"PK\x03\x04", 0, 0, error="unknown file extension"),
    Case("no_extension", "transactions", lambda: _good("NE"), 0, 0, error="unknown file extension"),
    # customers and agents
    Case(
        "customers.csv",
        "customers",
        lambda: _csv(
            "C1,Ann, Ann@Example.com ,+44 20 7946 0958,United Kingdom,London,2024-01-02",
            "C2,Bob,not-an-email,,US,,",
            "C3,Cy,,12,FR,,",
            "C4,Di,,,Atlantis,,",
            "C5,Ed,,,DE,,2024-02-30",
            "C1,Ann B,ann@example.org,,gb,,2024-01-03",
            header="customer_id,full_name,email,phone,country,city,signup_date",
        ),
        6,
        1,
        reasons={"BAD_EMAIL": 1, "BAD_PHONE": 1, "BAD_COUNTRY": 1, "BAD_DATE": 1, "DUPLICATE_KEY": 1},
    ),
    Case(
        "customers_no_id.csv",
        "customers",
        lambda: _csv("Ann", header="full_name"),
        1,
        0,
        error="missing required column customer_id",
        reasons={"MISSING_COLUMN": 1},
    ),
    Case(
        "agents.jsonl",
        "agents",
        lambda: _jsonl(
            {"id": "A1", "name": "Al", "team": "North", "hired_at": "2023-01-02"},
            {"id": "A2", "hired_at": "soon"},
        ),
        2,
        1,
        reasons={"BAD_DATE": 1},
    ),
]


@dataclass(frozen=True)
class CorpusRun:
    landing: Path
    output: Path
    metrics: dict[str, Any]


def _source(case: Case) -> str:
    return f"landing/{case.entity}/{case.name}"


@pytest.fixture(scope="module")
def corpus_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> CorpusRun:
    root = tmp_path_factory.mktemp("corpus")
    landing = root / "landing"
    inputs = []
    for case in CORPUS:
        path = landing / case.entity / case.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.content())
        inputs.append(InputFile(entity=case.entity, uri=str(path), source_file=_source(case)))
    output = root / "out"
    config = JobConfig(run_id=RUN_ID, inputs=tuple(inputs), output=str(output), logical_end=LOGICAL_END)
    return CorpusRun(landing, output, run_job(spark, config))


def _stats(run: CorpusRun, case: Case) -> dict[str, Any]:
    return next(s for s in run.metrics["file_stats"] if s["source_file"] == _source(case))


def test_the_corpus_holds_at_least_25_malformed_or_drifting_files() -> None:
    assert len(CORPUS) >= 25
    assert len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_each_corpus_file_has_its_expected_outcome(
    corpus_run: CorpusRun, spark: SparkSession, case: Case
) -> None:
    stats = _stats(corpus_run, case)
    assert (stats["rows_read"], stats["rows_valid"]) == (case.rows_read, case.rows_valid)
    assert stats["rows_quarantined"] == case.rows_read - case.rows_valid
    if case.error is None:
        assert stats["error"] is None
    else:
        assert re.search(case.error, stats["error"]), stats["error"]
        assert stats["error"].startswith(_source(case))
    quarantine = spark.read.parquet(str(corpus_run.output / "quarantine")).where(
        F.col("source_file") == _source(case)
    )
    reasons = {
        r["reason"]: r["n"] for r in quarantine.groupBy("reason").agg(F.count("*").alias("n")).collect()
    }
    expected = dict(case.reasons)
    if case.error and not case.rows_read:
        expected = {"UNREADABLE_FILE": 1}
    assert reasons == expected
    for key, value in case.drift.items():
        actual = json.loads(stats[key])
        assert actual == value, key


def test_outputs_have_exactly_the_columns_and_types_of_the_sql_schemas(
    corpus_run: CorpusRun, spark: SparkSession
) -> None:
    outputs = {
        "silver/transactions": "silver.transactions",
        "silver/customers": "silver.customers",
        "silver/agents": "silver.agents",
        "silver/fx_rates": "silver.fx_rates",
        "quarantine": "audit.quarantine",
        "file_stats": "audit.file_stats",
    }
    for folder, table in outputs.items():
        actual = spark.read.parquet(str(corpus_run.output / folder)).schema
        expected = schema.struct_type(table)
        assert [(f.name, f.dataType) for f in actual.fields] == [
            (f.name, f.dataType) for f in expected.fields
        ], folder


def test_silver_rows_carry_typed_values_extra_columns_and_lineage(
    corpus_run: CorpusRun, spark: SparkSession
) -> None:
    silver = spark.read.parquet(str(corpus_run.output / "silver" / "transactions"))
    actual = silver.where(F.col("transaction_id").isin("G", "Gb", "D1")).select(
        "transaction_id",
        "transaction_ts",
        "channel",
        "quantity",
        "amount",
        "currency",
        "status",
        "extra",
        "source_file",
        "record_number",
        "run_id",
    )
    expected = spark.createDataFrame(
        [
            (
                "G",
                datetime(2024, 6, 1, 10, tzinfo=UTC),
                "store",
                2,
                Decimal("10.00"),
                "USD",
                "completed",
                None,
                "landing/transactions/good.csv",
                1,
                RUN_ID,
            ),
            (
                "Gb",
                datetime(2024, 6, 1, 11, tzinfo=UTC),
                "online",
                1,
                Decimal("19.99"),
                "EUR",
                "completed",
                None,
                "landing/transactions/good.csv",
                2,
                RUN_ID,
            ),
            (
                "D1",
                datetime(2024, 6, 1, 10, tzinfo=UTC),
                None,
                3,
                Decimal("7.50"),
                "USD",
                "completed",
                '{"promo_code":"WELCOME"}',
                "landing/transactions/renamed_extra.csv",
                1,
                RUN_ID,
            ),
        ],
        actual.schema,
    )
    assertDataFrameEqual(actual, expected)


def test_the_later_file_then_the_later_row_wins_a_duplicate_key(
    corpus_run: CorpusRun, spark: SparkSession
) -> None:
    silver = spark.read.parquet(str(corpus_run.output / "silver" / "transactions"))
    actual = silver.where(F.col("transaction_id") == "DUP").select("amount", "source_file", "record_number")
    assertDataFrameEqual(actual, [(Decimal("3.00"), "landing/transactions/dup_second.csv", 2)])


MISSING_CUSTOMER = (
    "missing required column customer_id; columns found: 'transaction_id', 'transaction_ts', 'amount'; "
    "map the file's names under `transactions: columns:` in sources.yaml"
)


def test_quarantine_keeps_the_original_raw_values_keyed_by_the_original_header(
    corpus_run: CorpusRun, spark: SparkSession
) -> None:
    quarantine = spark.read.parquet(str(corpus_run.output / "quarantine"))
    actual = quarantine.where(F.col("source_file").endswith("missing_required.csv")).select(
        "run_id", "entity", "record_number", "reason", "detail", "raw_record"
    )
    assertDataFrameEqual(
        actual,
        [
            (
                RUN_ID,
                "transactions",
                1,
                "MISSING_COLUMN",
                MISSING_CUSTOMER,
                '{"transaction_id":"X1","transaction_ts":"2024-06-01T10:00:00Z","amount":"4"}',
            ),
            (
                RUN_ID,
                "transactions",
                2,
                "MISSING_COLUMN",
                MISSING_CUSTOMER,
                '{"transaction_id":"X2","transaction_ts":"2024-06-01T10:00:00Z","amount":"5"}',
            ),
        ],
    )
    bad = quarantine.where(F.col("source_file").endswith("bad_values.csv") & (F.col("record_number") == 5))
    row = bad.select("reason", "detail", "raw_record").first()
    assert row is not None
    assert (row["reason"], row["detail"]) == ("BAD_AMOUNT", "amount='lots' is not a number in range")
    assert json.loads(row["raw_record"])["amount"] == "lots"


def test_duplicate_losers_keep_their_raw_values_in_quarantine(
    corpus_run: CorpusRun, spark: SparkSession
) -> None:
    # Only rows with a key seen more than once keep their raw strings past the cleaning step.
    quarantine = spark.read.parquet(str(corpus_run.output / "quarantine"))
    losers = quarantine.where(F.col("reason") == "DUPLICATE_KEY").collect()
    actual = {
        (r["source_file"].rsplit("/", 1)[-1], r["record_number"]): json.loads(r["raw_record"])
        for r in losers
        if "/dup_" in r["source_file"]
    }
    assert {k: (v["transaction_id"], v["amount"]) for k, v in actual.items()} == {
        ("dup_first.csv", 1): ("DUP", "1"),
        ("dup_second.csv", 1): ("DUP", "2"),
    }


def test_silver_parquet_has_no_dictionaries_for_values_that_never_repeat(corpus_run: CorpusRun) -> None:
    files = sorted((corpus_run.output / "silver" / "transactions").glob("part-*.parquet"))
    assert files
    seen: dict[str, set[bool]] = {}
    for path in files:
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                chunk = meta.row_group(g).column(c)
                seen.setdefault(chunk.path_in_schema, set()).add(chunk.has_dictionary_page)
    for column in ("transaction_id", "transaction_ts", "record_number"):
        assert seen[column] == {False}, column
    # The others keep Parquet's default: a dictionary wherever it pays (not on a page of 1-2 rows).
    assert all(True in seen[c] for c in ("currency", "status", "source_file", "run_id")), seen


def test_duplicate_candidates_are_the_keys_seen_more_than_once(
    spark: SparkSession, canonical: Callable[..., DataFrame]
) -> None:
    keyed = canonical(
        "transactions", [{"transaction_id": k} for k in ["A", " A", "B", "C", "C", "C", None, None]]
    )
    candidates = job._duplicate_candidates(keyed)
    try:
        hashes = {r["_key_hash"] for r in candidates.collect()}
        expected = spark.createDataFrame([("A",), ("C",)], "k string").select(F.xxhash64("k").alias("h"))
        assert hashes == {r["h"] for r in expected.collect()}
    finally:
        candidates.unpersist()


def test_the_key_only_pass_reads_every_files_keys_whatever_its_shape_and_format(
    spark: SparkSession, tmp_path: Path
) -> None:
    """`job._keys` cuts the key out of unquoted lines (`read.field_values`) at each file's own
    position of it: the keys it finds are the keys the cleaning pass gives the same rows, so the
    duplicate candidates are the keys seen more than once across files of any shape."""
    landing = tmp_path / "landing"
    landing.mkdir()
    files = {
        "a.csv": "transaction_id,customer_id,transaction_ts,amount\n K1 ,c,2025-01-01T00:00:00Z,1\nK2,c,2025-01-01T00:00:00Z,1\n",
        "b.csv": "customer_id,amount,id,transaction_ts\nc,2,K2,2025-01-01T00:00:00Z\nc,2,,2025-01-01T00:00:00Z\nc,2,K3\n",
        "c.csv": 'transaction_id,customer_id,transaction_ts,amount\n"K3",c,2025-01-01T00:00:00Z,"1,5"\n',
        "d.jsonl": '{"transaction_id": "K4", "customer_id": "c"}\n{"transaction_id": "K1"}\n',
    }
    for name, text in files.items():
        (landing / name).write_text(text, encoding="utf-8")
    config = JobConfig(
        run_id="r",
        inputs=tuple(
            InputFile("transactions", str(landing / n), f"landing/transactions/{n}") for n in sorted(files)
        ),
        output=str(tmp_path / "out"),
        logical_end=LOGICAL_END,
    )
    runs = job._read(spark, config, str(tmp_path / "work"))
    assert [r.raw.split_by_lines for r in runs] == [True, True, False, False]
    spec = contract.ENTITIES["transactions"]
    keys = Counter(r[transform.KEY] for r in job._keys(spark, spec, runs).collect())
    # A few more values than records at most: each unquoted file's header name.
    assert keys == {"K1": 2, "K2": 2, "K3": 2, "K4": 1, None: 1, "transaction_id": 1, "id": 1}
    candidates = job._duplicate_candidates(job._keys(spark, spec, runs))
    try:
        hashes = {r["_key_hash"] for r in candidates.collect()}
    finally:
        candidates.unpersist()
    expected = spark.createDataFrame([("K1",), ("K2",), ("K3",)], "k string").select(
        F.xxhash64("k").alias("h")
    )
    assert hashes == {r["h"] for r in expected.collect()}


def test_an_unreadable_file_is_one_quarantine_row_without_record_number(
    corpus_run: CorpusRun, spark: SparkSession
) -> None:
    quarantine = spark.read.parquet(str(corpus_run.output / "quarantine"))
    actual = quarantine.where(F.col("source_file").endswith("/truncated.csv.gz")).select(
        "record_number", "reason", "raw_record"
    )
    assertDataFrameEqual(actual, [(None, "UNREADABLE_FILE", None)])


def test_customers_are_normalized_and_the_latest_record_wins(
    corpus_run: CorpusRun, spark: SparkSession
) -> None:
    actual = spark.read.parquet(str(corpus_run.output / "silver" / "customers")).select(
        "customer_id", "full_name", "email", "phone", "country", "record_number"
    )
    assertDataFrameEqual(actual, [("C1", "Ann B", "ann@example.org", None, "GB", 6)])


def test_agents_accept_aliased_headers(corpus_run: CorpusRun, spark: SparkSession) -> None:
    actual = spark.read.parquet(str(corpus_run.output / "silver" / "agents")).select(
        "agent_id", "agent_name", "team"
    )
    assertDataFrameEqual(actual, [("A1", "Al", "North")])


def test_metrics_conserve_rows_per_file_and_add_up(corpus_run: CorpusRun) -> None:
    metrics = corpus_run.metrics
    assert metrics["conservation"]["ok"] is True
    assert metrics["files"] == len(CORPUS)
    assert metrics["rows_read"] == sum(c.rows_read for c in CORPUS)
    assert metrics["rows_valid"] == sum(c.rows_valid for c in CORPUS)
    assert metrics["rows_read"] == metrics["rows_valid"] + metrics["rows_quarantined"]
    assert metrics["files_unreadable"] == sum(1 for c in CORPUS if c.error and c.rows_read == 0)
    assert sum(e["rows_read"] for e in metrics["entities"].values()) == metrics["rows_read"]
    assert set(metrics["steps_seconds"]) >= {"read", "clean", "write", "check"}
    on_disk = json.loads((corpus_run.output / "metrics.json").read_text(encoding="utf-8"))
    assert on_disk["rows_read"] == metrics["rows_read"]
    assert not (corpus_run.output / "_work").exists()


def test_file_stats_has_one_row_per_input_file(corpus_run: CorpusRun, spark: SparkSession) -> None:
    stats = spark.read.parquet(str(corpus_run.output / "file_stats"))
    assert stats.count() == len(CORPUS)
    assert stats.where(F.col("rows_read") != F.col("rows_valid") + F.col("rows_quarantined")).count() == 0


def test_a_run_that_loses_rows_fails_naming_the_file(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "lost.csv"
    landing.write_bytes(_good("L"))
    real = job.transform.silver_rows

    def lossy(entity: str, run_id: str) -> Callable[[DataFrame], DataFrame]:
        return lambda df: real(entity, run_id)(df).limit(1)

    monkeypatch.setattr(job.transform, "silver_rows", lossy)
    config = JobConfig(
        run_id="r",
        inputs=(InputFile("transactions", str(landing), "landing/transactions/lost.csv"),),
        output=str(tmp_path / "out"),
        logical_end=LOGICAL_END,
    )
    with pytest.raises(
        job.ConservationError, match=r"landing/transactions/lost.csv: rows_read=2 rows_valid=1"
    ):
        run_job(spark, config)


@pytest.mark.parametrize("lose", ["in the read", "in the cleaning"])
def test_a_row_lost_before_it_is_classified_fails_the_run(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lose: str
) -> None:
    """Rows read are counted in the file by the read itself, not from the rows the job classified:
    a row that vanishes anywhere on the way (here from the raw frame, or from the canonical one)
    leaves the file one row short of what it holds."""
    landing = tmp_path / "lost.csv"
    landing.write_bytes(_good("L"))
    if lose == "in the read":
        real_read = job.read.read_files

        def lossy_read(*args: Any, **kwargs: Any) -> list[read.RawFile]:
            raws = real_read(*args, **kwargs)
            for raw in raws:
                assert raw.frame is not None
                raw.frame = raw.frame.where(F.col(read.RECORD_NUMBER) != 1)
            return raws

        monkeypatch.setattr(job.read, "read_files", lossy_read)
    else:
        real_canonical = job._canonical
        monkeypatch.setattr(
            job, "_canonical", lambda *a: real_canonical(*a).where(F.col(read.RECORD_NUMBER) != 2)
        )
    config = JobConfig(
        run_id="r",
        inputs=(InputFile("transactions", str(landing), "landing/transactions/lost.csv"),),
        output=str(tmp_path / "out"),
        logical_end=LOGICAL_END,
    )
    with pytest.raises(
        job.ConservationError, match=r"landing/transactions/lost.csv: rows_read=2 rows_valid=1"
    ):
        run_job(spark, config)


# the entry point --------------------------------------------------------------------------------


def test_parse_args_builds_the_config_in_claim_order() -> None:
    config = job.parse_args(
        [
            "--run-id", "r1",
            "--input", "transactions=gs://b/t/1.csv",
            "--input", "customers=gs://b/c/1.csv",
            "--source-file", "landing/transactions/1.csv",
            "--source-file", "landing/customers/1.csv",
            "--output", "gs://b/runs/r1",
            "--logical-end", "2024-07-01T00:00:00Z",
            "--source-tz", "Europe/Paris",
            "--csv-delimiter", ";",
        ]
    )  # fmt: skip
    assert config.inputs == (
        InputFile("transactions", "gs://b/t/1.csv", "landing/transactions/1.csv"),
        InputFile("customers", "gs://b/c/1.csv", "landing/customers/1.csv"),
    )
    assert config.logical_end == LOGICAL_END
    assert (config.source_tz, config.csv_delimiter, config.default_currency) == ("Europe/Paris", ";", "USD")


@pytest.mark.parametrize(
    "argv",
    [
        [
            "--run-id",
            "r",
            "--input",
            "orders=x.csv",
            "--output",
            "o",
            "--logical-end",
            "2024-07-01T00:00:00Z",
        ],
        [
            "--run-id",
            "r",
            "--input",
            "transactions=x.csv",
            "--output",
            "o",
            "--logical-end",
            "2024-07-01T00:00:00",
        ],
        ["--input", "transactions=x.csv", "--output", "o", "--logical-end", "2024-07-01T00:00:00Z"],
    ],
    ids=["unknown entity", "naive logical end", "no run id"],
)
def test_parse_args_rejects_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        job.parse_args(argv)


def test_job_config_rejects_a_naive_logical_end_and_an_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        JobConfig(run_id="r", inputs=(), output="o", logical_end=datetime(2024, 7, 1))
    with pytest.raises(Exception, match="Mars"):
        JobConfig(run_id="r", inputs=(), output="o", logical_end=LOGICAL_END, source_tz="Mars/Olympus")


def test_job_runs_as_a_plain_script_with_only_spark_and_sql_on_the_path(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-S", str(Path(job.__file__)), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "PYTHONPATH": str(
                Path(sys.prefix)
                / "lib"
                / f"python{sys.version_info.major}.{sys.version_info.minor}"
                / "site-packages"
            )
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--run-id" in result.stdout
    assert not re.search(
        r"^\s*(from|import) pipeline\b", Path(job.__file__).read_text(encoding="utf-8"), re.M
    )

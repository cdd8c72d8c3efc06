"""The cleaning job on files shaped like real exports (`tests/corpus/`), with and without the
corpus's `sources.yaml`: what each file yields, how it was read, and values that prove it was read
as its producer meant (a day-first date is not read month-first, a decimal comma is a decimal)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from spark.job import InputFile, JobConfig, run_job
from spark.sources import SourceSettings, load

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = sorted(p for p in (CORPUS / "files").glob("*/*") if p.is_file())
END = datetime(2025, 5, 1, tzinfo=UTC)


def _run(spark: SparkSession, out: Path, with_settings: bool) -> dict[str, Any]:
    sources = load(CORPUS / "sources.yaml", defaults=SourceSettings()) if with_settings else None
    inputs = tuple(
        InputFile(p.parent.name, str(p), p.name, sources.for_file(p.parent.name, p.name) if sources else None)
        for p in FILES
    )
    metrics = run_job(spark, JobConfig(run_id="corpus", inputs=inputs, output=str(out), logical_end=END))
    quarantine = spark.read.parquet(str(out / "quarantine")).collect()
    silver = {
        entity: [r.asDict() for r in spark.read.parquet(str(out / "silver" / entity)).collect()]
        for entity in ("transactions", "customers", "agents")
    }
    return {
        "stats": {s["source_file"]: s for s in metrics["file_stats"]},
        "reasons": {
            f: Counter(r.reason for r in quarantine if r.source_file == f)
            for f in {r.source_file for r in quarantine}
        },
        "quarantine": quarantine,
        "silver": silver,
    }


@pytest.fixture(scope="module")
def plain(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(spark, tmp_path_factory.mktemp("corpus_plain"), with_settings=False)


@pytest.fixture(scope="module")
def configured(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(spark, tmp_path_factory.mktemp("corpus_settings"), with_settings=True)


# file -> (rows valid, quarantine reasons) without settings, then with sources.yaml.
EXPECTED: dict[str, tuple[tuple[int, dict[str, int]], tuple[int, dict[str, int]]]] = {
    "excel_de_semicolon.csv": ((4, {}), (4, {})),
    "excel_at_dotted.csv": ((2, {}), (2, {})),
    "excel_fr_ambiguous.csv": (
        (0, {"AMBIGUOUS_DATE": 4, "FUTURE_TIMESTAMP": 1}),
        (4, {"FUTURE_TIMESTAMP": 1}),  # 05/05/2025 (either order) is after the run's end
    ),
    "excel_uk_slash.csv": ((20, {}), (20, {})),
    "excel_us.csv": ((3, {}), (3, {})),
    "excel_unicode_text.csv": ((2, {}), (2, {})),
    "mixed_orders.csv": (
        (0, {"AMBIGUOUS_DATE": 2, "FUTURE_TIMESTAMP": 1}),
        (1, {"BAD_TIMESTAMP": 1, "FUTURE_TIMESTAMP": 1}),
    ),
    "crm_export.csv": ((0, {"MISSING_COLUMN": 3}), (3, {})),
    "pos_store12.csv": ((0, {"MISSING_COLUMN": 3}), (3, {})),
    "pos_export_tab.csv": ((2, {}), (2, {})),
    "legacy_pipe.csv": ((3, {}), (3, {})),
    "shop_semicolon.csv": ((2, {}), (0, {"MISSING_COLUMN": 2})),
    "api_orders.json": ((2, {"NEGATIVE_AMOUNT": 1}), (2, {"NEGATIVE_AMOUNT": 1})),
    "webhook_events.json": ((2, {}), (2, {})),
    "crm_customers_latin1.csv": ((2, {"BAD_COUNTRY": 1}), (2, {"BAD_COUNTRY": 1})),
    "hr_agents.csv": ((2, {}), (2, {})),
}


def test_the_corpus_has_a_file_per_expectation() -> None:
    assert len(FILES) >= 15
    assert sorted(p.name for p in FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("with_settings", [False, True], ids=["without-settings", "with-sources-yaml"])
def test_each_file_yields_what_its_producer_meant(
    name: str, with_settings: bool, plain: dict[str, Any], configured: dict[str, Any]
) -> None:
    run = configured if with_settings else plain
    stats = run["stats"][name]
    valid, reasons = EXPECTED[name][1 if with_settings else 0]
    assert (stats["rows_valid"], dict(run["reasons"].get(name, {}))) == (valid, reasons), stats
    assert stats["rows_read"] == stats["rows_valid"] + stats["rows_quarantined"]


def _read(run: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(json.loads(run["stats"][name]["read_settings"]))


def test_how_each_file_was_read_is_reported(plain: dict[str, Any], configured: dict[str, Any]) -> None:
    assert (
        _read(plain, "excel_de_semicolon.csv").items()
        >= {
            "delimiter": ";",
            "delimiter_source": "detected",
            "date_order": "dmy",
            "date_order_source": "inferred",
        }.items()
    )
    assert _read(plain, "excel_us.csv")["date_order"] == "mdy"
    assert _read(plain, "excel_fr_ambiguous.csv")["date_order"] == "undetermined"
    assert _read(plain, "excel_unicode_text.csv").items() >= {"encoding": "utf-16", "delimiter": "\t"}.items()
    assert _read(plain, "legacy_pipe.csv")["delimiter"] == "|"
    latin = _read(plain, "crm_customers_latin1.csv")
    assert (latin["encoding"], latin["encoding_source"]) == ("cp1252", "detected")
    assert 0 < latin["encoding_confidence"] <= 1
    assert _read(plain, "api_orders.json")["json_layout"] == "array"
    assert _read(plain, "webhook_events.json")["json_layout"] == "lines"
    assert (
        _read(configured, "excel_fr_ambiguous.csv").items()
        >= {"date_order": "dmy", "date_order_source": "set"}.items()
    )
    pos = _read(configured, "pos_store12.csv")
    assert (pos["encoding"], pos["encoding_source"], pos["delimiter_source"], pos["decimal"]) == (
        "cp1252",
        "set",
        "set",
        ",",
    )


def _transaction(run: dict[str, Any], key: str) -> dict[str, Any]:
    return next(r for r in run["silver"]["transactions"] if r["transaction_id"] == key)


def test_values_are_read_as_their_producer_meant(plain: dict[str, Any], configured: dict[str, Any]) -> None:
    de = _transaction(plain, "DE-1001")
    assert (de["transaction_ts"], de["amount"]) == (datetime(2025, 4, 16, 1, 42), Decimal("1234.50"))
    # Day-first for the whole file: 05/04 is the 5th of April, not the 4th of May.
    assert _transaction(plain, "UK-05")["transaction_ts"] == datetime(2025, 4, 5, 10, 0)
    assert _transaction(plain, "US-2")["transaction_ts"] == datetime(2025, 4, 3, 9, 0)
    assert _transaction(plain, "US-3")["amount"] == Decimal("3000.00")
    assert _transaction(configured, "FR-2")["transaction_ts"] == datetime(2025, 3, 4, 11, 0)
    assert _transaction(configured, "FR-1")["amount"] == Decimal("12.50")
    pos = _transaction(configured, "P-3")
    assert (pos["amount"], pos["customer_id"], json.loads(pos["extra"])) == (
        Decimal("1049.00"),
        "C003",
        {"kassierer": "Renée"},
    )
    assert _transaction(configured, "CRM-2")["amount"] == Decimal("250.00")
    names = {r["customer_id"]: r["full_name"] for r in plain["silver"]["customers"]}
    assert names["C002"] == "Renée Faÿ"
    hired = {r["agent_id"]: r["hire_date"] for r in plain["silver"]["agents"]}
    assert str(hired["A1"]) == "2021-04-16"


def test_a_rejected_file_says_which_setting_fixes_it(
    plain: dict[str, Any], configured: dict[str, Any]
) -> None:
    crm = plain["stats"]["crm_export.csv"]["error"]
    assert "columns found: 'Order Number', 'Order Date', 'Customer Ref', 'Net Total'" in crm
    assert '"Order Number": transaction_id' in crm
    assert '"Customer Ref": customer_id' in crm
    semicolon = configured["stats"]["shop_semicolon.csv"]["error"]
    assert "delimiter" in semicolon
    assert "';'" in semicolon
    ambiguous = [r for r in plain["quarantine"] if r.reason == "AMBIGUOUS_DATE"]
    assert ambiguous
    assert all("date_order: dmy" in r.detail for r in ambiguous)
    # The raw value is kept as written, not as it was read.
    assert {json.loads(r.raw_record)["transaction_ts"] for r in ambiguous} >= {
        "03/04/2025 10:00",
        "13/04/2025",
    }

"""`sources.yaml`: validated with errors that name the file, the key and the allowed values, and
resolved per file (entity, then matching globs); and the sniffing of a file's first bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.source_settings import relative_name
from spark import sniff
from spark.sources import SourcesError, SourceSettings, load

DEFAULTS = SourceSettings(source_tz="Europe/Paris")


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return load(path, defaults=DEFAULTS)


def test_no_file_or_an_empty_one_means_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "absent.yaml", defaults=DEFAULTS).for_file("transactions", "a.csv") == DEFAULTS
    assert _load(tmp_path, "# only comments\n").for_file("customers", "c.csv") == DEFAULTS  # type: ignore[attr-defined]


def test_entity_settings_then_matching_globs_in_order(tmp_path: Path) -> None:
    sources = _load(
        tmp_path,
        """
transactions:
  date_order: dmy
  columns: {Order Number: transaction_id}
  files:
    "pos_*.csv": {encoding: cp1252, delimiter: ";", decimal: ",", columns: {Net Total: amount}}
    "2025/*": {max_quarantine_pct: 5}
customers:
  encoding: latin-1
""",
    )
    pos = sources.for_file("transactions", "2025/pos_12.csv")  # type: ignore[attr-defined]
    assert (pos.encoding, pos.delimiter, pos.decimal, pos.date_order, pos.max_quarantine_pct) == (
        "cp1252",
        ";",
        ",",
        "dmy",
        5.0,
    )
    assert dict(pos.columns) == {"Order Number": "transaction_id", "Net Total": "amount"}
    assert pos.source_tz == "Europe/Paris"  # the environment's default where the file says nothing
    web = sources.for_file("transactions", "web.csv")  # type: ignore[attr-defined]
    assert (web.encoding, web.delimiter, web.date_order) == ("auto", "auto", "dmy")
    assert sources.for_file("customers", "c.csv").encoding == "latin-1"  # type: ignore[attr-defined]
    assert SourceSettings.from_json(pos.to_json()) == pos
    assert pos.fingerprint != web.fingerprint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("transaction:\n  delimiter: ';'\n", r"unknown key 'transaction' \(did you mean 'transactions'\?\)"),
        (
            "transactions:\n  delimiter: ';;'\n",
            r"transactions\.delimiter: ';;' is not a delimiter: use 'auto'",
        ),
        (
            "transactions:\n  decimal: ' '\n",
            r"transactions\.decimal: ' ' is not a decimal separator: use '\.', ','",
        ),
        ("transactions:\n  encoding: klingon\n", r"transactions\.encoding: unknown encoding 'klingon'"),
        ("transactions:\n  date_order: dym\n", r"'dym' is not a date order: use 'ymd', 'dmy', 'mdy'"),
        ("customers:\n  source_tz: Mars/Base\n", r"customers\.source_tz: unknown time zone 'Mars/Base'"),
        ("agents:\n  default_currency: euro\n", r"'euro' is not an ISO 4217 currency code"),
        ("transactions:\n  max_quarantine_pct: 120\n", r"120 is not a percentage"),
        (
            "transactions:\n  columns: {Net Total: amout}\n",
            r"columns\.Net Total: 'amout' is not a column of transactions \(did you mean 'amount'\?\)",
        ),
        (
            "transactions:\n  files:\n    'pos_*.csv': {delimter: ';'}\n",
            r"transactions\.files\[\"pos_\*\.csv\"\]: unknown key 'delimter' \(did you mean 'delimiter'\?\)",
        ),
        ("transactions: [1, 2]\n", r"transactions: expected a mapping of settings"),
        ("transactions: {delimiter: ';'\n", r"not valid YAML"),
    ],
)
def test_a_bad_settings_file_is_refused_naming_the_file_the_key_and_the_allowed_values(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SourcesError, match=message) as caught:
        _load(tmp_path, text)
    assert str(tmp_path / "sources.yaml") in str(caught.value)


def test_a_files_path_under_its_entity_folder() -> None:
    assert relative_name("transactions", "/land/transactions/2025/pos_1.csv") == "2025/pos_1.csv"
    assert relative_name("transactions", "gs://landing-bucket/transactions/pos_1.csv") == "pos_1.csv"
    assert relative_name("customers", "elsewhere/c.csv") == "c.csv"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ("a|b|c", "|"),
        ('"x;y",b,c', ","),  # a delimiter inside quotes does not count
        ("single", ","),
    ],
)
def test_the_delimiter_is_the_one_the_header_holds_most(header: str, expected: str) -> None:
    assert sniff.delimiter_of(header) == expected


def test_encodings_from_the_first_bytes() -> None:
    text = "name;city\nJürgen Müller;München\nRenée Faÿ;Besançon\nJosé;Málaga\n"
    assert sniff.encoding_of(text.encode("utf-8"), complete=True) == sniff.Encoding("utf-8", 1.0, False)
    assert sniff.encoding_of("\ufeff".encode() + text.encode(), complete=True).name == "utf-8"  # type: ignore[union-attr]
    assert sniff.encoding_of(text.encode("utf-16"), complete=True).name == "utf-16"  # type: ignore[union-attr]
    latin = sniff.encoding_of(text.encode("latin-1"), complete=True)
    assert latin is not None
    assert latin.detected
    assert latin.name == "cp1252"
    assert text.encode("latin-1").decode(latin.name) == text
    # A multi-byte character cut at the end of a sample is still UTF-8.
    assert sniff.encoding_of(text.encode("utf-8")[:-2] + "é".encode()[:1], complete=False).name == "utf-8"  # type: ignore[union-attr]


def test_date_evidence_proves_an_order_or_says_it_cannot() -> None:
    assert sniff.date_evidence(["16.04.2025 01:42", "03.04.2025"]).order == "dmy"
    assert sniff.date_evidence(["04/16/2025", "04/03/2025"]).order == "mdy"
    only_small = sniff.date_evidence(["03/04/2025", "04/03/2025"])
    assert (only_small.order, only_small.contradictory) == (None, False)
    mixed = sniff.date_evidence(["13/04/2025", "04/13/2025"])
    assert (mixed.order, mixed.contradictory) == (None, True)
    assert sniff.date_evidence(["2025-04-03"]).values == 0


def test_sample_values_of_a_column_from_a_head_sample() -> None:
    text = "id;when\n1;16.04.2025\n2;03.04.2025\n3;0"  # the last line may be cut: dropped
    assert sniff.sample_values(text, "csv", ";", "when", 1) == ["16.04.2025", "03.04.2025"]
    lines = '{"when": "a"}\n{"when": "b"}\n{"wh'
    assert sniff.sample_values(lines, "jsonl", ",", "when", 0) == ["a", "b"]

"""The pure transforms of `spark/transform.py`, on tiny inline frames.

Each table-driven test builds one frame holding all its cases (one Spark job per test keeps the
suite fast) and compares the outcome per case with `assertDataFrameEqual`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812
from pyspark.testing import assertDataFrameEqual

from spark import contract, refdata, transform
from spark.read import CORRUPT, FILE, RECORD_NUMBER

CanonicalFactory = Callable[..., DataFrame]

END = datetime(2024, 7, 1, tzinfo=UTC)


def _dedupe(entity: str, source_files: list[str]) -> Callable[[DataFrame], DataFrame]:
    """The job's duplicate marking over a whole frame: winners, then every other row of their key."""
    return lambda df: df.transform(
        transform.mark_duplicates(entity, transform.duplicate_winners(df), source_files)
    )


def _cases(spark: SparkSession, values: list[str | None]) -> DataFrame:
    return spark.createDataFrame([(i, v) for i, v in enumerate(values)], "case int, value string")


# map_columns --------------------------------------------------------------------------------------


def test_map_columns_normalizes_names_and_maps_aliases() -> None:
    mapping = transform.map_columns(
        "transactions", [" Order-ID", "Transaction TS", "customer", "Total", "Promo Code"]
    )
    assert mapping.contract_index == {"transaction_id": 0, "transaction_ts": 1, "customer_id": 2, "amount": 3}
    assert mapping.renamed == {" Order-ID": "transaction_id", "customer": "customer_id", "Total": "amount"}
    assert mapping.added == ("promo_code",)
    assert mapping.missing_required == ()
    assert "agent_id" in mapping.missing


def test_map_columns_prefers_the_exact_name_over_an_alias_and_keeps_the_loser_as_extra() -> None:
    mapping = transform.map_columns("transactions", ["total", "amount", "transaction_id"])
    assert mapping.contract_index["amount"] == 1
    assert mapping.extras == ((0, "total"),)


def test_map_columns_reports_missing_required_columns() -> None:
    mapping = transform.map_columns("transactions", ["transaction_id", "amount"])
    assert mapping.missing_required == ("transaction_ts", "customer_id")


def test_map_columns_makes_extra_keys_unique() -> None:
    mapping = transform.map_columns("agents", ["agent_id", "Note", "note", ""])
    assert mapping.added == ("note", "note_2", "column_4")


# to_canonical and raw_record ----------------------------------------------------------------------


def _with_file(raw: DataFrame, *rows: tuple[Any, ...]) -> DataFrame:
    """`raw` with its rows' file, as the job joins it (`transform.FILE_COLUMNS`)."""
    files = raw.sparkSession.createDataFrame(list(rows), transform.FILE_COLUMNS)
    return raw.join(files, FILE)


def test_to_canonical_renames_fills_missing_with_null_and_packs_extras_as_json(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [("T1", "5", "x", 1, None, "k"), ("T2", None, None, 2, None, "k")],
        f"_c0 string, _c1 string, _c2 string, {RECORD_NUMBER} long, {CORRUPT} string, {FILE} string",
    )
    mapping = transform.map_columns("agents", ["Agent", "Team Name", "Desk"])
    files = _with_file(
        raw, transform.file_row("k", 3, "landing/agents/a.csv", 0, mapping, transform.FileReading())
    )
    actual = files.transform(transform.to_canonical([mapping]))
    expected = spark.createDataFrame(
        [
            (3, "landing/agents/a.csv", 1, None, None, "T1", None, "5", None, '{"desk":"x"}', *READING, 0),
            (3, "landing/agents/a.csv", 2, None, None, "T2", None, None, None, '{"desk":null}', *READING, 0),
        ],
        actual.schema,
    )
    assertDataFrameEqual(actual, expected)
    assert actual.columns == [
        transform.FILE_INDEX,
        transform.SOURCE_FILE,
        RECORD_NUMBER,
        CORRUPT,
        transform.MISSING_COLUMN,
        "agent_id",
        "agent_name",
        "team",
        "hire_date",
        "extra",
        transform.DATE_ISSUE,
        transform.DATE_ORDER,
        transform.DECIMAL,
        transform.SOURCE_TZ,
        transform.DEFAULT_CURRENCY,
        transform.SHAPE,
    ]


# The reading columns of a file with default settings and no date column: no date issue, ISO
# dates, decimal points, UTC, USD.
READING = (None, "ymd", ".", "UTC", "USD")


def test_to_canonical_marks_every_row_of_a_file_missing_a_required_column(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [("Al", 1, None, "k")], f"_c0 string, {RECORD_NUMBER} long, {CORRUPT} string, {FILE} string"
    )
    mapping = transform.map_columns("agents", ["name"])
    files = _with_file(raw, transform.file_row("k", 0, "f", 0, mapping, transform.FileReading()))
    actual = files.transform(transform.to_canonical([mapping])).select(transform.MISSING_COLUMN, "extra")
    assertDataFrameEqual(actual, [("missing required column agent_id", None)])


def test_to_canonical_reads_each_row_by_its_files_header_and_reading(spark: SparkSession) -> None:
    """Files of two headers in one frame: each row's values come from its own file's columns, and
    only the file whose date order is not determined gets AMBIGUOUS_DATE details."""
    raw = spark.createDataFrame(
        [("A1", "03/04/2021", 1, None, "a"), ("03/04/2021", "A2", 1, None, "b")],
        f"_c0 string, _c1 string, {RECORD_NUMBER} long, {CORRUPT} string, {FILE} string",
    )
    first = transform.map_columns("agents", ["agent_id", "hire_date"])
    second = transform.map_columns("agents", ["hire_date", "agent_id"])
    files = _with_file(
        raw,
        transform.file_row("a", 0, "a.csv", 0, first, transform.FileReading(date_order="dmy")),
        transform.file_row(
            "b", 1, "b.csv", 1, second, transform.FileReading(date_order=None, date_issue="why")
        ),
    )
    actual = files.transform(transform.to_canonical([first, second])).select(
        transform.SOURCE_FILE, "agent_id", "hire_date", transform.DATE_ISSUE, transform.DATE_ORDER
    )
    assertDataFrameEqual(
        actual,
        [
            ("a.csv", "A1", "03/04/2021", None, "dmy"),
            ("b.csv", "A2", "03/04/2021", "hire_date='03/04/2021' why", "dmy"),
        ],
    )


def test_raw_record_rebuilds_the_original_header_and_values_of_each_file(spark: SparkSession) -> None:
    mappings = [
        transform.map_columns("agents", ["Agent", "Desk"]),
        transform.map_columns("agents", ["agent_id", "name"]),
    ]
    frame = spark.createDataFrame(
        [(0, "A1", None, '{"desk":"7"}', None), (1, "A2", "Bo", None, "A2,Bo,extra")],
        f"{transform.SHAPE} int, agent_id string, agent_name string, extra string, {CORRUPT} string",
    )
    actual = frame.select(transform.raw_record(mappings).alias("raw"))
    assertDataFrameEqual(
        actual,
        [('{"Agent":"A1","Desk":"7"}',), ('{"agent_id":"A2","name":"Bo","_corrupt_record":"A2,Bo,extra"}',)],
    )


# parsing helpers ----------------------------------------------------------------------------------


def test_parse_timestamp_reads_the_contract_forms_and_drifted_spellings(spark: SparkSession) -> None:
    cases: list[tuple[str | None, datetime | None, bool]] = [
        ("2024-06-01T10:00:00Z", datetime(2024, 6, 1, 10), False),
        ("2024-06-01 10:00:00+02:00", datetime(2024, 6, 1, 8), False),
        ("2024-06-01T10:00:00.5-0130", datetime(2024, 6, 1, 11, 30, 0, 500000), False),
        ("2024-06-01 10:00", datetime(2024, 6, 1, 14), False),  # naive: New York wall clock (EDT)
        ("2024-06-01", datetime(2024, 6, 1, 4), False),
        ("2024/06/01 10:00:00", datetime(2024, 6, 1, 14), True),
        ("20240601T100000Z", datetime(2024, 6, 1, 10), True),
        ("Sat, 1 Jun 2024 10:00:00 +0000", datetime(2024, 6, 1, 10), True),
        ("1717236000", datetime(2024, 6, 1, 10), True),
        ("1717236000000", datetime(2024, 6, 1, 10), True),
        # Numeric dates reach the parser already in ISO form, rewritten in their file's order
        # (`EntityReading.date`): never guessed here, per row.
        ("25/06/2024 10:00", None, False),
        ("06/25/2024", None, False),
        ("2024", None, False),
        ("2024-02-30", None, False),
        ("not a time", None, False),
        (None, None, False),
    ]
    frame = _cases(spark, [c[0] for c in cases])
    value, was_coerced = transform.parse_timestamp(F.col("value"), "America/New_York")
    actual = frame.select("case", value.alias("ts"), was_coerced.alias("coerced"))
    expected = spark.createDataFrame(
        [(i, c[1].replace(tzinfo=UTC) if c[1] else None, c[2]) for i, c in enumerate(cases)],
        "case int, ts timestamp, coerced boolean",
    )
    assertDataFrameEqual(actual, expected)


def test_parse_number_rounds_half_up_and_strips_currency_symbols_and_thousands_separators(
    spark: SparkSession,
) -> None:
    cases: list[tuple[str | None, Decimal | None, bool]] = [
        ("12.345", Decimal("12.35"), False),
        ("-0.005", Decimal("-0.01"), False),
        ("1e3", Decimal("1000.00"), False),
        ("$1,234.50", Decimal("1234.50"), True),
        ("1.234,50 EUR", Decimal("1234.50"), True),
        ("€ 12,50", Decimal("12.50"), True),
        ("1,0812", Decimal("1.08"), True),  # a rate in a decimal-comma export: 4 places
        ("1,081", Decimal("1081.00"), True),  # 3 places group thousands, as before
        ("1 234", Decimal("1234.00"), True),
        ("12.00 USD", Decimal("12.00"), True),
        ("12,5,0", None, False),
        ("abc", None, False),
        ("NaN", None, False),
        ("1" * 20, None, False),  # beyond decimal(18, 2)
        (None, None, False),
    ]
    frame = _cases(spark, [c[0] for c in cases])
    value, was_coerced = transform.parse_number(F.col("value"), T.DecimalType(18, 2))
    actual = frame.select("case", value.alias("n"), was_coerced.alias("coerced"))
    expected = spark.createDataFrame(
        [(i, c[1], c[2]) for i, c in enumerate(cases)], "case int, n decimal(18,2), coerced boolean"
    )
    assertDataFrameEqual(actual, expected)


def test_parse_date_accepts_dates_and_the_date_part_of_timestamps(spark: SparkSession) -> None:
    cases = [
        ("2024-01-05", date(2024, 1, 5)),
        ("2024-01-05T23:00:00-05:00", date(2024, 1, 5)),
        ("2024/01/05", date(2024, 1, 5)),
        ("20240105", date(2024, 1, 5)),
        ("5 Jan 2024", date(2024, 1, 5)),
        ("2024/13/01", None),
        ("yesterday", None),
    ]
    frame = _cases(spark, [c[0] for c in cases])
    value, _ = transform.parse_date(F.col("value"))
    actual = frame.select("case", value.alias("d"))
    assertDataFrameEqual(
        actual, spark.createDataFrame([(i, c[1]) for i, c in enumerate(cases)], "case int, d date")
    )


def test_text_trims_and_turns_empty_into_null(spark: SparkSession) -> None:
    # Spaces alone and with tabs, line breaks or no-break spaces at either end; inner whitespace
    # is kept.
    values = ["  a b \t", "", "   ", None, " a b ", "a  b", "\u00a0x\u00a0", "\r\n y\n", "\t", "caf\u00e9 ",
              "\u00a0 \t", " \u20ac1\u00a0,5 ", "x\ty"]  # fmt: skip
    frame = _cases(spark, values)
    actual = frame.select("case", transform.text(F.col("value")).alias("t"))
    expected = [
        (i, (v.strip(" \t\r\n\u00a0") or None) if v is not None else None) for i, v in enumerate(values)
    ]
    assert expected[:4] == [(0, "a b"), (1, None), (2, None), (3, None)]
    assertDataFrameEqual(actual, expected)


# clean_transactions -------------------------------------------------------------------------------

GOOD = {
    "transaction_id": "T",
    "transaction_ts": "2024-06-01T10:00:00Z",
    "customer_id": "C1",
    "amount": "10",
}

# (case, overrides of GOOD, expected reason). One reason per row: the first rule that fails.
REASON_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("valid row", {}, None),
    ("malformed record", {CORRUPT: "a,b,c,d"}, "MALFORMED_RECORD"),
    (
        "file missing a required column",
        {transform.MISSING_COLUMN: "missing required column customer_id"},
        "MISSING_COLUMN",
    ),
    ("empty transaction_id", {"transaction_id": "  "}, "MISSING_REQUIRED"),
    ("empty transaction_ts", {"transaction_ts": None}, "MISSING_REQUIRED"),
    ("empty customer_id", {"customer_id": ""}, "MISSING_REQUIRED"),
    ("garbled timestamp", {"transaction_ts": "yesterday"}, "BAD_TIMESTAMP"),
    ("timestamp after the logical end", {"transaction_ts": "2024-07-01T00:00:01Z"}, "FUTURE_TIMESTAMP"),
    ("timestamp at the logical end", {"transaction_ts": "2024-07-01T00:00:00Z"}, None),
    ("quantity zero", {"quantity": "0"}, "BAD_QUANTITY"),
    ("quantity fractional", {"quantity": "1.5"}, "BAD_QUANTITY"),
    ("quantity text", {"quantity": "two"}, "BAD_QUANTITY"),
    ("quantity whole decimal", {"quantity": "2.0"}, None),
    ("amount text", {"amount": "ten"}, "BAD_AMOUNT"),
    ("amount absent, no price", {"amount": None, "quantity": "2"}, "BAD_AMOUNT"),
    ("amount absent, quantity x price", {"amount": None, "quantity": "2", "unit_price": "1.25"}, None),
    ("unit_price text", {"unit_price": "cheap"}, "BAD_AMOUNT"),
    ("amount negative", {"amount": "-1"}, "NEGATIVE_AMOUNT"),
    ("unit_price negative", {"unit_price": "-1"}, "NEGATIVE_AMOUNT"),
    ("amount zero", {"amount": "0"}, None),
    ("currency unknown", {"currency": "ZZZ"}, "BAD_CURRENCY"),
    ("currency lower case", {"currency": "eur"}, None),
    ("status unknown", {"status": "lost"}, "UNKNOWN_STATUS"),
    ("status synonym", {"status": " Canceled "}, None),
    ("first failing rule wins", {"transaction_ts": "bad", "amount": "bad", "status": "bad"}, "BAD_TIMESTAMP"),
]


@pytest.fixture(scope="module")
def currencies() -> frozenset[str]:
    return refdata.currency_codes()


def _clean(currencies: frozenset[str], **kwargs: Any) -> Any:
    return transform.clean_transactions(
        logical_end=kwargs.get("logical_end", END),
        source_tz=kwargs.get("source_tz", "UTC"),
        default_currency=kwargs.get("default_currency", "USD"),
        currencies=currencies,
    )


def test_clean_transactions_gives_each_rejected_row_the_first_failing_reason(
    spark: SparkSession, canonical: CanonicalFactory, currencies: frozenset[str]
) -> None:
    rows = [
        {**GOOD, "transaction_id": f"T{i}", **overrides} for i, (_, overrides, _) in enumerate(REASON_CASES)
    ]
    actual = (
        canonical("transactions", rows)
        .transform(_clean(currencies))
        .select((F.col(RECORD_NUMBER) - 1).cast("int").alias("case"), F.col(transform.REASON).alias("reason"))
    )
    expected = spark.createDataFrame(
        [(i, reason) for i, (_, _, reason) in enumerate(REASON_CASES)], "case int, reason string"
    )
    assertDataFrameEqual(actual, expected)


def _trims_with_characters(plan: Any) -> int:
    """`btrim(value, characters)` (what `transform.text` trims with) in the expressions of a
    physical plan: each is evaluated once a row (`btrim` without characters, in the interpreted
    rare paths, is not counted)."""

    def in_expression(e: Any) -> int:
        own = e.getClass().getSimpleName() == "StringTrim" and e.trimStr().isDefined()
        return int(own) + sum(in_expression(e.children().apply(i)) for i in range(e.children().size()))

    expressions = plan.expressions()
    return sum(in_expression(expressions.apply(i)) for i in range(expressions.size())) + sum(
        _trims_with_characters(plan.children().apply(i)) for i in range(plan.children().size())
    )


def test_clean_transactions_trims_each_raw_value_once_a_row(
    spark: SparkSession, canonical: CanonicalFactory, currencies: frozenset[str], tmp_path: Path
) -> None:
    # The trim copies every value. The cleaning stage evaluated it 41 times a row when expressions
    # mentioned `text(...)` where a column was meant (the numeric-date rewrite mentions its value
    # 17 times): about a sixth of that stage's CPU at 10M rows (bench/README.md). Read back from
    # Parquet, as the optimizer computes a plan over inline rows while it plans.
    canonical("transactions", [GOOD]).write.parquet(str(tmp_path / "raw"))
    reading = transform.EntityReading(frozenset({"dmy", "mdy"}), decimal_comma=True)
    cleaned = spark.read.parquet(str(tmp_path / "raw")).transform(
        transform.clean_transactions(logical_end=END, currencies=currencies, reading=reading)
    )
    trims = _trims_with_characters(cleaned._jdf.queryExecution().executedPlan())
    assert trims == len(contract.ENTITIES["transactions"].source_columns)
    assert cleaned.select(transform.REASON).first() == (None,)


def test_clean_transactions_details_name_the_field_and_value(
    canonical: CanonicalFactory, currencies: frozenset[str]
) -> None:
    rows = [{**GOOD, "amount": "ten"}, {**GOOD, "currency": "zzz"}, {**GOOD, "transaction_ts": " "}]
    actual = canonical("transactions", rows).transform(_clean(currencies)).select(transform.DETAIL)
    assertDataFrameEqual(
        actual,
        [
            ("amount='ten' is not a number in range",),
            ("currency='ZZZ' is not an ISO 4217 code",),
            ("transaction_ts is empty",),
        ],
    )


def test_clean_transactions_types_and_normalizes_valid_rows(
    spark: SparkSession, canonical: CanonicalFactory, currencies: frozenset[str]
) -> None:
    rows = [
        {
            "transaction_id": " T1 ",
            "transaction_ts": "2024-06-01 10:00",
            "customer_id": "C1",
            "agent_id": " ",
            "channel": " Store ",
            "quantity": "3",
            "unit_price": "2.3333",
            "amount": None,
            "currency": None,
            "status": "PAID",
            "payment_method": " Card",
        },
        {**GOOD, "transaction_id": "T2", "amount": "$1,000.005", "currency": "eur", "status": "refund"},
    ]
    columns = ["transaction_id", "transaction_ts", "agent_id", "channel", "quantity", "unit_price", "amount"]
    columns += ["currency", "status", "payment_method"]
    actual = (
        canonical("transactions", rows)
        .transform(_clean(currencies, source_tz="Europe/Paris", default_currency="GBP"))
        .select(*[F.col(transform.parsed(c)).alias(c) for c in columns])
    )
    expected = spark.createDataFrame(
        [
            (
                "T1",
                datetime(2024, 6, 1, 8, tzinfo=UTC),
                None,
                "store",
                3,
                Decimal("2.3333"),
                Decimal("7.00"),
                "GBP",
                "completed",
                "card",
            ),
            (
                "T2",
                datetime(2024, 6, 1, 10, tzinfo=UTC),
                None,
                None,
                1,
                None,
                Decimal("1000.01"),
                "EUR",
                "refunded",
                None,
            ),
        ],
        "transaction_id string, transaction_ts timestamp, agent_id string, channel string, quantity long, "
        "unit_price decimal(18,4), amount decimal(18,2), currency string, status string, payment_method string",
    )
    assertDataFrameEqual(actual, expected)


# duplicates ---------------------------------------------------------------------------------------


def test_duplicates_keeps_the_later_file_then_the_later_row_and_flags_the_others(
    spark: SparkSession, canonical: CanonicalFactory, currencies: frozenset[str]
) -> None:
    rows = [
        {**GOOD, "transaction_id": "A", transform.FILE_INDEX: 0, RECORD_NUMBER: 1},
        {**GOOD, "transaction_id": "A", transform.FILE_INDEX: 1, RECORD_NUMBER: 1},
        {**GOOD, "transaction_id": "A", transform.FILE_INDEX: 0, RECORD_NUMBER: 2},
        {**GOOD, "transaction_id": "B", transform.FILE_INDEX: 0, RECORD_NUMBER: 3},
        {**GOOD, "transaction_id": "B", transform.FILE_INDEX: 0, RECORD_NUMBER: 4},
        # a later but invalid row never wins
        {**GOOD, "transaction_id": "B", "amount": "x", transform.FILE_INDEX: 1, RECORD_NUMBER: 2},
        # same content, different key: both kept
        {**GOOD, "transaction_id": "C", transform.FILE_INDEX: 1, RECORD_NUMBER: 3},
        {**GOOD, "transaction_id": "D", transform.FILE_INDEX: 1, RECORD_NUMBER: 4},
    ]
    actual = (
        canonical("transactions", rows)
        .transform(_clean(currencies))
        .transform(_dedupe("transactions", ["f0.csv", "f1.csv"]))
        .select(transform.FILE_INDEX, RECORD_NUMBER, transform.REASON)
    )
    assertDataFrameEqual(
        actual,
        [
            (0, 1, "DUPLICATE_KEY"),
            (1, 1, None),
            (0, 2, "DUPLICATE_KEY"),
            (0, 3, "DUPLICATE_KEY"),
            (0, 4, None),
            (1, 2, "BAD_AMOUNT"),
            (1, 3, None),
            (1, 4, None),
        ],
    )


@pytest.mark.parametrize(
    ("entity", "key", "clean"),
    [
        ("transactions", "transaction_id", lambda currencies, spark: _clean(currencies)),
        (
            "customers",
            "customer_id",
            lambda currencies, spark: transform.clean_customers(
                countries=spark.createDataFrame(
                    transform.country_lookup_rows(), transform.COUNTRY_LOOKUP_SCHEMA
                )
            ),
        ),
        ("agents", "agent_id", lambda currencies, spark: transform.clean_agents()),
    ],
)
def test_key_of_cleaned_is_the_key_with_key_gives(
    spark: SparkSession,
    canonical: CanonicalFactory,
    currencies: frozenset[str],
    entity: str,
    key: str,
    clean: Any,
) -> None:
    # The job trims the key once, in the cleaning pass; the key-only pass (`job._keys`) uses `with_key`.
    values = [" K1 ", "\tK2\u00a0", "K 3", "\r\n", "", None, "\u00a0K4"]
    extra = GOOD if entity == "transactions" else {}
    rows = [{**extra, key: v, RECORD_NUMBER: i + 1} for i, v in enumerate(values)]
    raw = canonical(entity, rows)
    before = {r[RECORD_NUMBER]: r[transform.KEY] for r in raw.collect()}
    cleaned = (
        raw.drop(transform.KEY)
        .transform(clean(currencies, spark))
        .transform(transform.key_of_cleaned(entity))
    )
    after = {r[RECORD_NUMBER]: r[transform.KEY] for r in cleaned.collect()}
    assert after == before
    assert (before[1], before[2], before[4]) == ("K1", "K2", None)


def test_duplicates_detail_names_the_winning_record(
    canonical: CanonicalFactory, currencies: frozenset[str]
) -> None:
    rows = [
        {**GOOD, transform.FILE_INDEX: 0, RECORD_NUMBER: 4},
        {**GOOD, transform.FILE_INDEX: 1, RECORD_NUMBER: 9},
    ]
    actual = (
        canonical("transactions", rows)
        .transform(_clean(currencies))
        .transform(_dedupe("transactions", ["f0.csv", "f1.csv"]))
        .where(F.col(transform.REASON).isNotNull())
        .select(transform.DETAIL)
    )
    assertDataFrameEqual(actual, [("transaction_id='T' superseded by record 9 of f1.csv",)])


# customers and agents -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def countries(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(transform.country_lookup_rows(), transform.COUNTRY_LOOKUP_SCHEMA).cache()


def test_clean_customers_normalizes_email_phone_and_country(
    spark: SparkSession, canonical: CanonicalFactory, countries: DataFrame
) -> None:
    rows = [
        {
            "customer_id": "C1",
            "email": " Ann@Example.COM ",
            "phone": "020 7946 0958",
            "country": "United Kingdom",
        },
        {"customer_id": "C2", "email": None, "phone": "+1 (415) 555-2671", "country": "usa"},
        {"customer_id": "C3", "country": "FR", "signup_date": "2024-01-05", "full_name": " Zoé "},
        {"customer_id": "C4", "country": "deu", "phone": "030 901820"},
    ]
    columns = ["customer_id", "full_name", "email", "phone", "country", "signup_date"]
    actual = (
        canonical("customers", rows)
        .transform(transform.clean_customers(countries=countries))
        .select(*[F.col(transform.parsed(c)).alias(c) for c in columns], transform.REASON)
    )
    expected = spark.createDataFrame(
        [
            ("C1", None, "ann@example.com", "+442079460958", "GB", None, None),
            ("C2", None, None, "+14155552671", "US", None, None),
            ("C3", "Zoé", None, None, "FR", date(2024, 1, 5), None),
            ("C4", None, None, "+4930901820", "DE", None, None),
        ],
        "customer_id string, full_name string, email string, phone string, country string, signup_date date, "
        "_reason string",
    )
    assertDataFrameEqual(actual, expected)


def test_clean_customers_rejects_bad_email_phone_country_and_date_in_that_order(
    spark: SparkSession, canonical: CanonicalFactory, countries: DataFrame
) -> None:
    rows = [
        {"customer_id": None, "email": "bad"},
        {"customer_id": "C1", "email": "no-at-sign", "phone": "12"},
        {"customer_id": "C2", "phone": "12", "country": "Atlantis"},
        {"customer_id": "C3", "country": "Atlantis", "signup_date": "soon"},
        {"customer_id": "C4", "signup_date": "2024-02-30"},
        {"customer_id": "C5", "email": "a@b", "country": "DE"},
    ]
    actual = (
        canonical("customers", rows)
        .transform(transform.clean_customers(countries=countries))
        .select((F.col(RECORD_NUMBER) - 1).cast("int").alias("case"), transform.REASON)
    )
    assertDataFrameEqual(
        actual,
        [
            (0, "MISSING_REQUIRED"),
            (1, "BAD_EMAIL"),
            (2, "BAD_PHONE"),
            (3, "BAD_COUNTRY"),
            (4, "BAD_DATE"),
            (5, "BAD_EMAIL"),
        ],
    )


def test_clean_agents_requires_an_id_and_a_valid_hire_date(
    spark: SparkSession, canonical: CanonicalFactory
) -> None:
    rows = [
        {"agent_id": " A1 ", "agent_name": " Al ", "team": "North", "hire_date": "2023-01-02"},
        {"agent_id": "", "agent_name": "Nobody"},
        {"agent_id": "A3", "hire_date": "last year"},
    ]
    actual = (
        canonical("agents", rows)
        .transform(transform.clean_agents())
        .select(
            *[F.col(transform.parsed(c)).alias(c) for c in ("agent_id", "agent_name", "team", "hire_date")],
            transform.REASON,
        )
    )
    expected = spark.createDataFrame(
        [
            ("A1", "Al", "North", date(2023, 1, 2), None),
            (None, "Nobody", None, None, "MISSING_REQUIRED"),
            ("A3", None, None, None, "BAD_DATE"),
        ],
        "agent_id string, agent_name string, team string, hire_date date, _reason string",
    )
    assertDataFrameEqual(actual, expected)


def test_apply_rules_refuses_a_reason_outside_the_contract_order(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="RULE_ORDER"):
        transform.apply_rules("agents", [transform.Rule("BAD_EMAIL", F.lit(True), F.lit("x"))])


# fx_rates ------------------------------------------------------------------------------------------


def test_clean_fx_rates_types_valid_rows_and_rejects_bad_date_currency_and_rate(
    spark: SparkSession, canonical: CanonicalFactory, currencies: frozenset[str]
) -> None:
    rows = [
        {"date": "2025-03-01", "currency": " gbp ", "rate": "1.2650"},
        {"date": "2025/03/02", "currency": "EUR", "rate": "1,08"},  # a drifted spelling of each
        {"date": "2025-03-01", "currency": "GBP", "rate": None},
        {"date": "March-ish", "currency": "GBP", "rate": "1.26"},
        {"date": "2025-03-01", "currency": "POUNDS", "rate": "1.26"},
        {"date": "2025-03-01", "currency": "JPY", "rate": "abc"},
        {"date": "2025-03-01", "currency": "CHF", "rate": "0"},
        {"date": "2025-03-01", "currency": "SEK", "rate": "-0.09"},
    ]
    actual = (
        canonical("fx_rates", rows)
        .transform(transform.clean_fx_rates(currencies=currencies))
        .select(
            *[F.col(transform.parsed(c)).alias(c) for c in ("date", "currency", "rate")],
            transform.REASON,
            transform.DETAIL,
        )
    )
    rate = "decimal(18,9)"
    expected = spark.createDataFrame(
        [
            (date(2025, 3, 1), "GBP", Decimal("1.265"), None, None),
            (date(2025, 3, 2), "EUR", Decimal("1.08"), None, None),
            (date(2025, 3, 1), "GBP", None, "MISSING_REQUIRED", "rate is empty"),
            (None, "GBP", Decimal("1.26"), "BAD_DATE", "date='March-ish' is not a date"),
            (
                date(2025, 3, 1),
                "POUNDS",
                Decimal("1.26"),
                "BAD_CURRENCY",
                "currency='POUNDS' is not an ISO 4217 code",
            ),
            (date(2025, 3, 1), "JPY", None, "BAD_RATE", "rate='abc' is not a number above 0"),
            (date(2025, 3, 1), "CHF", Decimal("0"), "BAD_RATE", "rate='0' is not a number above 0"),
            (date(2025, 3, 1), "SEK", Decimal("-0.09"), "BAD_RATE", "rate='-0.09' is not a number above 0"),
        ],
        f"date date, currency string, rate {rate}, _reason string, _detail string",
    )
    assertDataFrameEqual(actual, expected)


def test_fx_rates_duplicates_are_one_per_date_and_currency_whatever_the_spelling(
    canonical: CanonicalFactory, currencies: frozenset[str]
) -> None:
    rows = [
        {"date": "2025-03-01", "currency": "GBP", "rate": "1.20", transform.FILE_INDEX: 0, RECORD_NUMBER: 1},
        # the same day and currency spelled otherwise, in a later file: it wins
        {"date": "2025/03/01", "currency": "gbp", "rate": "1.21", transform.FILE_INDEX: 1, RECORD_NUMBER: 1},
        # same day, another currency; same currency, another day: both kept
        {"date": "2025-03-01", "currency": "EUR", "rate": "1.05", transform.FILE_INDEX: 0, RECORD_NUMBER: 2},
        {"date": "2025-03-02", "currency": "GBP", "rate": "1.22", transform.FILE_INDEX: 0, RECORD_NUMBER: 3},
    ]
    actual = (
        canonical("fx_rates", rows)
        .drop(transform.KEY)
        .transform(transform.clean_fx_rates(currencies=currencies))
        .transform(transform.key_of_cleaned("fx_rates"))
        .transform(_dedupe("fx_rates", ["f0.csv", "f1.csv"]))
        .select(transform.FILE_INDEX, RECORD_NUMBER, transform.REASON, transform.DETAIL)
    )
    assertDataFrameEqual(
        actual,
        [
            (0, 1, "DUPLICATE_KEY", "date, currency='2025-03-01|GBP' superseded by record 1 of f1.csv"),
            (1, 1, None, None),
            (0, 2, None, None),
            (0, 3, None, None),
        ],
    )

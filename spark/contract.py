"""The raw data contract: which columns a landing file may carry, what they may be called, and why
a row is rejected. Column names and types come from the silver schemas (`sql/schemas/silver/`);
this module adds only what a schema file cannot say. The README's contract section is checked
against it by tests/test_contract.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sql import catalog

# Columns every silver table carries that never come from the source.
LINEAGE_COLUMNS = ("extra", "source_file", "record_number", "run_id")
# Silver columns the silver load derives (never in a file, null in the cleaning job's output), with
# the contract column each is derived from: `amount_reporting`, the amount in the reporting
# currency (`sql/silver/transactions_convert.sql`).
DERIVED_COLUMNS: dict[str, str] = {"amount_reporting": "amount"}


@dataclass(frozen=True)
class Entity:
    name: str
    table: str
    key: str
    required: tuple[str, ...]
    """Columns a file must have (a file without one is rejected whole, MISSING_COLUMN)."""
    key_columns: tuple[str, ...] = ()
    """The whole key when it spans columns (fx_rates: date and currency); empty: `key` alone.
    `key` is then its first column."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The key's columns."""
        return self.key_columns or (self.key,)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Contract columns a raw file may carry, in silver order."""
        cols = catalog.table(self.table).column_names
        return tuple(c for c in cols if c not in LINEAGE_COLUMNS and c not in DERIVED_COLUMNS)


ENTITIES: dict[str, Entity] = {
    "transactions": Entity(
        name="transactions",
        table="silver.transactions",
        key="transaction_id",
        required=("transaction_id", "transaction_ts", "customer_id"),
    ),
    "customers": Entity(
        name="customers",
        table="silver.customers",
        key="customer_id",
        required=("customer_id",),
    ),
    "agents": Entity(name="agents", table="silver.agents", key="agent_id", required=("agent_id",)),
    # Daily exchange rates into the reporting currency; optional: a feed in the reporting currency
    # alone needs none.
    "fx_rates": Entity(
        name="fx_rates",
        table="silver.fx_rates",
        key="date",
        required=("date", "currency", "rate"),
        key_columns=("date", "currency"),
    ),
}

# Common source names, after normalization, mapped to contract names. Documented in the README.
ALIASES: dict[str, dict[str, str]] = {
    "transactions": {
        "order_id": "transaction_id",
        "txn_id": "transaction_id",
        "transaction": "transaction_id",
        "id": "transaction_id",
        "order_ts": "transaction_ts",
        "order_time": "transaction_ts",
        "order_date": "transaction_ts",
        "timestamp": "transaction_ts",
        "created_at": "transaction_ts",
        "transaction_time": "transaction_ts",
        "transaction_date": "transaction_ts",
        "customer": "customer_id",
        "cust_id": "customer_id",
        "client_id": "customer_id",
        "agent": "agent_id",
        "sales_agent_id": "agent_id",
        "employee_id": "agent_id",
        "sales_channel": "channel",
        "source": "channel",
        "qty": "quantity",
        "units": "quantity",
        "price": "unit_price",
        "unit_cost": "unit_price",
        "total": "amount",
        "total_amount": "amount",
        "order_total": "amount",
        "order_amount": "amount",
        "value": "amount",
        "currency_code": "currency",
        "order_status": "status",
        "state": "status",
        "payment": "payment_method",
        "payment_type": "payment_method",
    },
    "customers": {
        "id": "customer_id",
        "customer": "customer_id",
        "cust_id": "customer_id",
        "client_id": "customer_id",
        "name": "full_name",
        "customer_name": "full_name",
        "email_address": "email",
        "e_mail": "email",
        "mail": "email",
        "phone_number": "phone",
        "telephone": "phone",
        "mobile": "phone",
        "country_code": "country",
        "town": "city",
        "signup": "signup_date",
        "signed_up_at": "signup_date",
        "registration_date": "signup_date",
        "created_at": "signup_date",
    },
    "agents": {
        "id": "agent_id",
        "agent": "agent_id",
        "employee_id": "agent_id",
        "name": "agent_name",
        "employee_name": "agent_name",
        "team_name": "team",
        "department": "team",
        "hired_at": "hire_date",
        "start_date": "hire_date",
    },
    "fx_rates": {
        "day": "date",
        "rate_date": "date",
        "as_of": "date",
        "currency_code": "currency",
        "from_currency": "currency",
        "exchange_rate": "rate",
        "fx_rate": "rate",
    },
}

STATUSES = ("completed", "refunded", "cancelled")
# Spellings a source may use for a status, mapped to the contract value.
STATUS_SYNONYMS = {
    "complete": "completed",
    "completed": "completed",
    "paid": "completed",
    "refund": "refunded",
    "refunded": "refunded",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "cancel": "cancelled",
}

# Reason codes a quarantined row can carry, with what each means (the README lists them).
REASONS = {
    "UNREADABLE_FILE": "the file cannot be read whole (corrupt compression, not UTF-8, wrong format, unknown extension)",
    "MISSING_COLUMN": "the file lacks a required column; every row of it is quarantined",
    "MALFORMED_RECORD": "the record cannot be parsed (bad JSON line, wrong field count)",
    "MISSING_REQUIRED": "a required value is empty",
    "AMBIGUOUS_DATE": "a numeric date (03/04/2025) whose file does not prove day-first or month-first: set date_order",
    "BAD_TIMESTAMP": "the timestamp matches no accepted format",
    "FUTURE_TIMESTAMP": "the timestamp is later than the run's logical end",
    "BAD_AMOUNT": "amount (or unit_price) is not a number, or amount is absent without quantity and unit_price",
    "NEGATIVE_AMOUNT": "amount or unit_price is below 0",
    "BAD_QUANTITY": "quantity is not a whole number of at least 1",
    "UNKNOWN_STATUS": "status is not completed, refunded or cancelled (or a known synonym)",
    "BAD_CURRENCY": "currency is not an ISO 4217 code",
    "BAD_EMAIL": "email is present but not a valid address",
    "BAD_PHONE": "phone is present but not a valid number",
    "BAD_COUNTRY": "country is present but not an ISO 3166 country name or code",
    "BAD_DATE": "a date column matches no accepted format",
    "BAD_RATE": "rate is not a number above 0",
    "DUPLICATE_KEY": "another row with the same key won (latest file, then last row)",
}

_NON_WORD = re.compile(r"[\s\-]+")


def normalize_column_name(raw: str) -> str:
    """Trim, lower-case, spaces and hyphens to underscores, BOM removed: `" Order-ID"` -> `order_id`."""
    return _NON_WORD.sub("_", raw.replace("\ufeff", "").strip().lower())


def canonical_column(entity: str, raw: str) -> str:
    """Contract name of a source column, or its normalized name when it is an extra column."""
    name = normalize_column_name(raw)
    return ALIASES[entity].get(name, name)


# Landing file formats, decided by the file name alone; each may carry a trailing `.gz`.
FILE_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",  # a JSON array of records, or JSON Lines (told by its first character)
    ".parquet": "parquet",
}
COMPRESSED_SUFFIX = ".gz"

# Defaults of optional transaction columns.
DEFAULT_QUANTITY = 1
DEFAULT_STATUS = "completed"

# transaction_ts, the contract form: ISO 8601 with an offset or Z (T or space), or naive
# `YYYY-MM-DD[ HH:MM[:SS[.fff]]]` read in the source time zone.
ISO_TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"
ISO_TIMESTAMP_OFFSET_RE = (
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)? ?(Z|z|[+-]\d{2}(:?\d{2})?)$"
)
# Other unambiguous timestamp spellings a drifting source may use (Spark datetime patterns),
# naive ones read in the source time zone. Numeric dates (03/04/2025, 16.04.2025) follow their
# file's date order (`spark.sniff`, `sources.yaml`), never a guess per row.
OTHER_TIMESTAMP_FORMATS: tuple[str, ...] = (
    "yyyy/MM/dd HH:mm:ss",
    "yyyy/MM/dd HH:mm",
    "yyyy/MM/dd",
    "yyyyMMdd'T'HHmmss",
    "yyyyMMdd HHmmss",
    "d MMM yyyy HH:mm:ss",
    "d MMM yyyy HH:mm",
    "d MMM yyyy",
    "MMM d, yyyy HH:mm:ss",
    "MMM d, yyyy",
)
OTHER_TIMESTAMP_OFFSET_FORMATS: tuple[str, ...] = (
    "d MMM yyyy HH:mm:ss Z",  # RFC 2822 (e-mail, HTTP), matched after a leading `Mon, ` is dropped
    "d MMM yyyy HH:mm:ss z",
    "yyyyMMdd'T'HHmmssX",  # ISO 8601 basic
)
RFC2822_DAY_NAME_RE = r"^[A-Za-z]{3},\s*"
# Epoch numbers: 9-10 digits are seconds, 12-13 digits milliseconds (2001-09-09 .. 2286-11-20).
EPOCH_SECONDS_RE = r"^\d{9,10}$"
EPOCH_MILLIS_RE = r"^\d{12,13}$"

# Date columns (signup_date, hire_date): ISO date, or an ISO timestamp whose date part is taken.
DATE_FORMATS: tuple[str, ...] = ("yyyy-MM-dd", "yyyy/MM/dd", "yyyyMMdd", "d MMM yyyy")

# Numbers arriving as text (amount, unit_price, quantity) that are not plain decimals: currency
# symbols and a leading or trailing ISO code are dropped (`$1,234.50`, `12.00 EUR`), thousands
# separators removed (`1,234.50`, `1.234,50`, `1 234`), a decimal comma read as a point (`12,50`).
CURRENCY_SYMBOLS = "$€£¥₹₩₽₺₪₫฿₴₦"
CURRENCY_CODE_AFFIX_RE = r"^[A-Z]{3}\s*|\s*[A-Z]{3}$"
THOUSANDS_COMMA_RE = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
THOUSANDS_DOT_RE = r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$"
THOUSANDS_SPACE_RE = r"^[+-]?\d{1,3}( \d{3})+([.,]\d+)?$"
# A comma then 3 digits groups thousands (`1,234`, THOUSANDS_COMMA_RE); 1-2 digits after it
# (`12,50`) or 4 and more (an exchange rate `1,0812`: never a group of thousands) are decimals.
DECIMAL_COMMA_RE = r"^[+-]?\d+,(\d{1,2}|\d{4,})$"

EMAIL_RE = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"

# Country spellings pycountry does not know, mapped to ISO 3166-1 alpha-2.
COUNTRY_ALIASES: dict[str, str] = {
    "UK": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "USA": "US",
    "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US",
    "RUSSIA": "RU",
    "SOUTH KOREA": "KR",
    "NORTH KOREA": "KP",
    "IRAN": "IR",
    "VIETNAM": "VN",
    "BOLIVIA": "BO",
    "VENEZUELA": "VE",
    "TAIWAN": "TW",
    "CZECHIA": "CZ",
    "TURKEY": "TR",
    "HOLLAND": "NL",
    "THE NETHERLANDS": "NL",
    "UAE": "AE",
}

# The order rules are checked in: a rejected row carries the first reason that applies.
RULE_ORDER: dict[str, tuple[str, ...]] = {
    "transactions": (
        "MALFORMED_RECORD",
        "MISSING_REQUIRED",
        "AMBIGUOUS_DATE",
        "BAD_TIMESTAMP",
        "FUTURE_TIMESTAMP",
        "BAD_QUANTITY",
        "BAD_AMOUNT",
        "NEGATIVE_AMOUNT",
        "BAD_CURRENCY",
        "UNKNOWN_STATUS",
        "DUPLICATE_KEY",
    ),
    "customers": (
        "MALFORMED_RECORD",
        "MISSING_REQUIRED",
        "BAD_EMAIL",
        "BAD_PHONE",
        "BAD_COUNTRY",
        "AMBIGUOUS_DATE",
        "BAD_DATE",
        "DUPLICATE_KEY",
    ),
    "agents": ("MALFORMED_RECORD", "MISSING_REQUIRED", "AMBIGUOUS_DATE", "BAD_DATE", "DUPLICATE_KEY"),
    "fx_rates": (
        "MALFORMED_RECORD",
        "MISSING_REQUIRED",
        "AMBIGUOUS_DATE",
        "BAD_DATE",
        "BAD_CURRENCY",
        "BAD_RATE",
        "DUPLICATE_KEY",
    ),
}

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


@dataclass(frozen=True)
class Entity:
    name: str
    table: str
    key: str
    required: tuple[str, ...]
    """Columns a file must have (a file without one is rejected whole, MISSING_COLUMN)."""

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Contract columns a raw file may carry, in silver order."""
        cols = catalog.table(self.table).column_names
        return tuple(c for c in cols if c not in LINEAGE_COLUMNS)


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

"""Realistic, deterministic sample landing data: the demo's input and the tests' fixtures.

`generate(landing, spec)` writes one transactions file per day plus the customer, agent and
exchange-rate reference files under `landing/{transactions,customers,agents,fx_rates}/`. Every file is a pure function of
the `SampleSpec` and its day number (per-day random streams, no wall clock, gzip with mtime 0), so
two generations are byte-identical and `write_transaction_days(landing, spec, [29])` writes the
same bytes as day 29 of a full generation: the demo can land days 0..28, run, land day 29 and run
again.

What the data exercises:

- customers in 13 countries (names, ISO alpha-2 or alpha-3 codes), phone numbers valid for
  `phonenumbers` in E.164, international or national format (national ones parse with the row's
  country as region), e-mails in mixed case, signups before and during the period, Pareto-like
  order frequency and some customers who stop ordering (so RFM has spread);
- agents in four teams (JSON Lines), a few hired during the period;
- orders in two currencies: about 8% in `second_currency` (GBP), the rest in USD or without a
  currency (the default currency), with a rates file into USD for the weekdays only (weekend
  orders take Friday's rate);
- a channel mix (store, online, phone, marketplace, some empty, some in upper or title case),
  self-service orders (empty agent_id, mostly online and marketplace), lunch and evening peaks,
  weekends with more store and less phone traffic, about 3% refunded and 2% cancelled orders,
  status synonyms (`canceled`, `paid`, empty = completed), amounts given in full, as quantity and
  unit_price only, or as amount only; every order of a day's file happened on that UTC day, so a
  new file touches its own day only (the changed duplicates below re-send yesterday's orders);
- timestamps with `Z`, with offsets (`+02:00`, `-05:00`, `+05:30`), with a space instead of `T`,
  and naive (UTC), some without seconds;
- formats: CSV for most days, two days as JSON Lines (self-service rows omit `agent_id`), one as
  `.csv.gz`, one as Parquet (strings, quantity int64);
- `dirty_share` of the transaction rows dirty, one defect per row (`DIRTY_KINDS`), each mapped to
  the quarantine reason the pipeline should give it (`EXPECTED_REASONS`);
- exactly one CSV day with schema drift: `order_id` and `total` (documented aliases) in place of
  `transaction_id` and `amount`, and an extra `coupon_code` column.

`describe(spec)` returns the plan (rows per file, dirty rows per kind, which file is which) without
writing anything, so tests and the end-to-end run can check the pipeline against it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from spark import contract


@dataclass(frozen=True)
class SampleSpec:
    """What to generate. Every file is a function of these fields (and its day number) only."""

    seed: int = 42
    start: date = date(2025, 1, 1)
    days: int = 30
    customers: int = 3000
    agents: int = 40
    orders_per_day: int = 1000
    """Mean rows per transactions file (dirty rows included); the weekday and noise vary it."""
    dirty_share: float = 0.02
    """Share of transaction rows with one defect each (see DIRTY_KINDS)."""
    second_currency: str | None = "GBP"
    """Currency of about 8% of the orders (amounts stated in it), with a rates file into USD
    (`fx_rates/fx_rates.csv`); None: every order in USD or without a currency, and no rates file."""

    def __post_init__(self) -> None:
        for name in ("days", "customers", "agents", "orders_per_day"):
            if getattr(self, name) < 1:
                raise ValueError(f"SampleSpec.{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.dirty_share <= 0.5:
            raise ValueError(f"SampleSpec.dirty_share must be within [0, 0.5], got {self.dirty_share}")
        if self.second_currency in ("USD", ""):
            raise ValueError("SampleSpec.second_currency must be another currency than USD, or None")


# Defects a dirty row carries (one each), with what the row looks like.
DIRTY_KINDS: dict[str, str] = {
    "duplicate_resend": "an exact copy of an earlier row of the same file (a re-sent row)",
    "duplicate_changed": (
        "the key of an order in the previous day's file, re-sent with different content "
        "(status now refunded); one file only"
    ),
    "bad_amount": "amount is not a number ('abc', '12.3.4', 'ten')",
    "negative_amount": "amount below 0",
    "malformed_timestamp": "transaction_ts matches no accepted format (day 32, hour 25, free text)",
    "future_timestamp": "transaction_ts in the year 2099",
    "missing_transaction_id": "transaction_id empty",
    "missing_customer_id": "customer_id empty",
    "unknown_status": "status not completed, refunded or cancelled ('pending', 'on_hold', 'shipped')",
    "bad_currency": "currency not an ISO 4217 code ('US$', 'DOLLARS', 'ZZZ')",
}

# The quarantine reason (spark.contract.REASONS) the pipeline should give each dirty row. For the
# two duplicate kinds one row of each pair is quarantined: the earlier one (latest file, then last
# row wins); across runs, the later row updates the order instead.
EXPECTED_REASONS: dict[str, str] = {
    "duplicate_resend": "DUPLICATE_KEY",
    "duplicate_changed": "DUPLICATE_KEY",
    "bad_amount": "BAD_AMOUNT",
    "negative_amount": "NEGATIVE_AMOUNT",
    "malformed_timestamp": "BAD_TIMESTAMP",
    "future_timestamp": "FUTURE_TIMESTAMP",
    "missing_transaction_id": "MISSING_REQUIRED",
    "missing_customer_id": "MISSING_REQUIRED",
    "unknown_status": "UNKNOWN_STATUS",
    "bad_currency": "BAD_CURRENCY",
}

# The drift file's renamed columns (source name -> contract name, both in contract.ALIASES) and
# the extra column it carries.
DRIFT_RENAMES: dict[str, str] = {"order_id": "transaction_id", "total": "amount"}
DRIFT_EXTRA_COLUMN = "coupon_code"

TRANSACTION_COLUMNS: tuple[str, ...] = contract.ENTITIES["transactions"].source_columns
CUSTOMER_COLUMNS: tuple[str, ...] = contract.ENTITIES["customers"].source_columns
AGENT_COLUMNS: tuple[str, ...] = contract.ENTITIES["agents"].source_columns

CUSTOMERS_FILE = Path("customers") / "customers.csv"
AGENTS_FILE = Path("agents") / "agents.jsonl"
FX_RATES_FILE = Path("fx_rates") / "fx_rates.csv"
FX_RATES_COLUMNS: tuple[str, ...] = contract.ENTITIES["fx_rates"].source_columns
# Share of orders in the second currency: drawn from the same random number that leaves a row's
# currency empty (7%), so that the other values of every row are those of a USD-only sample.
_SECOND_CURRENCY_SHARE = 0.08
_USD_SHARE = 0.93
FORMAT_SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "csv.gz": ".csv.gz", "parquet": ".parquet"}

# Rows per weekday (Monday first), mean 1.
WEEKDAY_VOLUME = (0.96, 0.94, 0.98, 1.00, 1.08, 1.18, 0.86)

# --- reference data vocabularies -------------------------------------------------------------

_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "James",
            "Mary",
            "Olivia",
            "Liam",
            "Emma",
            "Noah",
            "Ava",
            "William",
            "Sophia",
            "Benjamin",
            "Charlotte",
            "Lucas",
            "Amelia",
            "Henry",
            "Harper",
            "Jack",
            "Grace",
            "Oliver",
            "Chloe",
            "Ethan",
        ),
        (
            "Smith",
            "Johnson",
            "Williams",
            "Brown",
            "Jones",
            "Miller",
            "Davis",
            "Wilson",
            "Taylor",
            "Clark",
            "Lewis",
            "Walker",
            "Hall",
            "Young",
            "King",
            "Wright",
            "O'Brien",
            "MacDonald",
        ),
    ),
    "de": (
        (
            "Lukas",
            "Anna",
            "Jonas",
            "Lena",
            "Felix",
            "Marie",
            "Maximilian",
            "Sophie",
            "Paul",
            "Lea",
            "Jürgen",
            "Sören",
        ),
        (
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schäfer",
            "Koch",
            "Hoffmann",
            "Groß",
        ),
    ),
    "fr": (
        (
            "Louis",
            "Léa",
            "Hugo",
            "Chloé",
            "Jules",
            "Camille",
            "Gabriel",
            "Manon",
            "Raphaël",
            "Inès",
            "Zoé",
            "Étienne",
        ),
        (
            "Martin",
            "Bernard",
            "Dubois",
            "Thomas",
            "Robert",
            "Richard",
            "Petit",
            "Durand",
            "Lefèvre",
            "Moreau",
            "Girard",
            "Roux",
        ),
    ),
    "es": (
        (
            "Hugo",
            "Lucía",
            "Martín",
            "Sofía",
            "Mateo",
            "María",
            "Alejandro",
            "Paula",
            "Daniel",
            "Valentina",
            "José",
            "Ximena",
        ),
        (
            "García",
            "Rodríguez",
            "González",
            "Fernández",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Hernández",
            "Ruiz",
            "Díaz",
        ),
    ),
    "it": (
        (
            "Leonardo",
            "Giulia",
            "Francesco",
            "Aurora",
            "Alessandro",
            "Sofia",
            "Lorenzo",
            "Ginevra",
            "Mattia",
            "Beatrice",
        ),
        (
            "Rossi",
            "Russo",
            "Ferrari",
            "Esposito",
            "Bianchi",
            "Romano",
            "Colombo",
            "Ricci",
            "Marino",
            "Greco",
            "De Luca",
        ),
    ),
    "nl": (
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn", "Sophie", "Bram", "Anouk"),
        (
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "van Dijk",
            "Bakker",
            "Visser",
            "Smit",
            "Meijer",
            "de Boer",
        ),
    ),
    "pt": (
        (
            "Miguel",
            "Alice",
            "Arthur",
            "Helena",
            "Heitor",
            "Laura",
            "Davi",
            "Valentina",
            "Gael",
            "Manuela",
            "João",
        ),
        (
            "Silva",
            "Santos",
            "Oliveira",
            "Souza",
            "Rodrigues",
            "Ferreira",
            "Alves",
            "Pereira",
            "Lima",
            "Gomes",
            "Conceição",
        ),
    ),
    "in": (
        ("Aarav", "Ananya", "Vivaan", "Diya", "Aditya", "Saanvi", "Arjun", "Isha", "Rohan", "Priya"),
        ("Sharma", "Verma", "Patel", "Gupta", "Singh", "Kumar", "Reddy", "Iyer", "Nair", "Das"),
    ),
    "ja": (
        ("Haruto", "Yui", "Sota", "Hina", "Yuto", "Aoi", "Ren", "Sakura", "Riku", "Mei"),
        (
            "Sato",
            "Suzuki",
            "Takahashi",
            "Tanaka",
            "Watanabe",
            "Ito",
            "Yamamoto",
            "Nakamura",
            "Kobayashi",
            "Kato",
        ),
    ),
}


@dataclass(frozen=True)
class _Country:
    alpha2: str
    alpha3: str
    name: str
    weight: float
    names: str
    cities: tuple[str, ...]


_COUNTRIES = (
    _Country(
        "US",
        "USA",
        "United States",
        0.35,
        "en",
        (
            "New York",
            "Los Angeles",
            "Chicago",
            "Houston",
            "Phoenix",
            "Seattle",
            "Boston",
            "Austin",
            "Denver",
            "Washington, D.C.",
        ),
    ),
    _Country(
        "GB",
        "GBR",
        "United Kingdom",
        0.12,
        "en",
        ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol"),
    ),
    _Country(
        "DE",
        "DEU",
        "Germany",
        0.10,
        "de",
        ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart"),
    ),
    _Country(
        "FR", "FRA", "France", 0.08, "fr", ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille")
    ),
    _Country("CA", "CAN", "Canada", 0.06, "en", ("Toronto", "Montréal", "Vancouver", "Calgary", "Ottawa")),
    _Country("ES", "ESP", "Spain", 0.05, "es", ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao")),
    _Country("IT", "ITA", "Italy", 0.04, "it", ("Roma", "Milano", "Napoli", "Torino", "Bologna")),
    _Country(
        "NL", "NLD", "Netherlands", 0.04, "nl", ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven")
    ),
    _Country("MX", "MEX", "Mexico", 0.04, "es", ("Ciudad de México", "Guadalajara", "Monterrey", "Puebla")),
    _Country(
        "BR",
        "BRA",
        "Brazil",
        0.04,
        "pt",
        ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Porto Alegre"),
    ),
    _Country(
        "IN", "IND", "India", 0.04, "in", ("Mumbai", "Delhi", "Bengaluru", "Chennai", "Pune", "Hyderabad")
    ),
    _Country("AU", "AUS", "Australia", 0.03, "en", ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide")),
    _Country("JP", "JPN", "Japan", 0.01, "ja", ("Tokyo", "Osaka", "Yokohama", "Nagoya", "Sapporo")),
)
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "shop.example.org")
_TEAMS = ("Retail North", "Retail South", "Inside Sales", "Customer Care")
# Team of agent i is _TEAM_CYCLE[i % 10]: for 40 agents 12 + 12 in retail, 12 inside sales, 4 care.
_TEAM_CYCLE = (0, 1, 2, 0, 1, 3, 2, 0, 1, 2)

# --- transaction vocabularies ----------------------------------------------------------------

_CHANNELS = ("online", "store", "phone", "marketplace", "")
_CHANNEL_WEIGHTS = {
    False: (0.44, 0.28, 0.14, 0.11, 0.03),  # weekday
    True: (0.45, 0.36, 0.05, 0.11, 0.03),  # weekend
}

# Relative orders per hour of day (UTC), per channel, weekday and weekend.
# fmt: off
_HOURLY: dict[tuple[str, bool], tuple[float, ...]] = {
    ("store", False): (0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 5, 7, 10, 9, 6, 5, 6, 9, 10, 7, 3, 0, 0, 0),
    ("store", True): (0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 6, 9, 10, 10, 9, 8, 7, 6, 4, 2, 0, 0, 0, 0),
    ("online", False): (2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4, 5, 8, 7, 4, 4, 4, 5, 6, 9, 10, 9, 6, 4),
    ("online", True): (3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 5, 6, 7, 7, 6, 5, 5, 6, 7, 9, 10, 10, 7, 5),
    ("phone", False): (0, 0, 0, 0, 0, 0, 0, 0, 2, 6, 8, 8, 5, 6, 8, 7, 6, 3, 0, 0, 0, 0, 0, 0),
    ("phone", True): (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 4, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("marketplace", False): (3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 8, 7, 5, 5, 5, 6, 7, 8, 9, 8, 6, 4),
    ("marketplace", True): (4, 3, 2, 1, 1, 1, 1, 2, 3, 4, 6, 7, 8, 8, 7, 6, 6, 7, 8, 9, 9, 8, 6, 5),
}
# fmt: on
_HOURLY[("", False)] = _HOURLY[("online", False)]
_HOURLY[("", True)] = _HOURLY[("online", True)]

_PRICES_CENTS = (299, 499, 750, 999, 1299, 1499, 1999, 2499, 2999, 3999, 4999, 5900, 7999, 9900,
                 12999, 19900, 24999, 34900)  # fmt: skip
_PRICE_WEIGHTS = (4, 7, 6, 10, 9, 9, 10, 8, 7, 6, 5, 4, 3, 3, 2, 1.5, 1, 0.5)
_QUANTITIES = (1, 2, 3, 4, 5, 6, 8, 10, 12)
_QUANTITY_WEIGHTS = (68, 18, 7, 3, 2, 0.8, 0.5, 0.4, 0.3)
_PAYMENTS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "store": (("card", "cash", "apple_pay", "gift_card"), (0.60, 0.25, 0.10, 0.05)),
    "online": (("card", "paypal", "apple_pay", "bank_transfer", "gift_card"), (0.55, 0.25, 0.12, 0.05, 0.03)),
    "phone": (("card", "bank_transfer"), (0.80, 0.20)),
    "marketplace": (("card", "paypal"), (0.70, 0.30)),
    "": (("card", "paypal", "cash"), (0.6, 0.3, 0.1)),
}
# Refund and cancellation rates per channel.
_REFUND_RATE = {"store": 0.02, "online": 0.04, "phone": 0.025, "marketplace": 0.035, "": 0.03}
_CANCEL_RATE = {"store": 0.01, "online": 0.025, "phone": 0.025, "marketplace": 0.02, "": 0.02}
_OFFSETS = ((2, 0), (1, 0), (-5, 0), (5, 30))
_COUPONS = ("WINTER10", "NEWYEAR", "FREESHIP", "VIP20")


# --- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DayPlan:
    day: int
    date: date
    fmt: str
    drift: bool
    rows: int
    dirty: tuple[str, ...]
    """Kind of each dirty row of the file, in allocation order."""

    @property
    def relative_path(self) -> Path:
        return Path("transactions") / f"transactions_{self.date.isoformat()}{FORMAT_SUFFIX[self.fmt]}"


def _special_days(days: int) -> dict[int, str]:
    """Day number -> "drift" or a non-CSV format; spread over the period, day 0 always plain CSV."""
    eligible = list(range(1, days)) if days > 1 else []
    wanted = (("drift", 0.7), ("parquet", 0.4), ("csv.gz", 0.3), ("jsonl", 0.15), ("jsonl", 0.55))
    taken: dict[int, str] = {}
    for what, where in wanted:
        free = [d for d in eligible if d not in taken]
        if not free:
            break
        target = round(where * (days - 1))
        taken[min(free, key=lambda d: (d < target, abs(d - target)))] = what
    return taken


def _changed_day(spec: SampleSpec) -> int | None:
    """The one day whose file re-sends orders of the previous day with changed content."""
    return max(1, spec.days // 3) if spec.days > 1 else None


def _plan(spec: SampleSpec, day: int) -> _DayPlan:
    if not 0 <= day < spec.days:
        raise ValueError(f"day {day} is outside 0..{spec.days - 1}")
    rng = random.Random(f"{spec.seed}:plan:{day}")
    when = spec.start + timedelta(days=day)
    rows = max(1, round(spec.orders_per_day * WEEKDAY_VOLUME[when.weekday()] * rng.uniform(0.95, 1.05)))
    n_dirty = min(round(rows * spec.dirty_share), rows - 1)
    kinds = [k for k in DIRTY_KINDS if k != "duplicate_changed" or day == _changed_day(spec)]
    dirty = tuple(kinds[(day + j) % len(kinds)] for j in range(n_dirty))
    special = _special_days(spec.days).get(day, "csv")
    return _DayPlan(
        day=day,
        date=when,
        fmt="csv" if special == "drift" else special,
        drift=special == "drift",
        rows=rows,
        dirty=dirty,
    )


def describe(spec: SampleSpec = SampleSpec()) -> dict[str, Any]:
    """The plan of `generate(landing, spec)`, JSON-ready, without writing anything.

    `files` lists every transactions file with its rows and dirty rows per kind; `dirty` and `expected_reasons` total them per kind and per quarantine
    reason; `expected_valid_rows` is the number of distinct valid orders over all files (rows minus
    dirty rows: each dirty row is either invalid or the losing half of a duplicate pair).
    """
    plans = [_plan(spec, d) for d in range(spec.days)]
    dirty = Counter(k for p in plans for k in p.dirty)
    reasons = Counter(EXPECTED_REASONS[k] for p in plans for k in p.dirty)
    total = sum(p.rows for p in plans)
    n_dirty = sum(len(p.dirty) for p in plans)
    drift = [p for p in plans if p.drift]
    changed = [p for p in plans if "duplicate_changed" in p.dirty]
    return {
        "seed": spec.seed,
        "start": spec.start.isoformat(),
        "days": spec.days,
        "customers": spec.customers,
        "agents": spec.agents,
        "reference_files": [
            CUSTOMERS_FILE.as_posix(),
            AGENTS_FILE.as_posix(),
            *([FX_RATES_FILE.as_posix()] if spec.second_currency else []),
        ],
        "second_currency": spec.second_currency,
        "files": [
            {
                "path": p.relative_path.as_posix(),
                "date": p.date.isoformat(),
                "format": p.fmt,
                "drift": p.drift,
                "rows": p.rows,
                "dirty_rows": len(p.dirty),
                "dirty": dict(sorted(Counter(p.dirty).items())),
            }
            for p in plans
        ],
        "rows_per_day": {p.date.isoformat(): p.rows for p in plans},
        "total_rows": total,
        "dirty_rows": n_dirty,
        "dirty_share": n_dirty / total,
        "expected_valid_rows": total - n_dirty,
        "dirty": {k: dirty[k] for k in DIRTY_KINDS if dirty[k]},
        "expected_reasons": dict(sorted(reasons.items())),
        "drift_file": drift[0].relative_path.as_posix() if drift else None,
        "drift_renames": dict(DRIFT_RENAMES),
        "drift_extra_columns": [DRIFT_EXTRA_COLUMN],
        "changed_duplicate_file": changed[0].relative_path.as_posix() if changed else None,
    }


# --- reference data --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Customer:
    customer_id: str
    full_name: str
    email: str
    phone: str
    country: str
    city: str
    signup: date
    weight: float
    churn: date | None
    """Last day the customer orders; None when still active at the end."""


@dataclass(frozen=True)
class _Agent:
    agent_id: str
    agent_name: str
    team: str
    hire: date
    weight: float


@dataclass(frozen=True)
class _Population:
    customers: tuple[_Customer, ...]
    by_signup: tuple[_Customer, ...]
    signups: tuple[date, ...]
    cum_weights: tuple[float, ...]
    agents: tuple[_Agent, ...]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())


def _cum(weights: Sequence[float]) -> list[float]:
    return list(accumulate(weights))


def _pick(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    return items[bisect_right(cum, rng.random() * cum[-1])]


@cache
def _example_mobile(region: str) -> phonenumbers.PhoneNumber:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"phonenumbers has no example mobile number for {region}")
    return example


def _phone(rng: random.Random, country: _Country, *, national_ok: bool = True) -> str:
    """A number valid for `phonenumbers` in the country, in E.164, international or national format
    (national only when the record also names the country, without which it cannot be parsed)."""
    example = _example_mobile(country.alpha2)
    prefix = str(example.national_number)[:-6]
    number = example
    for _ in range(20):
        candidate = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(f"{prefix}{rng.randrange(10**6):06d}")
        )
        if phonenumbers.is_valid_number(candidate):
            number = candidate
            break
    style = rng.random()
    if style < 0.2:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if style < 0.7:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if not national_ok:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _country_text(rng: random.Random, country: _Country) -> str:
    style = rng.random()
    if style < 0.5:
        return country.name
    if style < 0.8:
        return country.alpha2
    if style < 0.95:
        return country.alpha3
    return country.name.upper()


def _customers(spec: SampleSpec) -> tuple[_Customer, ...]:
    rng = random.Random(f"{spec.seed}:customers")
    country_cum = _cum([c.weight for c in _COUNTRIES])
    out = []
    for i in range(spec.customers):
        country: _Country = _pick(rng, _COUNTRIES, country_cum)
        firsts, lasts = _NAMES[country.names]
        first, last = rng.choice(firsts), rng.choice(lasts)
        local = f"{_ascii(first)}.{_ascii(last)}{rng.randrange(1, 100) if rng.random() < 0.6 else ''}"
        email = f"{local}@{rng.choice(_EMAIL_DOMAINS)}"
        if rng.random() < 0.1:
            email = email.title()
        if rng.random() < 0.03:
            email = f" {email} "
        # Customer 0 signed up before the period, so day 0 always has a customer to order.
        new = i > 0 and rng.random() < 0.08
        signup = (
            spec.start + timedelta(days=rng.randrange(spec.days))
            if new
            else spec.start - timedelta(days=rng.randint(1, 3 * 365))
        )
        # Pareto-like order frequency, capped: a few repeat-heavy customers, many occasional ones.
        weight = min(rng.paretovariate(1.3), 25.0)
        churn = spec.start + timedelta(days=rng.randrange(spec.days)) if rng.random() < 0.25 else None
        country_text = "" if rng.random() < 0.02 else _country_text(rng, country)
        phone = "" if rng.random() < 0.06 else _phone(rng, country, national_ok=bool(country_text))
        out.append(
            _Customer(
                customer_id=f"C{i + 1:06d}",
                full_name=f"{first} {last}",
                email="" if rng.random() < 0.04 else email,
                phone=phone,
                country=country_text,
                city="" if rng.random() < 0.03 else rng.choice(country.cities),
                signup=signup,
                weight=weight,
                churn=churn,
            )
        )
    return tuple(out)


def _agents(spec: SampleSpec) -> tuple[_Agent, ...]:
    rng = random.Random(f"{spec.seed}:agents")
    pool = [(f, la) for firsts, lasts in _NAMES.values() for f in firsts for la in lasts]
    out = []
    for i in range(spec.agents):
        first, last = rng.choice(pool)
        # Every 13th agent (from the 8th) joins during the period; the others years before.
        hired_in_period = i % 13 == 7 and spec.days >= 10
        hire = (
            spec.start + timedelta(days=rng.randint(3, spec.days // 2))
            if hired_in_period
            else spec.start - timedelta(days=rng.randint(30, 8 * 365))
        )
        star = rng.random() < 0.1
        out.append(
            _Agent(
                agent_id=f"A{i + 1:03d}",
                agent_name=f"{first} {last}",
                team=_TEAMS[_TEAM_CYCLE[i % len(_TEAM_CYCLE)]],
                hire=hire,
                weight=rng.uniform(0.5, 1.5) * (2.5 if star else 1.0),
            )
        )
    return tuple(out)


@cache
def _population(spec: SampleSpec) -> _Population:
    customers = _customers(spec)
    by_signup = tuple(sorted(customers, key=lambda c: (c.signup, c.customer_id)))
    return _Population(
        customers=customers,
        by_signup=by_signup,
        signups=tuple(c.signup for c in by_signup),
        cum_weights=tuple(_cum([c.weight for c in by_signup])),
        agents=_agents(spec),
    )


# --- transactions ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    """One transactions row as the source writes it (None = empty)."""

    transaction_id: str | None
    transaction_ts: str
    customer_id: str | None
    agent_id: str | None
    channel: str | None
    quantity: int | None
    unit_price: str | None
    amount: str | None
    currency: str | None
    status: str | None
    payment_method: str | None
    coupon_code: str | None
    instant: datetime
    """When the order happened (UTC, naive); not written."""

    def values(self) -> tuple[str | int | None, ...]:
        return tuple(getattr(self, c) for c in TRANSACTION_COLUMNS)


def _render_ts(rng: random.Random, instant: datetime) -> str:
    """The instant as a source writes it: Z, offset, space separator or naive UTC."""
    style = rng.random()
    if style < 0.60:
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style < 0.72:
        hours, minutes = rng.choice(_OFFSETS)
        local = instant + timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes)
        sign = "+" if hours >= 0 else "-"
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(hours):02d}:{minutes:02d}"
    if style < 0.82:
        return instant.strftime("%Y-%m-%d %H:%M:%SZ")
    if style < 0.85:
        local = instant + timedelta(hours=2)
        return local.strftime("%Y-%m-%d %H:%M:%S") + "+02:00"
    if style < 0.98:
        return instant.strftime("%Y-%m-%d %H:%M:%S")
    return instant.strftime("%Y-%m-%d %H:%M")


def _cased(rng: random.Random, text: str) -> str:
    style = rng.random()
    if style < 0.05:
        return text.title()
    if style < 0.07:
        return text.upper()
    return text


class _DayContext:
    """Per-day lookups: customers active on the day and agents hired by then, per team."""

    def __init__(self, spec: SampleSpec, when: date) -> None:
        pop = _population(spec)
        self.pop = pop
        self.when = when
        self.n_signed = bisect_right(pop.signups, when)
        hired = [a for a in pop.agents if a.hire <= when]
        self.team_agents: dict[str, tuple[list[_Agent], list[float]]] = {}
        for team in (*_TEAMS, ""):
            members = [a for a in hired if a.team == team or team == ""] or hired
            self.team_agents[team] = (members, _cum([a.weight for a in members]))
        self.channel_cum = {w: _cum(_CHANNEL_WEIGHTS[w]) for w in (False, True)}
        self.hour_cum = {k: _cum(v) for k, v in _HOURLY.items()}
        self.second_currency = spec.second_currency

    def customer(self, rng: random.Random, day: date) -> _Customer:
        pop = self.pop
        cum = pop.cum_weights
        pick: _Customer = pop.by_signup[0]
        for _ in range(10):
            pick = pop.by_signup[bisect_right(cum, rng.random() * cum[self.n_signed - 1])]
            if pick.churn is None or day <= pick.churn:
                break
        return pick

    def agent(self, rng: random.Random, team: str) -> str | None:
        members, cum = self.team_agents[team]
        if not members:
            return None
        agent: _Agent = _pick(rng, members, cum)
        return agent.agent_id


_PRICE_CUM = _cum(_PRICE_WEIGHTS)
_QUANTITY_CUM = _cum(_QUANTITY_WEIGHTS)
_PAYMENT_CUM = {k: _cum(w) for k, (_, w) in _PAYMENTS.items()}


def _order(rng: random.Random, ctx: _DayContext, when: date, drift: bool) -> _Row:
    weekend = when.weekday() >= 5
    channel: str = _pick(rng, _CHANNELS, ctx.channel_cum[weekend])
    hour: int = _pick(rng, range(24), ctx.hour_cum[(channel, weekend)])
    instant = datetime(when.year, when.month, when.day, hour, rng.randrange(60), rng.randrange(60))
    customer = ctx.customer(rng, when)

    # Store and phone orders have an agent; online orders mostly do not (self-service).
    if channel == "store":
        agent = ctx.agent(rng, rng.choice(_TEAMS[:2]))
    elif channel == "phone":
        agent = ctx.agent(rng, "Inside Sales")
    elif channel == "online":
        agent = ctx.agent(rng, "Customer Care") if rng.random() < 0.12 else None
    elif channel == "":
        agent = ctx.agent(rng, "") if rng.random() < 0.5 else None
    else:
        agent = None

    price: int = _pick(rng, _PRICES_CENTS, _PRICE_CUM)
    quantity: int = _pick(rng, _QUANTITIES, _QUANTITY_CUM)
    # How the source states the amount: in full, quantity x unit_price only, amount only, or
    # unit_price and amount without quantity (quantity 1).
    style = rng.random()
    if channel == "marketplace" and style < 0.7:
        style = 0.9
    qty: int | None = quantity
    unit_price: str | None = f"{price / 100:.2f}"
    amount: str | None = f"{quantity * price / 100:.2f}"
    if 0.75 <= style < 0.87:
        amount = None
    elif 0.87 <= style < 0.95:
        qty, unit_price = None, None
    elif style >= 0.95:
        qty, amount = None, f"{price / 100:.2f}"

    draw = rng.random()
    if draw < _REFUND_RATE[channel]:
        status = "refunded"
    elif draw < _REFUND_RATE[channel] + _CANCEL_RATE[channel]:
        status = "canceled" if rng.random() < 0.4 else "cancelled"
    else:
        spelling = rng.random()
        status = "" if spelling < 0.08 else "paid" if spelling < 0.11 else "completed"

    methods, _ = _PAYMENTS[channel]
    payment: str = "" if rng.random() < 0.04 else _pick(rng, methods, _PAYMENT_CUM[channel])
    if "_" not in payment:
        payment = _cased(rng, payment)
    coupon = rng.choice(_COUPONS) if drift and rng.random() < 0.15 else None
    return _Row(
        transaction_id=None,
        transaction_ts=_render_ts(rng, instant),
        customer_id=customer.customer_id,
        agent_id=agent,
        channel=_cased(rng, channel) if channel else None,
        quantity=qty,
        unit_price=unit_price,
        amount=amount,
        currency=_currency(rng.random(), ctx.second_currency),
        status=status or None,
        payment_method=payment or None,
        coupon_code=coupon,
        instant=instant,
    )


def _currency(draw: float, second: str | None) -> str | None:
    """USD, the second currency (when there is one) or empty, from one uniform draw."""
    if second is not None and draw < _SECOND_CURRENCY_SHARE:
        return second
    return "USD" if draw < _USD_SHARE else None


def fx_rates(spec: SampleSpec) -> list[tuple[date, str, str]]:
    """(date, currency, rate into USD) of the second currency for every weekday of the period and
    the day before it: a random walk around 1.25, 4 decimals. Weekends have none, as a market
    feed has none; their orders take Friday's rate (within the default gap of 7 days)."""
    if spec.second_currency is None:
        return []
    rng = random.Random(f"{spec.seed}:fx_rates")
    rate = 1.25
    rows = []
    for n in range(-1, spec.days):
        rate = max(0.5, rate * (1 + rng.gauss(0, 0.004)))
        day = spec.start + timedelta(days=n)
        if day.weekday() < 5:
            rows.append((day, spec.second_currency, f"{rate:.4f}"))
    return rows


def _defect(rng: random.Random, row: _Row, kind: str) -> _Row:
    """The row with one defect of `kind` (not the duplicate kinds)."""
    full_amount = row.amount or f"{(row.quantity or 1) * float(row.unit_price or 0):.2f}"
    t = row.instant
    if kind == "bad_amount":
        return replace(row, amount=rng.choice(("abc", "12.3.4", "ten")))
    if kind == "negative_amount":
        return replace(row, amount=f"-{full_amount}")
    if kind == "malformed_timestamp":
        text = rng.choice(
            (
                f"{t:%Y-%m}-32 {t:%H:%M:%S}",
                f"{t:%Y-%m-%d}T25:{t:%M:%S}Z",
                "yesterday evening",
            )
        )
        return replace(row, transaction_ts=text)
    if kind == "future_timestamp":
        return replace(row, transaction_ts=t.replace(year=2099).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if kind == "missing_transaction_id":
        return replace(row, transaction_id=None)
    if kind == "missing_customer_id":
        return replace(row, customer_id=None)
    if kind == "unknown_status":
        return replace(row, status=rng.choice(("pending", "on_hold", "shipped")))
    if kind == "bad_currency":
        return replace(row, currency=rng.choice(("US$", "DOLLARS", "ZZZ")))
    raise ValueError(f"unknown defect {kind!r}")


def _day_rows(spec: SampleSpec, day: int) -> tuple[list[_Row], list[str | None]]:
    """The rows of one day's file, in file order, with the dirty kind of each (None = clean)."""
    plan = _plan(spec, day)
    rng = random.Random(f"{spec.seed}:transactions:{day}")
    ctx = _DayContext(spec, plan.date)
    counts = Counter(plan.dirty)
    n_resend, n_changed = counts["duplicate_resend"], counts["duplicate_changed"]
    n_base = plan.rows - n_resend - n_changed

    base = [_order(rng, ctx, plan.date, plan.drift) for _ in range(n_base)]
    base.sort(key=lambda r: r.instant)
    prefix = f"TX-{plan.date:%Y%m%d}-"
    for i, row in enumerate(base):
        row.transaction_id = f"{prefix}{i + 1:05d}"

    # One defect each on distinct base rows; the rest stay clean.
    defect_kinds = [k for k in plan.dirty if k not in ("duplicate_resend", "duplicate_changed")]
    targets = rng.sample(range(n_base), len(defect_kinds))
    kinds: list[str | None] = [None] * n_base
    for index, kind in zip(targets, defect_kinds, strict=True):
        base[index] = _defect(rng, base[index], kind)
        kinds[index] = kind
    clean = [i for i in range(n_base) if kinds[i] is None]

    # Sort keys: base row i at (i, 0); a re-sent copy of row i lands after a later row j >= i;
    # changed re-sends of yesterday's orders land anywhere.
    keyed: list[tuple[tuple[int, int, int], _Row, str | None]] = [
        ((i, 0, 0), row, kinds[i]) for i, row in enumerate(base)
    ]
    for n, source in enumerate(rng.sample(clean, n_resend)):
        keyed.append(((rng.randint(source, n_base - 1), 1, n), base[source], "duplicate_resend"))
    if n_changed:
        prev_rows, prev_kinds = _day_rows(spec, day - 1)
        ids = Counter(r.transaction_id for r in prev_rows)
        unique = [
            r for r, k in zip(prev_rows, prev_kinds, strict=True) if k is None and ids[r.transaction_id] == 1
        ]
        # Prefer completed orders (now refunded); fall back to any clean order on tiny samples.
        completed = [r for r in unique if r.status in (None, "completed", "paid")]
        candidates = completed if len(completed) >= n_changed else unique
        for n, original in enumerate(rng.sample(candidates, n_changed)):
            changed = replace(original, status="refunded", coupon_code=None)
            keyed.append(((rng.randrange(n_base), 2, n), changed, "duplicate_changed"))
    keyed.sort(key=lambda item: item[0])
    return [row for _, row, _ in keyed], [kind for _, _, kind in keyed]


# --- writers ---------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write via a hidden temporary file, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


_NUMBER = re.compile(r"-?\d+\.\d+")


def _json_value(column: str, value: str | int | None) -> object:
    if column in ("unit_price", "amount") and isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return value


def _jsonl_bytes(rows: Iterable[_Row]) -> bytes:
    lines = []
    for row in rows:
        record = {c: _json_value(c, v) for c, v in zip(TRANSACTION_COLUMNS, row.values(), strict=True)}
        if record["agent_id"] is None:
            del record["agent_id"]  # sparse records: self-service orders carry no agent key
        lines.append(json.dumps(record, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _parquet_bytes(rows: Sequence[_Row]) -> bytes:
    """Parquet as a typed export writes it: strings, quantity int64, empty values null."""
    # Built through Arrow's CSV reader: converting Python lists would import pandas (slow).
    types = {c: pa.int64() if c == "quantity" else pa.string() for c in TRANSACTION_COLUMNS}
    table = pa_csv.read_csv(
        io.BytesIO(_csv_bytes(TRANSACTION_COLUMNS, (r.values() for r in rows))),
        read_options=pa_csv.ReadOptions(use_threads=False),
        convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def _transactions_bytes(plan: _DayPlan, rows: Sequence[_Row]) -> bytes:
    if plan.fmt == "jsonl":
        return _jsonl_bytes(rows)
    if plan.fmt == "parquet":
        return _parquet_bytes(rows)
    if plan.drift:
        renamed = {v: k for k, v in DRIFT_RENAMES.items()}
        header = [renamed.get(c, c) for c in TRANSACTION_COLUMNS] + [DRIFT_EXTRA_COLUMN]
        data = _csv_bytes(header, ((*r.values(), r.coupon_code) for r in rows))
    else:
        data = _csv_bytes(TRANSACTION_COLUMNS, (r.values() for r in rows))
    return _gzip_bytes(data) if plan.fmt == "csv.gz" else data


def write_reference_data(landing: Path, spec: SampleSpec = SampleSpec()) -> list[Path]:
    """Write `customers/customers.csv`, `agents/agents.jsonl` and, with a second currency,
    `fx_rates/fx_rates.csv` under `landing`."""
    pop = _population(spec)
    customers = _csv_bytes(
        CUSTOMER_COLUMNS,
        (
            (c.customer_id, c.full_name, c.email, c.phone, c.country, c.city, c.signup.isoformat())
            for c in pop.customers
        ),
    )
    agents = "".join(
        json.dumps(
            {
                "agent_id": a.agent_id,
                "agent_name": a.agent_name,
                "team": a.team,
                "hire_date": a.hire.isoformat(),
            },
            ensure_ascii=False,
        )
        + "\n"
        for a in pop.agents
    )
    written = [
        _atomic_write(landing / CUSTOMERS_FILE, customers),
        _atomic_write(landing / AGENTS_FILE, agents.encode("utf-8")),
    ]
    if rates := fx_rates(spec):
        rows = ((day.isoformat(), currency, rate) for day, currency, rate in rates)
        written.append(_atomic_write(landing / FX_RATES_FILE, _csv_bytes(FX_RATES_COLUMNS, rows)))
    return written


def write_transaction_days(landing: Path, spec: SampleSpec, day_numbers: Iterable[int]) -> list[Path]:
    """Write the transactions files of the given days (0..days-1) under `landing/transactions/`."""
    written = []
    for day in day_numbers:
        plan = _plan(spec, day)
        rows, _ = _day_rows(spec, day)
        written.append(_atomic_write(landing / plan.relative_path, _transactions_bytes(plan, rows)))
    return written


def generate(landing: Path, spec: SampleSpec = SampleSpec()) -> list[Path]:
    """Write the whole sample landing area: reference files, then every day's transactions."""
    return write_reference_data(landing, spec) + write_transaction_days(landing, spec, range(spec.days))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pipeline.sample_data LANDING [--days N ...]`: write the sample, print its plan."""
    defaults = SampleSpec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("landing", type=Path, help="landing folder to write into")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument(
        "--start", type=date.fromisoformat, default=defaults.start, help="first day, YYYY-MM-DD"
    )
    parser.add_argument("--days", type=int, default=defaults.days, help="number of daily files")
    parser.add_argument("--customers", type=int, default=defaults.customers, help="number of customers")
    parser.add_argument("--agents", type=int, default=defaults.agents, help="number of agents")
    parser.add_argument(
        "--orders-per-day", type=int, default=defaults.orders_per_day, help="mean rows per day"
    )
    parser.add_argument("--dirty-share", type=float, default=defaults.dirty_share, help="share of dirty rows")
    args = parser.parse_args(argv)
    spec = SampleSpec(
        seed=args.seed,
        start=args.start,
        days=args.days,
        customers=args.customers,
        agents=args.agents,
        orders_per_day=args.orders_per_day,
        dirty_share=args.dirty_share,
    )
    generate(args.landing, spec)
    print(json.dumps(describe(spec), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

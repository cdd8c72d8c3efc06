"""The sample landing data: deterministic, shaped like the contract says, and dirty exactly as
`describe()` plans it. Dirty rows are found here by an independent reading of the files, not by
asking the generator."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import phonenumbers
import pyarrow.parquet as pq
import pycountry
import pytest

from pipeline import sample_data
from pipeline.sample_data import SampleSpec
from spark import contract

# Two weeks (two weekends) with a high dirty share, so every dirty kind occurs several times.
SPEC = SampleSpec(seed=3, days=14, customers=400, agents=12, orders_per_day=300, dirty_share=0.05)
PLAN = sample_data.describe(SPEC)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    sample_data.generate(root, SPEC)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a transactions file, columns by contract name, every value a string ("" = empty)."""

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    name = path.name
    if name.endswith(".parquet"):
        records = pq.read_table(path).to_pylist()
    elif name.endswith(".jsonl"):
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    else:
        raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        records = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    empty = dict.fromkeys(sample_data.TRANSACTION_COLUMNS, "")  # JSON Lines may omit a key
    return [
        empty | {contract.canonical_column("transactions", k): text(v) for k, v in r.items()} for r in records
    ]


_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:\d{2})?",
)


def parse_ts(value: str) -> datetime | None:
    """The contract's timestamp rule, written independently of the pipeline: UTC, or None."""
    match = _TS.fullmatch(value)
    if not match:
        return None
    y, mo, d, h, mi, s, zone = match.groups()
    try:
        naive = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        return None
    if zone in (None, "Z"):
        return naive.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return (naive - sign * offset).replace(tzinfo=UTC)


def is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def defects(row: dict[str, str], period_end: datetime) -> list[str]:
    """Every non-duplicate defect of a row, by the contract's rules."""
    found = []
    if not row["transaction_id"]:
        found.append("missing_transaction_id")
    if not row["customer_id"]:
        found.append("missing_customer_id")
    ts = parse_ts(row["transaction_ts"])
    if ts is None:
        found.append("malformed_timestamp")
    elif ts > period_end:
        found.append("future_timestamp")
    if row["amount"] and not is_number(row["amount"]):
        found.append("bad_amount")
    elif row["amount"] and float(row["amount"]) < 0:
        found.append("negative_amount")
    if row["status"] and row["status"].strip().lower() not in contract.STATUS_SYNONYMS:
        found.append("unknown_status")
    if row["currency"] and pycountry.currencies.get(alpha_3=row["currency"]) is None:
        found.append("bad_currency")
    return found


@pytest.fixture(scope="module")
def files(landing: Path) -> dict[str, list[dict[str, str]]]:
    return {f["path"]: read_rows(landing / f["path"]) for f in PLAN["files"]}


@pytest.fixture(scope="module")
def classified(files: dict[str, list[dict[str, str]]]) -> dict[str, Counter[str]]:
    """Dirty rows per file and kind, found in the files alone."""
    period_end = datetime.combine(SPEC.start + timedelta(days=SPEC.days), datetime.min.time(), UTC)
    out: dict[str, Counter[str]] = {}
    previous: dict[str, dict[str, str]] = {}
    for path, rows in files.items():
        kinds: Counter[str] = Counter()
        seen: set[str] = set()
        for row in rows:
            found = defects(row, period_end)
            key = row["transaction_id"]
            if key and key in seen:
                found.append("duplicate_resend")
            if key and key in previous:
                assert row != previous[key], f"{path}: {key} re-sent unchanged across days"
                found.append("duplicate_changed")
            assert len(found) <= 1, f"{path}: row {key} has several defects {found}"
            kinds.update(found)
            seen.add(key)
        out[path] = kinds
        previous = {r["transaction_id"]: r for r in rows if r["transaction_id"]}
    return out


def clean_rows(files: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
    period_end = datetime.combine(SPEC.start + timedelta(days=SPEC.days), datetime.min.time(), UTC)
    return [r for rows in files.values() for r in rows if not defects(r, period_end)]


# --- determinism -----------------------------------------------------------------------------


def test_two_generations_are_byte_identical(landing: Path, tmp_path: Path) -> None:
    paths = sample_data.generate(tmp_path, SPEC)
    assert tree(tmp_path) == tree(landing)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == sorted(tree(landing))


def test_a_single_day_equals_the_same_day_of_a_full_generation(landing: Path, tmp_path: Path) -> None:
    special = [PLAN["changed_duplicate_file"], PLAN["drift_file"], PLAN["files"][-1]["path"]]
    days = [i for i, f in enumerate(PLAN["files"]) if f["path"] in special]
    written = sample_data.write_transaction_days(tmp_path, SPEC, reversed(days))
    assert len(written) == len(days) == 3
    for path in written:
        relative = path.relative_to(tmp_path)
        assert path.read_bytes() == (landing / relative).read_bytes(), relative


def test_reference_data_does_not_depend_on_the_transaction_volume(landing: Path, tmp_path: Path) -> None:
    other = SampleSpec(**{**SPEC.__dict__, "orders_per_day": 50, "dirty_share": 0.0})
    sample_data.write_reference_data(tmp_path, other)
    for relative in PLAN["reference_files"]:
        assert (tmp_path / relative).read_bytes() == (landing / relative).read_bytes()


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    small = SampleSpec(days=2, customers=50, agents=4, orders_per_day=40)
    sample_data.generate(tmp_path / "a", small)
    sample_data.generate(tmp_path / "b", SampleSpec(**{**small.__dict__, "seed": small.seed + 1}))
    assert tree(tmp_path / "a").keys() == tree(tmp_path / "b").keys()
    assert tree(tmp_path / "a") != tree(tmp_path / "b")


def test_compressed_files_carry_no_timestamp(landing: Path) -> None:
    (gz,) = (landing / "transactions").glob("*.csv.gz")
    assert gz.read_bytes()[4:8] == b"\0\0\0\0"  # gzip MTIME


def test_the_default_sample_is_generated_well_under_five_seconds(tmp_path: Path) -> None:
    sample_data.describe()  # warm imports
    started = time.perf_counter()
    paths = sample_data.generate(tmp_path)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"generate() took {elapsed:.1f}s"
    plan = sample_data.describe()
    assert len(paths) == 33  # 30 days, customers, agents and the rates file
    assert 28_000 <= plan["total_rows"] <= 32_000


# --- layout, formats and counts --------------------------------------------------------------


def test_one_transactions_file_per_day_in_varied_formats(landing: Path) -> None:
    names = sorted(p.name for p in (landing / "transactions").iterdir())
    dates = [SPEC.start + timedelta(days=d) for d in range(SPEC.days)]
    assert [re.sub(r"\..*", "", n) for n in names] == [f"transactions_{d.isoformat()}" for d in dates]
    formats = Counter(re.sub(r"^[^.]*\.", "", n) for n in names)
    assert formats == {"csv": SPEC.days - 4, "jsonl": 2, "csv.gz": 1, "parquet": 1}
    assert [f["path"] for f in PLAN["files"]] == [f"transactions/{n}" for n in names]
    assert sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()) == sorted(
        [*PLAN["reference_files"], *(f["path"] for f in PLAN["files"])]
    )


def test_every_file_parses_with_pandas_and_has_the_planned_rows(landing: Path) -> None:
    for planned in PLAN["files"]:
        path = landing / planned["path"]
        if planned["format"] == "parquet":
            frame = pd.read_parquet(path)
        elif planned["format"] == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert len(frame) == planned["rows"], planned["path"]
    assert len(pd.read_csv(landing / "customers/customers.csv", dtype=str)) == SPEC.customers
    assert len(pd.read_json(landing / "agents/agents.jsonl", lines=True)) == SPEC.agents


def test_row_counts_follow_the_weekday_rhythm_around_the_mean() -> None:
    rows = {date.fromisoformat(d): n for d, n in PLAN["rows_per_day"].items()}
    assert list(rows) == [SPEC.start + timedelta(days=d) for d in range(SPEC.days)]
    assert sum(rows.values()) == PLAN["total_rows"]
    assert abs(PLAN["total_rows"] / SPEC.days / SPEC.orders_per_day - 1) < 0.05
    saturdays = [n for d, n in rows.items() if d.weekday() == 5]
    sundays = [n for d, n in rows.items() if d.weekday() == 6]
    assert min(saturdays) > max(sundays)


def test_the_parquet_file_is_typed(landing: Path) -> None:
    (path,) = (landing / "transactions").glob("*.parquet")
    schema = pq.read_schema(path)
    assert schema.names == list(sample_data.TRANSACTION_COLUMNS)
    assert str(schema.field("quantity").type) == "int64"
    assert str(schema.field("transaction_ts").type) == "string"


def test_exactly_one_file_drifts_through_documented_aliases(landing: Path) -> None:
    contract_columns = list(sample_data.TRANSACTION_COLUMNS)
    drifted = []
    for planned in PLAN["files"]:
        path = landing / planned["path"]
        if planned["format"] == "parquet":
            header = pq.read_schema(path).names
        elif planned["format"] == "jsonl":
            keys: dict[str, None] = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                keys.update(dict.fromkeys(json.loads(line)))
            # Records order their keys alike, but self-service ones omit agent_id.
            header = [c for c in contract_columns if c in keys] + [
                k for k in keys if k not in contract_columns
            ]
        else:
            raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
            header = raw.decode("utf-8").splitlines()[0].split(",")
        if header != contract_columns:
            drifted.append((planned["path"], header))
    assert len(drifted) == 1
    path, header = drifted[0]
    assert path == PLAN["drift_file"]
    assert {"order_id", "total", "coupon_code"} <= set(header)
    assert not {"transaction_id", "amount"} & set(header)
    canonical = [contract.canonical_column("transactions", c) for c in header]
    assert canonical == [*contract_columns, "coupon_code"]
    assert any(r["coupon_code"] for r in read_rows(landing / path))


# --- dirty rows ------------------------------------------------------------------------------


def test_dirty_rows_found_in_the_files_match_the_plan(classified: dict[str, Counter[str]]) -> None:
    for planned in PLAN["files"]:
        assert dict(classified[planned["path"]]) == planned["dirty"], planned["path"]
    found = sum(classified.values(), Counter())
    assert dict(found) == PLAN["dirty"]
    assert set(found) == set(sample_data.DIRTY_KINDS)  # every kind occurs in this sample


def test_the_dirty_share_is_the_configured_one() -> None:
    assert PLAN["dirty_rows"] == sum(PLAN["dirty"].values())
    assert PLAN["dirty_share"] == pytest.approx(SPEC.dirty_share, abs=0.003)
    assert PLAN["expected_valid_rows"] == PLAN["total_rows"] - PLAN["dirty_rows"]
    default = sample_data.describe()
    assert default["dirty_share"] == pytest.approx(0.02, abs=0.002)
    clean = sample_data.describe(SampleSpec(days=3, dirty_share=0))
    assert clean["dirty_rows"] == 0
    assert clean["changed_duplicate_file"] is None


def test_one_file_resends_yesterdays_orders_with_other_content(classified: dict[str, Counter[str]]) -> None:
    changed = [path for path, kinds in classified.items() if kinds["duplicate_changed"]]
    assert changed == [PLAN["changed_duplicate_file"]]


def test_dirty_kinds_map_to_contract_reasons_and_aliases() -> None:
    assert sample_data.EXPECTED_REASONS.keys() == sample_data.DIRTY_KINDS.keys()
    assert set(sample_data.EXPECTED_REASONS.values()) <= contract.REASONS.keys()
    expected: Counter[str] = Counter()
    for kind, n in PLAN["dirty"].items():
        expected[sample_data.EXPECTED_REASONS[kind]] += n
    assert PLAN["expected_reasons"] == dict(expected)
    for source, target in sample_data.DRIFT_RENAMES.items():
        assert contract.ALIASES["transactions"][source] == target
    assert sample_data.DRIFT_EXTRA_COLUMN not in contract.ALIASES["transactions"]


# --- realism ---------------------------------------------------------------------------------


def test_clean_rows_are_internally_consistent(files: dict[str, list[dict[str, str]]]) -> None:
    rows = clean_rows(files)
    assert len(rows) >= PLAN["expected_valid_rows"]  # plus the re-sent copies
    shapes = Counter()
    for row in rows:
        quantity, price, amount = row["quantity"], row["unit_price"], row["amount"]
        shapes[(bool(quantity), bool(price), bool(amount))] += 1
        if quantity:
            assert int(float(quantity)) >= 1
        if price:
            assert float(price) >= 0
        if quantity and price and amount:
            assert float(amount) == pytest.approx(int(float(quantity)) * float(price), abs=0.005)
        assert amount or (quantity and price), row
        assert row["currency"] in ("", "USD", SPEC.second_currency)
    # In full, quantity x unit_price without amount, amount only, unit_price and amount.
    assert {(True, True, True), (True, True, False), (False, False, True), (False, True, True)} <= set(shapes)
    assert shapes[(True, True, False)] / len(rows) > 0.05


def test_channels_agents_statuses_and_payments_are_a_realistic_mix(
    files: dict[str, list[dict[str, str]]],
) -> None:
    rows = clean_rows(files)
    channels = Counter(r["channel"].lower() for r in rows)
    assert set(channels) == {"store", "online", "phone", "marketplace", ""}
    assert channels["online"] > channels["store"] > channels["phone"]
    assert 0.01 < channels[""] / len(rows) < 0.06
    assert any(r["channel"] not in (r["channel"].lower(), "") for r in rows)  # mixed case occurs
    by_channel: dict[str, Counter[bool]] = {}
    for row in rows:
        by_channel.setdefault(row["channel"].lower(), Counter())[bool(row["agent_id"])] += 1
    assert by_channel["store"][False] == 0
    assert by_channel["phone"][False] == 0
    assert by_channel["marketplace"][True] == 0
    assert by_channel["online"][False] / by_channel["online"].total() > 0.8

    statuses = Counter(contract.STATUS_SYNONYMS.get(r["status"], r["status"]) or "completed" for r in rows)
    assert set(statuses) == set(contract.STATUSES)
    assert 0.02 < statuses["refunded"] / len(rows) < 0.05
    assert 0.01 < statuses["cancelled"] / len(rows) < 0.035
    payments = Counter(r["payment_method"].lower() for r in rows)
    assert {"card", "paypal", "cash"} <= set(payments)
    assert payments["card"] == max(payments.values())


def test_timestamps_come_in_every_accepted_shape(files: dict[str, list[dict[str, str]]]) -> None:
    shapes = Counter()
    for row in clean_rows(files):
        ts = row["transaction_ts"]
        sep = "T" if "T" in ts else "space"
        zone = "Z" if ts.endswith("Z") else "offset" if re.search(r"[+-]\d{2}:\d{2}$", ts) else "naive"
        shapes[(sep, zone)] += 1
        if zone == "naive":
            shapes["no seconds" if len(ts) == 16 else "seconds"] += 1
    assert {("T", "Z"), ("T", "offset"), ("space", "Z"), ("space", "offset"), ("space", "naive")} <= set(
        shapes
    )
    assert shapes["no seconds"] > 0


def test_orders_fall_on_their_files_day_with_lunch_and_evening_peaks(
    files: dict[str, list[dict[str, str]]],
) -> None:
    hours: Counter[int] = Counter()
    for planned in PLAN["files"]:
        for row in files[planned["path"]]:
            ts = parse_ts(row["transaction_ts"])
            if ts is None or ts.year == 2099:
                continue
            if not row["transaction_id"].startswith(f"TX-{planned['date'].replace('-', '')}"):
                continue  # a re-sent order of the day before
            assert ts.date().isoformat() == planned["date"], row
            hours[ts.hour] += 1
    night = sum(hours[h] for h in range(2, 6))
    lunch = hours[12] + hours[13]
    evening = hours[19] + hours[20]
    afternoon = hours[15] + hours[16]
    assert lunch > 10 * night
    assert lunch > afternoon
    assert evening > afternoon
    assert max(hours, key=hours.__getitem__) in (12, 13, 19, 20)


def test_weekends_have_more_store_and_less_phone_traffic(files: dict[str, list[dict[str, str]]]) -> None:
    share: dict[bool, Counter[str]] = {False: Counter(), True: Counter()}
    for planned in PLAN["files"]:
        weekend = date.fromisoformat(planned["date"]).weekday() >= 5
        share[weekend].update(r["channel"].lower() for r in files[planned["path"]])
    weekday, weekend = share[False], share[True]
    assert weekend["phone"] / weekend.total() < 0.5 * weekday["phone"] / weekday.total()
    assert weekend["store"] / weekend.total() > weekday["store"] / weekday.total()


def test_a_few_customers_order_far_more_than_most(files: dict[str, list[dict[str, str]]]) -> None:
    orders = Counter(r["customer_id"] for r in clean_rows(files) if r["customer_id"])
    ranked = sorted(orders.values(), reverse=True)
    top = ranked[: max(1, len(ranked) // 20)]
    assert sum(top) / sum(ranked) > 0.15  # the top 5% of customers place over 15% of orders
    assert ranked[len(ranked) // 2] <= ranked[0] / 10
    assert sum(1 for n in ranked if n <= 2) > len(ranked) // 10


def test_customers_are_realistic_and_valid(landing: Path, files: dict[str, list[dict[str, str]]]) -> None:
    with (landing / "customers/customers.csv").open(encoding="utf-8", newline="") as handle:
        customers = list(csv.DictReader(handle))
    assert list(customers[0]) == list(sample_data.CUSTOMER_COLUMNS)
    ids = [c["customer_id"] for c in customers]
    assert len(set(ids)) == len(ids) == SPEC.customers

    styles = Counter()
    for customer in customers:
        if customer["country"]:
            country = pycountry.countries.lookup(customer["country"])
            styles[
                "alpha2"
                if customer["country"] == country.alpha_2
                else "alpha3"
                if customer["country"] == country.alpha_3
                else "name"
            ] += 1
            if customer["phone"]:
                number = phonenumbers.parse(customer["phone"], country.alpha_2)
                assert phonenumbers.is_valid_number(number), customer
                styles[
                    "e164" if customer["phone"].startswith("+") and " " not in customer["phone"] else "other"
                ] += 1
                styles["national" if not customer["phone"].startswith("+") else "international"] += 1
        if customer["email"]:
            assert re.fullmatch(r"[a-z0-9.]+@[a-z0-9.]+\.[a-z]+", customer["email"].strip().lower()), customer
        date.fromisoformat(customer["signup_date"])
    assert (
        min(styles[s] for s in ("alpha2", "alpha3", "name", "e164", "other", "national", "international")) > 0
    )
    assert len({c["country"] for c in customers}) > 10
    assert any(any(ord(ch) > 127 for ch in c["full_name"] + c["city"]) for c in customers)
    assert any(c["signup_date"] >= SPEC.start.isoformat() for c in customers)

    used = {r["customer_id"] for rows in files.values() for r in rows if r["customer_id"]}
    assert used <= set(ids)
    assert len(used) > SPEC.customers // 2


def test_agents_belong_to_teams_and_handle_the_orders(
    landing: Path, files: dict[str, list[dict[str, str]]]
) -> None:
    agents = [json.loads(line) for line in (landing / "agents/agents.jsonl").read_text("utf-8").splitlines()]
    assert [list(a) for a in agents] == [list(sample_data.AGENT_COLUMNS)] * SPEC.agents
    assert len({a["agent_id"] for a in agents}) == SPEC.agents
    assert len({a["team"] for a in agents}) == 4
    hired = {a["agent_id"]: date.fromisoformat(a["hire_date"]) for a in agents}
    for planned in PLAN["files"]:
        for row in files[planned["path"]]:
            if row["agent_id"]:
                assert hired[row["agent_id"]] <= date.fromisoformat(planned["date"])


# --- the spec --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"days": 0},
        {"customers": 0},
        {"agents": 0},
        {"orders_per_day": 0},
        {"dirty_share": -0.1},
        {"dirty_share": 0.9},
    ],
)
def test_an_impossible_spec_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SampleSpec(**bad)


def test_a_day_outside_the_period_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        sample_data.write_transaction_days(tmp_path, SPEC, [SPEC.days])


def test_a_tiny_sample_still_has_every_part(tmp_path: Path) -> None:
    tiny = SampleSpec(days=1, customers=1, agents=1, orders_per_day=1)
    paths = sample_data.generate(tmp_path, tiny)
    assert len(paths) == 4  # customers, agents, rates and the day's transactions
    (rows,) = [read_rows(p) for p in paths if "transactions" in p.parts]
    assert len(rows) == sample_data.describe(tiny)["total_rows"] >= 1


def test_orders_in_the_second_currency_have_a_rate_on_their_day_or_the_last_weekday_before(
    landing: Path, files: dict[str, list[dict[str, str]]]
) -> None:
    rates = pd.read_csv(landing / sample_data.FX_RATES_FILE, dtype=str)
    assert list(rates.columns) == ["date", "currency", "rate"]
    assert set(rates.currency) == {SPEC.second_currency}
    rate_days = {date.fromisoformat(d) for d in rates.date}
    assert all(d.weekday() < 5 for d in rate_days)
    foreign = [r for r in clean_rows(files) if r["currency"] == SPEC.second_currency]
    assert 0.04 < len(foreign) / len(clean_rows(files)) < 0.12
    for day in {SPEC.start + timedelta(days=n) for n in range(SPEC.days)}:
        assert any(day - timedelta(days=k) in rate_days for k in range(4)), day


def test_without_a_second_currency_the_sample_is_usd_only_and_has_no_rates_file(tmp_path: Path) -> None:
    small = SampleSpec(days=2, customers=50, agents=4, orders_per_day=40)
    usd_only = SampleSpec(**{**small.__dict__, "second_currency": None})
    sample_data.generate(tmp_path / "two", small)
    sample_data.generate(tmp_path / "one", usd_only)
    assert not (tmp_path / "one" / sample_data.FX_RATES_FILE).exists()
    assert sample_data.describe(usd_only)["reference_files"] == [
        "customers/customers.csv",
        "agents/agents.jsonl",
    ]
    one = pd.read_csv(
        tmp_path / "one/transactions/transactions_2025-01-01.csv", dtype=str, keep_default_na=False
    )
    two = pd.read_csv(
        tmp_path / "two/transactions/transactions_2025-01-01.csv", dtype=str, keep_default_na=False
    )
    assert set(one.currency) <= {"", "USD"}
    # The same draws: only the currency of the second-currency orders differs.
    differs = one.compare(two)
    assert set(differs.columns.get_level_values(0)) == {"currency"}
    assert set(two.currency[one.currency != two.currency]) == {"GBP"}

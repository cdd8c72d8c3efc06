"""Silver SQL on DuckDB: the days a load touches, the rows it displaces, and the MERGEs."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from pipeline import plan, warehouse
from sql import catalog

UTC = dt.UTC
D1 = dt.date(2025, 3, 28)
D2 = dt.date(2025, 3, 29)
D3 = dt.date(2025, 3, 30)


def order(transaction_id: str, day: dt.date, **values):
    return {
        "transaction_id": transaction_id,
        "transaction_ts": dt.datetime.combine(day, dt.time(12), UTC),
        "customer_id": "C1",
        "amount": Decimal("10.00"),
        **values,
    }


def affected_days(wh) -> list[dt.date]:
    return sorted(row["day"] for row in wh.run("silver/affected_days.sql", plan.currency_parameters()))


def day_params(wh) -> dict:
    """What the load binds beside run_id: the staged load's affected days and their bounds."""
    days = affected_days(wh)
    return {"days": days, **plan.day_bounds(days)}


def merge(wh, entity: str) -> None:
    params = day_params(wh) if entity == "transactions" else {}
    warehouse.execute_file(wh.con, f"silver/{entity}_merge.sql", params)


def quarantine_rows(wh, run_id: str) -> list[dict]:
    """The audit.quarantine rows silver/transactions_displaced.sql writes for the run."""
    warehouse.execute_file(wh.con, "silver/transactions_displaced.sql", {"run_id": run_id, **day_params(wh)})
    columns = catalog.table("audit.quarantine").column_names
    rows = wh.rows(
        f"select {', '.join(columns)} from audit.quarantine where run_id = ? and reason = 'DUPLICATE_KEY'",
        [run_id],
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


# affected_days -----------------------------------------------------------------------------------


def test_affected_days_of_a_first_load_are_the_staged_days(wh):
    wh.stage("transactions", [order("T1", D1), order("T2", D1), order("T3", D3)])
    assert affected_days(wh) == [D1, D3]


def test_affected_days_include_the_old_day_of_a_moved_order(wh):
    wh.insert("silver.transactions", [order("T1", D1), order("T2", D2)])
    wh.stage("transactions", [order("T1", D3), order("T9", D3)])
    assert affected_days(wh) == [D1, D3], "T1 leaves D1 and lands on D3; D2 is untouched"


def test_affected_days_without_staged_rows_are_empty(wh):
    wh.insert("silver.transactions", [order("T1", D1)])
    wh.stage("transactions", [])
    assert affected_days(wh) == []


# transactions_displaced --------------------------------------------------------------------------


def test_displaced_rows_are_quarantine_rows_naming_the_winner(wh):
    loser = order("T1", D1, source_file="landing/transactions/a.csv", record_number=3, channel="store")
    wh.insert("silver.transactions", [loser, order("T2", D1)])
    wh.stage("transactions", [order("T1", D2, source_file="landing/transactions/b.csv", record_number=7)])
    displaced = quarantine_rows(wh, "run-2")
    assert len(displaced) == 1
    row = displaced[0]
    assert list(row) == list(catalog.table("audit.quarantine").column_names)
    assert {k: row[k] for k in ("run_id", "entity", "source_file", "record_number", "reason")} == {
        "run_id": "run-2",
        "entity": "transactions",
        "source_file": "landing/transactions/a.csv",
        "record_number": 3,
        "reason": "DUPLICATE_KEY",
    }
    assert "T1" in row["detail"]
    assert "landing/transactions/b.csv" in row["detail"]
    assert "record 7" in row["detail"]
    raw = json.loads(row["raw_record"])
    assert raw["transaction_id"] == "T1"
    assert raw["source_file"] == "landing/transactions/a.csv"
    assert raw["channel"] == "store"


def test_displaced_rows_load_into_audit_quarantine(wh):
    wh.insert("silver.transactions", [order("T1", D1, source_file="a.csv")])
    wh.stage("transactions", [order("T1", D1, source_file="b.csv")])
    warehouse.execute_file(wh.con, "silver/transactions_displaced.sql", {"run_id": "run-2", **day_params(wh)})
    assert wh.rows("select run_id, source_file, reason from audit.quarantine") == [
        ("run-2", "a.csv", "DUPLICATE_KEY")
    ]


def test_reloading_the_same_record_displaces_nothing(wh):
    same = order("T1", D1, source_file="a.csv", record_number=5)
    wh.insert("silver.transactions", [same])
    wh.stage("transactions", [{**same, "amount": Decimal("11.00"), "run_id": "run-2"}])
    assert quarantine_rows(wh, "run-2") == []


def test_same_file_other_record_is_displaced(wh):
    wh.insert("silver.transactions", [order("T1", D1, source_file="a.csv", record_number=5)])
    wh.stage("transactions", [order("T1", D1, source_file="a.csv", record_number=6)])
    assert [r["record_number"] for r in quarantine_rows(wh, "run-2")] == [5]


# transaction_keys ----------------------------------------------------------------------------------


def index_rows(wh) -> list[tuple]:
    return wh.table("silver.transaction_keys")


def recomputed_index(wh) -> list[tuple]:
    return sorted(tuple(r.values()) for r in wh.run("silver/transaction_keys.sql"))


def load(wh, rows) -> None:
    """What the load does with staged transactions: the key index MERGE, then the silver MERGE."""
    wh.stage("transactions", rows)
    params = day_params(wh)
    warehouse.execute_file(wh.con, "silver/transaction_keys_merge.sql", params)
    warehouse.execute_file(wh.con, "silver/transactions_merge.sql", params)


def test_the_key_index_follows_loads_moves_and_reruns(wh):
    load(wh, [order("T1", D1), order("T2", D1), order("T3", D2)])
    assert len(index_rows(wh)) == 3
    assert index_rows(wh) == recomputed_index(wh)
    load(wh, [order("T1", D3), order("T4", D3)])  # T1 moves from D1 to D3
    assert index_rows(wh) == recomputed_index(wh)
    assert sorted(r[1] for r in index_rows(wh)) == [D1, D2, D3, D3]
    before = index_rows(wh)
    load(wh, [order("T1", D3), order("T4", D3)])  # the same file again
    assert index_rows(wh) == before


def test_the_key_index_counts_keys_sharing_a_fingerprint_and_day(wh):
    """Rows of one day whose keys share a fingerprint (here: one key twice, as a collision would
    look) are counted, and a move takes one of them away."""
    wh.insert("silver.transactions", [order("T1", D1), order("T1", D1, record_number=2)])
    assert index_rows(wh) == [(index_rows(wh)[0][0], D1, 2)]
    wh.stage("transactions", [order("T1", D2)])
    warehouse.execute_file(wh.con, "silver/transaction_keys_merge.sql", day_params(wh))
    assert sorted((r[1], r[2]) for r in index_rows(wh)) == [(D2, 1)], "both D1 rows are replaced"


def test_affected_days_come_from_the_key_index(wh):
    wh.insert("silver.transactions", [order("T1", D1)])
    wh.con.execute("delete from silver.transaction_keys")
    wh.stage("transactions", [order("T1", D3)])
    assert affected_days(wh) == [D3], "a key missing from the index is not found in silver"


# merges ------------------------------------------------------------------------------------------


def test_transactions_merge_inserts_and_replaces_every_column(wh):
    wh.insert("silver.transactions", [order("T1", D1), order("T2", D1)])
    replacement = order(
        "T1",
        D2,
        customer_id="C7",
        agent_id="A1",
        channel="phone",
        quantity=3,
        unit_price=Decimal("4.5000"),
        amount=Decimal("13.50"),
        currency="EUR",
        status="refunded",
        payment_method="card",
        extra='{"coupon": "X"}',
        source_file="b.csv",
        record_number=9,
        run_id="run-2",
    )
    wh.stage("transactions", [replacement, order("T3", D3, run_id="run-2")])
    merge(wh, "transactions")
    columns = ", ".join(catalog.table("silver.transactions").column_names)
    by_id = {row[0]: row for row in wh.rows(f"select {columns} from silver.transactions")}
    assert sorted(by_id) == ["T1", "T2", "T3"]
    expected = tuple(replacement.get(c) for c in catalog.table("silver.transactions").column_names)
    actual = by_id["T1"]
    extra = catalog.table("silver.transactions").column_names.index("extra")
    assert actual[:extra] == expected[:extra]
    assert json.loads(actual[extra]) == {"coupon": "X"}
    assert actual[extra + 1 :] == expected[extra + 1 :]
    assert by_id["T2"][-1] == "run-1", "a row the load does not carry is left alone"


def test_transactions_merge_is_idempotent(wh):
    wh.insert("silver.transactions", [order("T1", D1)])
    wh.stage("transactions", [order("T1", D2, run_id="run-2"), order("T2", D2, run_id="run-2")])
    merge(wh, "transactions")
    first = wh.table("silver.transactions")
    merge(wh, "transactions")
    assert wh.table("silver.transactions") == first
    assert len(first) == 2


def test_a_moved_order_leaves_its_old_day(wh):
    wh.insert("silver.transactions", [order("T1", D1)])
    wh.stage("transactions", [order("T1", D3)])
    merge(wh, "transactions")
    assert wh.rows("select transaction_id, cast(transaction_ts as date) from silver.transactions") == [
        ("T1", D3)
    ]


def test_customers_merge_upserts_current_state(wh):
    wh.insert("silver.customers", [{"customer_id": "C1", "full_name": "Old"}, {"customer_id": "C2"}])
    wh.stage(
        "customers",
        [
            {
                "customer_id": "C1",
                "full_name": "New",
                "email": "n@example.com",
                "country": "FR",
                "city": "Paris",
                "signup_date": dt.date(2024, 1, 2),
                "phone": "+33123456789",
                "source_file": "c2.csv",
                "run_id": "run-2",
            },
            {"customer_id": "C3", "full_name": "Third", "run_id": "run-2"},
        ],
    )
    merge(wh, "customers")
    assert wh.rows(
        "select customer_id, full_name, email, phone, country, city, signup_date, source_file, run_id "
        "from silver.customers order by customer_id"
    ) == [
        ("C1", "New", "n@example.com", "+33123456789", "FR", "Paris", dt.date(2024, 1, 2), "c2.csv", "run-2"),
        ("C2", None, None, None, None, None, None, "landing/customers/customers.csv", "run-1"),
        ("C3", "Third", None, None, None, None, None, "landing/customers/customers.csv", "run-2"),
    ]


def test_agents_merge_upserts_current_state(wh):
    wh.insert("silver.agents", [{"agent_id": "A1", "agent_name": "Old", "team": "north"}])
    wh.stage(
        "agents",
        [
            {
                "agent_id": "A1",
                "agent_name": "New",
                "team": "south",
                "hire_date": dt.date(2023, 5, 1),
                "run_id": "run-2",
            },
            {"agent_id": "A2", "agent_name": "Second", "run_id": "run-2"},
        ],
    )
    merge(wh, "agents")
    merge(wh, "agents")
    assert wh.rows("select agent_id, agent_name, team, hire_date, run_id from silver.agents order by 1") == [
        ("A1", "New", "south", dt.date(2023, 5, 1), "run-2"),
        ("A2", "Second", None, None, "run-2"),
    ]

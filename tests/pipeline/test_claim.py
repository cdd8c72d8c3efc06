"""Claims on a real DuckDB warehouse and landing folder (`pipeline.claim`): a file rejected whole
waits for a settings change, `cdi reprocess` claims archived copies, a dead run's claim is taken
over, and the load of a file claimed again replaces what its earlier attempt left
(`pipeline.silver_load.load_run` on Parquet shaped like the Spark job's output)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline import claim, plan, silver_load, warehouse
from sql import catalog

SETTINGS_A = claim.EMPTY_SHA256
SETTINGS_B = "b" * 64


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return warehouse.connect(tmp_path / "warehouse.duckdb")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / "transactions"
    folder.mkdir(parents=True)
    (folder / "good.csv").write_text("transaction_id,transaction_ts\nT1,2025-01-01\n")
    (folder / "bad.csv").write_text("Order Number,transaction_ts\nT2,2025-01-01\n")
    return tmp_path / "landing"


def run_claims(
    con: duckdb.DuckDBPyConnection, landing: Path, run_id: str, **kwargs: Any
) -> list[claim.Claim]:
    return claim.claim_files(
        con,
        landing=landing,
        archive_dir=landing.parent / "archive",
        run_id=run_id,
        run_key=run_id,
        **kwargs,
    )


def file_stats(con: duckdb.DuckDBPyConnection, run_id: str, source_file: str, error: str | None) -> None:
    con.execute(
        "INSERT INTO audit.file_stats (run_id, entity, source_file, rows_read, rows_valid, "
        "rows_quarantined, error) VALUES (?, 'transactions', ?, 1, 0, 1, ?)",
        [run_id, source_file, error],
    )


def processed_files(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT regexp_extract(source_file, '[^/]+$'), run_id, status, settings_sha256, attempt "
        "FROM audit.processed_files ORDER BY ALL"
    ).fetchall()


def test_a_file_rejected_whole_is_claimed_again_only_after_the_settings_change(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    first = run_claims(con, landing, "r1", settings_sha256=SETTINGS_A)
    bad, good = (c.source_file for c in sorted(first, key=lambda c: c.source_file))
    file_stats(con, "r1", bad, f"{bad}: missing required column transaction_id")
    file_stats(con, "r1", good, None)
    assert claim.mark_processed(con, "r1") == 2
    assert processed_files(con) == [
        ("bad.csv", "r1", "rejected", SETTINGS_A, 1),
        ("good.csv", "r1", "processed", SETTINGS_A, 1),
    ]
    assert [a.source_file for a in claim.rejected_files(con)] == [bad]

    assert run_claims(con, landing, "r2", settings_sha256=SETTINGS_A) == []

    again = run_claims(con, landing, "r3", settings_sha256=SETTINGS_B)
    assert [(c.source_file, c.attempt) for c in again] == [(bad, 2)]
    assert Path(again[0].archive_path) == landing.parent / "archive" / "r3" / "transactions" / "bad.csv"
    assert processed_files(con)[:2] == [
        ("bad.csv", "r1", "rejected", SETTINGS_A, 1),
        ("bad.csv", "r3", "claimed", SETTINGS_B, 2),
    ]
    file_stats(con, "r3", bad, None)
    claim.mark_processed(con, "r3")
    assert claim.rejected_files(con) == []
    assert run_claims(con, landing, "r4", settings_sha256="c" * 64) == []


def test_reprocess_claims_the_archived_copy_of_the_latest_attempt(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    first = run_claims(con, landing, "r1")
    claim.mark_processed(con, "r1")
    good = next(c for c in first if c.source_file.endswith("good.csv"))
    Path(good.source_file).unlink()  # the landing folder need not keep it
    again = run_claims(con, landing, "r2", reprocess=[good.source_file])
    assert [(c.source_file, c.attempt) for c in again] == [(good.source_file, 2)]
    assert again[0].archive_path == str(landing.parent / "archive" / "r2" / "transactions" / "good.csv")
    assert Path(again[0].archive_path).read_bytes() == Path(good.archive_path).read_bytes()
    claim.mark_processed(con, "r2")
    third = run_claims(con, landing, "r3", reprocess=[good.source_file])
    assert [(c.archive_path, c.attempt) for c in third] == [
        (str(landing.parent / "archive" / "r3" / "transactions" / "good.csv"), 3)
    ]
    with pytest.raises(ValueError, match="not claimed by any run"):
        run_claims(con, landing, "r4", reprocess=[str(landing / "transactions" / "never.csv")])


def test_a_claim_left_by_a_run_that_died_is_taken_over_and_a_rerun_keeps_its_claims(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    first = run_claims(con, landing, "r1")
    for c in first:
        file_stats(con, "r1", c.source_file, None)
    taken = run_claims(con, landing, "r2")
    assert sorted((c.source_file, c.attempt) for c in taken) == sorted((c.source_file, 1) for c in first)
    assert {r[1] for r in processed_files(con)} == {"r2"}
    assert con.execute("SELECT count(*) FROM audit.file_stats WHERE run_id = 'r1'").fetchone() == (0,)

    (landing / "transactions" / "later.csv").write_text("transaction_id,transaction_ts\nT3,2025-01-02\n")
    assert run_claims(con, landing, "r2") == taken
    # A copy gone from the archive is copied again from the landing file, if that is unchanged.
    Path(taken[0].archive_path).unlink()
    assert run_claims(con, landing, "r2") == taken
    assert Path(taken[0].archive_path).read_bytes() == Path(taken[0].source_file).read_bytes()


def test_reprocess_without_the_bytes_any_more_says_what_to_do(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    first = run_claims(con, landing, "r1")
    claim.mark_processed(con, "r1")
    good = next(c for c in first if c.source_file.endswith("good.csv"))
    Path(good.archive_path).unlink()
    Path(good.source_file).write_text("transaction_id,transaction_ts\nT1,2025-01-09\n")
    with pytest.raises(FileNotFoundError, match="land the file again"):
        run_claims(con, landing, "r2", reprocess=[good.source_file])
    assert con.execute("SELECT count(*) FROM audit.processed_files WHERE run_id = 'r2'").fetchone() == (0,)


# --- the load of a file claimed again ------------------------------------------------------------


def write_table(folder: Path, qualified: str, rows: list[dict[str, Any]]) -> None:
    """Parquet of `rows` with every column of the table's schema, as the Spark job writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as scratch:
        scratch.execute("SET TimeZone = 'UTC'")
        scratch.execute(warehouse.create_table_sql(catalog.table(qualified), "t"))
        for row in rows:
            names = ", ".join(row)
            scratch.execute(
                f"INSERT INTO t ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values())
            )
        scratch.execute(f"COPY t TO '{folder / 'part-0.parquet'}' (FORMAT parquet)")


def order(source_file: str, record: int, run_id: str, day: int) -> dict[str, Any]:
    return {
        "transaction_id": f"T{record}",
        "transaction_ts": datetime(2025, 1, day, 12, tzinfo=UTC),
        "customer_id": "C1",
        "quantity": 1,
        "amount": 10,
        "currency": "USD",
        "status": "completed",
        "source_file": source_file,
        "record_number": record,
        "run_id": run_id,
    }


def rejected(source_file: str, record: int, run_id: str, reason: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "entity": "transactions",
        "source_file": source_file,
        "record_number": record,
        "reason": reason,
    }


def job_output(
    folder: Path, source_file: str, run_id: str, valid: list[dict[str, Any]], bad: list[dict[str, Any]]
) -> Path:
    write_table(folder / "silver" / "transactions", "silver.transactions", valid)
    write_table(folder / "quarantine", "audit.quarantine", bad)
    write_table(
        folder / "file_stats",
        "audit.file_stats",
        [
            {
                "run_id": run_id,
                "entity": "transactions",
                "source_file": source_file,
                "rows_read": len(valid) + len(bad),
                "rows_valid": len(valid),
                "rows_quarantined": len(bad),
            }
        ],
    )
    return folder


def test_the_load_of_a_file_claimed_again_replaces_what_its_earlier_attempt_left(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path
) -> None:
    (landing / "transactions" / "bad.csv").unlink()
    (x,) = run_claims(con, landing, "r1")
    # Attempt 1: records 1 and 2 valid (days 1 and 2), record 3 in the future.
    out1 = job_output(
        tmp_path / "job1",
        x.source_file,
        "r1",
        [order(x.source_file, 1, "r1", 1), order(x.source_file, 2, "r1", 2)],
        [rejected(x.source_file, 3, "r1", "FUTURE_TIMESTAMP")],
    )
    first = silver_load.load_run(con, out1, "r1")
    assert first["affected_days"] == ["2025-01-01", "2025-01-02"]
    claim.mark_processed(con, "r1")
    silver_load.mark_days_built(con, [date(2025, 1, 1), date(2025, 1, 2)])

    # Attempt 2 of the same bytes under other settings: record 2 now rejected, record 3 valid.
    run_claims(con, landing, "r2", reprocess=[x.source_file])
    assert claim.retried_files(con, "r2") == [x.source_file]
    out2 = job_output(
        tmp_path / "job2",
        x.source_file,
        "r2",
        [order(x.source_file, 1, "r2", 1), order(x.source_file, 3, "r2", 3)],
        [rejected(x.source_file, 2, "r2", "BAD_DATE")],
    )
    second = silver_load.load_run(con, out2, "r2")
    # Day 2 lost its row: it is rebuilt too.
    assert second["affected_days"] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    rows = con.execute(
        "SELECT record_number, 'silver', run_id FROM silver.transactions UNION ALL "
        "SELECT record_number, reason, run_id FROM audit.quarantine ORDER BY ALL"
    ).fetchall()
    assert rows == [(1, "silver", "r2"), (2, "BAD_DATE", "r2"), (3, "silver", "r2")]
    index = con.execute("SELECT * FROM silver.transaction_keys ORDER BY ALL").fetchall()
    assert index == sorted(
        tuple(r.values()) for r in warehouse.fetch_dicts(con, "silver/transaction_keys.sql")
    )
    assert len(index) == 2
    stats = con.execute("SELECT run_id, rows_valid FROM audit.file_stats ORDER BY run_id").fetchall()
    assert stats == [("r1", 2), ("r2", 2)]

    # The same attempt loaded again (a third run, same settings) changes no row but the run ids.
    claim.mark_processed(con, "r2")
    (third,) = run_claims(con, landing, "r3", reprocess=[x.source_file])
    assert third.attempt == 3
    out3 = tmp_path / "job3"
    job_output(
        out3,
        x.source_file,
        "r3",
        [order(x.source_file, 1, "r3", 1), order(x.source_file, 3, "r3", 3)],
        [rejected(x.source_file, 2, "r3", "BAD_DATE")],
    )
    silver_load.load_run(con, out3, "r3")
    assert con.execute(
        "SELECT record_number, 'silver' FROM silver.transactions UNION ALL "
        "SELECT record_number, reason FROM audit.quarantine ORDER BY ALL"
    ).fetchall() == [(r[0], r[1]) for r in rows]
    assert con.execute("SELECT * FROM silver.transaction_keys ORDER BY ALL").fetchall() == index


def test_rows_of_another_content_at_the_same_path_stay(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path
) -> None:
    (landing / "transactions" / "bad.csv").unlink()
    (v1,) = run_claims(con, landing, "r1")
    silver_load.load_run(
        con,
        job_output(tmp_path / "j1", v1.source_file, "r1", [order(v1.source_file, 1, "r1", 1)], []),
        "r1",
    )
    claim.mark_processed(con, "r1")
    # A new content lands at the same path (its record 1 is another order), then is reprocessed.
    Path(v1.source_file).write_text("transaction_id,transaction_ts\nT9,2025-01-05\n")
    (v2,) = run_claims(con, landing, "r2")
    assert v2.attempt == 2
    assert v2.content_sha256 != v1.content_sha256
    v2_order = {**order(v2.source_file, 1, "r2", 5), "transaction_id": "T9"}
    silver_load.load_run(con, job_output(tmp_path / "j2", v2.source_file, "r2", [v2_order], []), "r2")
    claim.mark_processed(con, "r2")
    (v2_again,) = run_claims(con, landing, "r3", reprocess=[v2.source_file])
    assert v2_again.content_sha256 == v2.content_sha256
    silver_load.load_run(
        con,
        job_output(tmp_path / "j3", v2.source_file, "r3", [{**v2_order, "run_id": "r3"}], []),
        "r3",
    )
    assert con.execute("SELECT transaction_id, run_id FROM silver.transactions ORDER BY 1").fetchall() == [
        ("T1", "r1"),
        ("T9", "r3"),
    ]


def test_a_warehouse_from_before_the_conversion_is_converted_once(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path
) -> None:
    """Orders loaded before `amount_reporting` existed (the column added empty) get converted, and
    their days rebuilt, by the next load: never counted as nothing by a restated gold."""
    (landing / "transactions" / "bad.csv").unlink()
    (x,) = run_claims(con, landing, "r1")
    silver_load.load_run(
        con, job_output(tmp_path / "j1", x.source_file, "r1", [order(x.source_file, 1, "r1", 4)], []), "r1"
    )
    claim.mark_processed(con, "r1")
    silver_load.mark_days_built(con, [date(2025, 1, 4)])
    con.execute("UPDATE silver.transactions SET amount_reporting = NULL")  # as ensure_tables adds it

    empty = job_output(tmp_path / "j2", x.source_file, "r2", [], [])
    first = silver_load.load_run(con, empty, "r2")
    assert first["affected_days"] == ["2025-01-04"]
    assert con.execute("SELECT amount_reporting FROM silver.transactions").fetchall() == [(10,)]
    again = silver_load.load_run(con, job_output(tmp_path / "j3", x.source_file, "r3", [], []), "r3")
    assert again["affected_days"] == ["2025-01-04"]  # not built yet: still pending, not unconverted
    silver_load.mark_days_built(con, [date(2025, 1, 4)])
    assert silver_load.unconverted_days(con, plan.currency_parameters()) == []


def test_each_file_claimed_again_keeps_only_its_own_other_versions(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path
) -> None:
    """The run that claimed another content of one file claimed the other file's same bytes: its
    rows of the first file stay, of the second they give way."""
    (landing / "transactions" / "bad.csv").write_text("transaction_id,transaction_ts\nT2,2025-01-02\n")
    a, b = sorted(c.source_file for c in run_claims(con, landing, "r1"))
    r1_rows = [order(a, 1, "r1", 1), {**order(b, 1, "r1", 2), "transaction_id": "T2"}]
    silver_load.load_run(con, job_output(tmp_path / "j1", a, "r1", r1_rows, []), "r1")
    claim.mark_processed(con, "r1")
    Path(a).write_text("transaction_id,transaction_ts\nT5,2025-01-05\n")
    assert [c.attempt for c in run_claims(con, landing, "r2")] == [2]
    a2_order = {**order(a, 1, "r2", 5), "transaction_id": "T5"}
    silver_load.load_run(con, job_output(tmp_path / "j2", a, "r2", [a2_order], []), "r2")
    claim.mark_processed(con, "r2")

    run_claims(con, landing, "r3", reprocess=[a, b])
    assert claim.retried_files(con, "r3") == [a, b]
    assert claim.withdrawn_days(con, "r3") == [date(2025, 1, 2), date(2025, 1, 5)]
    warehouse.execute_file(con, plan.BEGIN_SQL)
    taken = claim.withdraw_earlier_attempts(con, "r3")
    rows = con.execute("SELECT transaction_id, run_id FROM silver.transactions ORDER BY 1").fetchall()
    con.rollback()
    assert taken["silver.transactions"] == 2
    assert rows == [("T1", "r1")]

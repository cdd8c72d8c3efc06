"""The run-health page on a real DuckDB warehouse: what it says about freshness, the run's checks,
the latest runs and the quarantine, and that a browser shows it from `file://` without errors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from browser import chrome, console_errors

from pipeline import health_page, local_pages, warehouse

RUN = "scheduled__2025-03-05T02:00:00+00:00"
EARLIER = ("scheduled__2025-03-03T02:00:00+00:00", "scheduled__2025-03-04T02:00:00+00:00")


def _warehouse(path: Path) -> Path:
    with warehouse.connect(path) as con:
        con.executemany(
            "INSERT INTO silver.transactions (transaction_id, transaction_ts, customer_id, quantity, amount, "
            "currency, status, source_file, record_number, run_id) VALUES (?, ?, 'C1', 1, 10, 'USD', "
            "'completed', 'tx.csv', ?, ?)",
            [
                ("T1", datetime(2025, 3, 2, 9, 30), 1, EARLIER[0]),
                ("T2", datetime(2025, 3, 4, 17, 45, 12), 2, RUN),
            ],
        )
        con.executemany(
            "INSERT INTO audit.pipeline_runs (run_id, logical_date, target, files, rows_read, rows_valid, "
            "rows_quarantined, outcome) VALUES (?, ?, 'local', ?, ?, ?, ?, ?)",
            [
                (EARLIER[0], date(2025, 3, 3), 2, 1200, 1180, 20, "warning"),
                (EARLIER[1], date(2025, 3, 4), 0, 0, 0, 0, "success"),
            ],
        )
        con.executemany(
            "INSERT INTO audit.dq_results VALUES (?, ?, ?, ?, ?, ?)",
            [
                (RUN, "freshness", "warn", False, 1, "no transaction on or after 2025-03-03"),
                (RUN, "silver_transactions_key_unique", "error", True, 0, None),
                (EARLIER[0], "orphan_customers", "warn", False, 3, "3 unknown customers"),
            ],
        )
        con.executemany(
            "INSERT INTO audit.quarantine (run_id, entity, source_file, record_number, reason) "
            "VALUES (?, 'transactions', ?, ?, ?)",
            [
                (EARLIER[0], "/in/transactions/pos_march.csv", 4, "BAD_AMOUNT"),
                (EARLIER[0], "/in/transactions/pos_march.csv", 9, "BAD_AMOUNT"),
                (RUN, "/in/transactions/crm.csv", 2, "FUTURE_TIMESTAMP"),
            ],
        )
    return path


def test_the_page_tells_freshness_this_runs_checks_the_latest_runs_and_the_quarantine(tmp_path: Path) -> None:
    db = _warehouse(tmp_path / "warehouse.duckdb")
    page = health_page.render(db, tmp_path / "dashboard", run_id=RUN, run_date=date(2025, 3, 5))
    browser = chrome()
    try:
        browser.get(page.as_uri())
        text = browser.find_element("tag name", "body").text
        sections = {
            s: browser.find_element("id", s).find_element("xpath", "following-sibling::*[1]").text
            for s in ("freshness", "checks", "runs", "quarantine")
        }
        status = browser.find_element("id", "checks").text
        assert console_errors(browser) == []
    finally:
        browser.quit()
    assert "Latest transaction: 2025-03-04 17:45:12" in text
    # This run's own results (it is not in audit.pipeline_runs yet), the failed warning first.
    assert status.endswith("warnings")
    assert sections["checks"].splitlines()[1].startswith("freshness warn failed 1")
    assert "orphan_customers" not in sections["checks"]
    runs = sections["runs"].splitlines()
    assert runs[1].startswith(f"2025-03-04 {EARLIER[1]} success")
    assert runs[2].startswith(f"2025-03-03 {EARLIER[0]} warning 2 1,200 1,180 20")
    quarantine = sections["quarantine"].splitlines()
    assert quarantine[1] == f"this run {RUN} FUTURE_TIMESTAMP /in/transactions/crm.csv 1"
    assert quarantine[2] == f"2025-03-03 {EARLIER[0]} BAD_AMOUNT /in/transactions/pos_march.csv 2"


def test_an_empty_warehouse_says_so_instead_of_failing(tmp_path: Path) -> None:
    with warehouse.connect(tmp_path / "warehouse.duckdb"):
        pass
    page = health_page.render(tmp_path / "warehouse.duckdb", tmp_path, run_id=RUN, run_date=date(2025, 3, 5))
    text = page.read_text(encoding="utf-8")
    for expected in ("none in the last 400 days", "No run recorded yet.", "No row was ever quarantined."):
        assert expected in text


def test_the_page_lists_the_newest_runs_only(tmp_path: Path) -> None:
    runs = [(f"scheduled__2025-02-{day:02d}T02:00:00+00:00", date(2025, 2, day)) for day in range(1, 26)]
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        con.executemany(
            "INSERT INTO audit.pipeline_runs (run_id, logical_date, target, files, rows_read, rows_valid, "
            "rows_quarantined, outcome) VALUES (?, ?, 'local', 1, 10, 10, 0, 'success')",
            runs,
        )
        data = health_page.load(local_pages.warehouse_fetch(con), run_id=RUN, run_date=date(2025, 3, 5))
    listed = [r["run_id"] for r in data["latest_runs"]]
    assert listed == [run_id for run_id, _ in reversed(runs)][: health_page.LATEST_RUNS]

"""The data docs: what sqlglot's lineage finds in the gold SQL, and the pages as a browser shows them."""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Any

from browser import chrome, console_errors

from pipeline import data_docs
from spark import contract
from sql import catalog


def test_revenue_comes_from_the_silver_amount_and_the_raw_names_the_contract_reads_into_it() -> None:
    # Completed orders only: the status decides which amounts count; in the reporting currency.
    assert data_docs.column_sources("gold.aov_daily.revenue") == {
        "silver.transactions.amount_reporting",
        "silver.transactions.status",
    }
    # The amount converted by the silver load: the raw names of `amount`.
    assert data_docs.raw_names("silver.transactions.amount_reporting") == data_docs.raw_names(
        "silver.transactions.amount"
    )
    raw = data_docs.raw_names("silver.transactions.amount")
    assert raw[0] == "amount"
    assert {"total", "order_total"} <= set(raw)
    # Each of them is what the cleaning job reads into `amount`.
    assert {contract.canonical_column("transactions", name) for name in raw} == {"amount"}
    assert data_docs.raw_names("silver.transactions.ingested_at") == []  # added by the job


def test_a_column_read_through_another_gold_table_resolves_to_silver() -> None:
    assert data_docs.column_sources("gold.peak_hours.revenue") == {"silver.transactions.amount_reporting"}
    for table in catalog.tables("gold"):
        for column in table.column_names:
            assert all(
                s.startswith("silver.") for s in data_docs.column_sources(f"{table.qualified_name}.{column}")
            )


def test_every_table_has_a_page_with_its_columns_writers_and_checks(tmp_path: Path) -> None:
    data_docs.write(tmp_path)
    index = (tmp_path / data_docs.INDEX_FILE).read_text(encoding="utf-8")
    for table in catalog.tables():
        assert f'href="{table.qualified_name}.html"' in index
        page = (tmp_path / f"{table.qualified_name}.html").read_text(encoding="utf-8")
        for f in table.fields:
            assert f"<code>{f.name}</code>" in page
            assert html.escape(f.description) in page
    silver = (tmp_path / "silver.transactions.html").read_text(encoding="utf-8")
    assert "sql/checks/silver_transactions_key_unique.sql" in silver
    assert "silver/transactions_merge.sql" in silver
    assert "spark/job.py" in silver


def test_a_person_sees_the_lineage_graph_from_file_without_errors(tmp_path: Path) -> None:
    data_docs.write(tmp_path)
    browser = chrome()
    try:
        browser.get((tmp_path / "gold.aov_daily.html").as_uri())
        graph = browser.find_element("css selector", "svg.lineage").text
        assert console_errors(browser) == []
    finally:
        browser.quit()
    # Raw names, the silver column, the gold column: the path of `revenue` read left to right.
    for label in ("order_total", "silver.transactions.amount", "revenue"):
        assert label in graph


def test_the_pages_are_made_again_when_a_sql_file_changes(tmp_path: Path, monkeypatch: Any) -> None:
    """Made once per fingerprint and copied after; a changed SQL file is a new fingerprint."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sql_dir = tmp_path / "sql"
    shutil.copytree(catalog.SQL_DIR, sql_dir, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(catalog, "SQL_DIR", sql_dir)
    monkeypatch.setattr(catalog, "SCHEMAS_DIR", sql_dir / "schemas")
    for cached in (data_docs._parsed, data_docs._schema, data_docs.column_sources, catalog.table):
        cached.cache_clear()
    try:
        before = data_docs.fingerprint()
        data_docs.write(tmp_path / "first")
        aov = sql_dir / "gold" / "aov_daily.sql"
        aov.write_text("-- Revenue per day and channel, restated.\n" + aov.read_text(), encoding="utf-8")
        data_docs._parsed.cache_clear()
        assert data_docs.fingerprint() != before
        data_docs.write(tmp_path / "second")
    finally:
        for cached in (data_docs._parsed, data_docs._schema, data_docs.column_sources, catalog.table):
            cached.cache_clear()
    assert "restated" not in (tmp_path / "first" / "gold.aov_daily.html").read_text(encoding="utf-8")
    assert "restated" in (tmp_path / "second" / "gold.aov_daily.html").read_text(encoding="utf-8")
    assert len(list((tmp_path / "cache" / "cdi").glob("data-docs-*"))) == 2

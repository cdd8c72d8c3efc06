"""The local dashboard refresh: PNGs and a page drawn from the gold tables of a tiny warehouse."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest
from matplotlib import image

from pipeline import dashboard, warehouse

RUN_ID = "manual__2025-01-03T00:00:00+00:00"
PNGS = ["aov_daily.png", "customer_rfm.png", "peak_hours.png", "agent_performance.png"]

AOV_DAILY = [
    # order_date, channel, orders, revenue, aov, refunded_amount, cancelled_amount
    (date(2025, 1, 1), "online", 10, "1234.50", "123.45", "20.00", "0.00"),
    (date(2025, 1, 1), "store", 4, "100.00", "25.00", "0.00", "15.00"),
    (date(2025, 1, 2), "online", 5, "500.25", "100.05", "0.00", "0.00"),
    (date(2025, 1, 2), "unknown", 1, "9.99", "9.99", "0.00", "0.00"),
]
CUSTOMER_RFM = [
    # customer_id, as_of_date, recency_days, frequency, monetary, r, f, m, segment
    ("C1", date(2025, 1, 3), 1, 6, "900.00", 5, 5, 5, "Champions"),
    ("C2", date(2025, 1, 3), 1, 5, "700.00", 5, 4, 4, "Champions"),
    ("C3", date(2025, 1, 3), 2, 2, "150.00", 3, 3, 3, "Loyal"),
    ("C4", date(2025, 1, 3), 2, 1, "60.00", 2, 2, 2, "Hibernating"),
    ("C5", date(2025, 1, 3), 2, 1, "40.00", 1, 1, 1, "Hibernating"),
    ("C6", date(2025, 1, 3), 2, 1, "20.00", 1, 1, 1, "Hibernating"),
]
AGENT_PERFORMANCE = [
    # order_date, agent_id, agent_name, orders, revenue, aov, distinct_customers, refund_rate, rank_in_day
    (date(2025, 1, 1), "A001", "Zoé Durand", 3, "300.00", "100.00", 3, 0.0, 1),
    (date(2025, 1, 1), "A002", None, 1, "50.00", "50.00", 1, 0.5, 2),
    (date(2025, 1, 2), "A001", "Zoé Durand", 2, "80.00", "40.00", 2, 0.0, 2),
    (date(2025, 1, 2), "A003", "Bram Visser", 2, "95.50", "47.75", 2, None, 1),
]
PEAK = {(3, 12): (42, "2100.00"), (6, 19): (17, "850.50"), (1, 9): (3, "30.00")}


def build_warehouse(path: Path) -> Path:
    with warehouse.connect(path) as con:
        con.executemany("INSERT INTO gold.aov_daily VALUES (?, ?, ?, ?, ?, ?, ?)", AOV_DAILY)
        con.executemany("INSERT INTO gold.customer_rfm VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", CUSTOMER_RFM)
        con.executemany(
            "INSERT INTO gold.agent_performance VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", AGENT_PERFORMANCE
        )
        con.executemany(
            "INSERT INTO gold.peak_hours VALUES (?, ?, ?, ?)",
            [(d, h, *PEAK.get((d, h), (0, "0.00"))) for d in range(1, 8) for h in range(24)],
        )
    return path


def assert_valid_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(data) > 8_000, f"{path.name} is only {len(data)} bytes"
    pixels = image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= 600
    assert height >= 250
    assert pixels.std() > 0.01, f"{path.name} is blank"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], str]:
    root = tmp_path_factory.mktemp("dashboard")
    paths = dashboard.render(build_warehouse(root / "w.duckdb"), root / "dashboard", run_id=RUN_ID)
    return paths, (root / "dashboard" / "index.html").read_text(encoding="utf-8")


def table_row(page: str, first_cell: str) -> list[str]:
    """The cells of the first table row starting with `first_cell`."""
    match = re.search(rf"<tr><td>{re.escape(first_cell)}</td>(.*?)</tr>", page)
    assert match, f"no row {first_cell!r}"
    return [first_cell, *re.findall(r"<td>(.*?)</td>", match.group(1))]


def test_render_writes_four_pngs_then_the_page(rendered: tuple[list[Path], str]) -> None:
    paths, _ = rendered
    out = paths[0].parent
    assert paths == [out / name for name in [*PNGS, "index.html"]]
    assert sorted(p.name for p in out.iterdir()) == sorted([*PNGS, "index.html"])  # no temporary files left
    for png in paths[:-1]:
        assert_valid_png(png)


def test_the_page_shows_every_figure_and_the_run_id(rendered: tuple[list[Path], str]) -> None:
    _, page = rendered
    assert page.startswith("<!DOCTYPE html>")
    for name in PNGS:
        assert f'<img src="{name}"' in page
    assert f'<code id="run-id">{html.escape(RUN_ID)}</code>' in page
    assert "No rows in" not in page


def test_the_tables_carry_the_figures_numbers(rendered: tuple[list[Path], str]) -> None:
    _, page = rendered
    # aov_daily: channel totals over both days, then the day totals.
    assert table_row(page, "online") == ["online", "15", "1,734.75", "115.65", "20.00", "0.00"]
    assert table_row(page, "2025-01-01") == ["2025-01-01", "14", "1,334.50", "95.32", "20.00", "15.00"]
    assert table_row(page, "unknown")[2] == "9.99"
    # customer_rfm: segments by size.
    assert table_row(page, "Hibernating") == ["Hibernating", "3", "50.0%", "120.00", "2.0", "1.0", "40.00"]
    assert table_row(page, "Champions")[:4] == ["Champions", "2", "33.3%", "1,600.00"]
    # peak_hours: the busiest hour first.
    assert table_row(page, "Wed")[:4] == ["Wed", "12:00", "42", "2,100.00"]
    # agent_performance: by revenue over all days; an agent without a name shows its id only.
    assert table_row(page, "1")[1:7] == ["A001", "Zoé Durand", "2", "5", "380.00", "76.00"]
    assert table_row(page, "3")[1:3] == ["A002", ""]
    # headline figures
    assert "<li>completed orders<b>20</b></li>" in page
    assert "<li>revenue<b>1,844.74</b></li>" in page


def test_a_rerun_writes_the_same_bytes_and_leaves_the_warehouse_untouched(
    rendered: tuple[list[Path], str],
) -> None:
    first, _ = rendered
    path = first[0].parent.parent / "w.duckdb"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    second = dashboard.render(path, first[0].parent.parent / "again", run_id=RUN_ID)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    for a, b in zip(first, second, strict=True):
        assert a.name == b.name
        assert a.read_bytes() == b.read_bytes(), a.name


def test_an_empty_warehouse_gets_empty_state_figures(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    warehouse.connect(path).close()  # every table, no rows
    paths = dashboard.render(path, tmp_path / "out", run_id=RUN_ID)
    assert [p.name for p in paths] == [*PNGS, "index.html"]
    for png in paths[:-1]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 3_000
    page = paths[-1].read_text(encoding="utf-8")
    for table in ("aov_daily", "customer_rfm", "peak_hours", "agent_performance"):
        assert f"No rows in gold.{table} yet." in page
    assert "<li>completed orders<b>0</b></li>" in page


def test_a_warehouse_without_gold_tables_renders_too(tmp_path: Path) -> None:
    path = tmp_path / "bare.duckdb"
    duckdb.connect(str(path)).close()
    paths = dashboard.render(path, tmp_path / "out", run_id=RUN_ID)
    assert "No rows in gold.peak_hours yet." in paths[-1].read_text(encoding="utf-8")


def test_a_missing_warehouse_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no warehouse"):
        dashboard.render(tmp_path / "absent.duckdb", tmp_path / "out", run_id=RUN_ID)
    assert not (tmp_path / "out").exists()


def test_the_run_id_is_escaped(tmp_path: Path) -> None:
    path = build_warehouse(tmp_path / "w.duckdb")
    paths = dashboard.render(path, tmp_path / "out", run_id="<b>odd & run</b>")
    page = paths[-1].read_text(encoding="utf-8")
    assert "&lt;b&gt;odd &amp; run&lt;/b&gt;" in page
    assert "<b>odd" not in page

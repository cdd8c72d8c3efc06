"""The local dashboard refresh: the four public gold tables drawn as PNGs, with one static page.

`render(warehouse_path, out_dir, run_id=...)` reads `gold.aov_daily`, `gold.customer_rfm`,
`gold.peak_hours` and `gold.agent_performance` (their fixed public columns only) from the DuckDB
warehouse, read-only, and writes into `out_dir`:

- `aov_daily.png`: daily completed revenue by channel (stacked) and average order value by channel;
- `customer_rfm.png`: customers and revenue per RFM segment, as of the latest `as_of_date`;
- `peak_hours.png`: completed orders by ISO day of week and hour of day (reporting time zone);
- `agent_performance.png`: the top agents by completed revenue over all days;
- `index.html`: the four figures with the run id and the numbers behind each figure in tables.

File names never change, and nothing on the page depends on the clock, so a rerun of the same run
on the same warehouse writes the same page. A table without rows gets an empty-state figure.
"""

from __future__ import annotations

import html
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import StrMethodFormatter

from pipeline import warehouse
from sql import catalog

GOLD_TABLES = ("aov_daily", "customer_rfm", "peak_hours", "agent_performance")
# The public columns of each gold table (the interface; more may exist, these stay).
PUBLIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "aov_daily": ("order_date", "channel", "orders", "revenue", "aov", "refunded_amount", "cancelled_amount"),
    "customer_rfm": (
        "customer_id",
        "as_of_date",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "segment",
    ),
    "peak_hours": ("day_of_week", "hour_of_day", "orders", "revenue"),
    "agent_performance": (
        "order_date",
        "agent_id",
        "agent_name",
        "orders",
        "revenue",
        "aov",
        "distinct_customers",
        "refund_rate",
        "rank_in_day",
    ),
}
INDEX_FILE = "index.html"
DOCS_DIR = "docs"
HEALTH_FILE = "health.html"
"""The run-health page (`pipeline.health_page`), beside the dashboard's page."""
"""The data docs (`pipeline.data_docs`), under the dashboard folder and linked from its page."""
TOP_AGENTS = 10
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Fixed colours so a channel keeps its colour from one refresh to the next.
CHANNEL_COLORS = {
    "online": "#1f77b4",
    "store": "#2ca02c",
    "phone": "#ff7f0e",
    "marketplace": "#9467bd",
    "unknown": "#7f7f7f",
}
_EXTRA_COLORS = ("#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728")
_DPI = 100
_THOUSANDS = "{x:,.0f}"

Row = dict[str, Any]


@dataclass(frozen=True)
class _Table:
    title: str
    headers: tuple[str, ...]
    rows: Sequence[Sequence[str]]
    collapsed: bool = False


@dataclass
class _Section:
    name: str
    title: str
    caption: str
    figure: Figure
    tables: list[_Table] = field(default_factory=list)
    empty_table: str | None = None
    """The gold table this section reads, when it has no rows."""

    @property
    def png(self) -> str:
        return f"{self.name}.png"


# --- reading ---------------------------------------------------------------------------------


def _read(con: duckdb.DuckDBPyConnection, name: str) -> list[Row]:
    """The public columns of `gold.<name>`; no rows when the table does not exist yet."""
    table = catalog.table(f"gold.{name}")
    columns = [c for c in PUBLIC_COLUMNS[name] if c in table.column_names]
    try:
        cursor = con.execute(f"SELECT {', '.join(columns)} FROM {table.qualified_name}")
    except duckdb.CatalogException:
        return []
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


# --- formatting ------------------------------------------------------------------------------


def _money(value: Decimal | float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _ratio(numerator: Decimal, denominator: int) -> Decimal | None:
    return (numerator / denominator).quantize(Decimal("0.01")) if denominator else None


def _dec(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def _channel_color(channel: str, others: list[str]) -> str:
    if channel in CHANNEL_COLORS:
        return CHANNEL_COLORS[channel]
    return _EXTRA_COLORS[others.index(channel) % len(_EXTRA_COLORS)]


def _empty_figure(title: str, table: str) -> Figure:
    fig = Figure(figsize=(10, 3), dpi=_DPI)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, loc="left", fontsize=13)
    ax.text(0.5, 0.5, f"No rows in {table} yet", ha="center", va="center", fontsize=14, color="#777777")
    return fig


# --- sections --------------------------------------------------------------------------------


def _aov_daily_section(rows: list[Row]) -> _Section:
    title = "Daily revenue and average order value by channel"
    caption = "Completed orders per UTC day (gold.aov_daily); orders without a channel count as unknown."
    if not rows:
        return _Section(
            "aov_daily", title, caption, _empty_figure(title, "gold.aov_daily"), empty_table="gold.aov_daily"
        )
    days = sorted({r["order_date"] for r in rows})
    by_volume: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_volume[r["channel"]] += _dec(r["revenue"])
    channels = sorted(by_volume, key=lambda c: (-by_volume[c], c))
    others = sorted(c for c in channels if c not in CHANNEL_COLORS)
    cell = {(r["order_date"], r["channel"]): r for r in rows}

    fig = Figure(figsize=(11, 7), dpi=_DPI, layout="constrained")
    revenue_ax, aov_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    x = np.arange(len(days))
    bottom = np.zeros(len(days))
    for channel in channels:
        heights = np.array([float(_dec(cell.get((d, channel), {}).get("revenue"))) for d in days])
        revenue_ax.bar(x, heights, bottom=bottom, label=channel, color=_channel_color(channel, others))
        bottom += heights
        aov = [cell.get((d, channel), {}).get("aov") for d in days]
        aov_ax.plot(
            x,
            [np.nan if v is None else float(v) for v in aov],
            marker="o",
            markersize=3,
            label=channel,
            color=_channel_color(channel, others),
        )
    overall = []
    for d in days:
        day_orders = sum(int(cell[(d, c)]["orders"]) for c in channels if (d, c) in cell)
        day_revenue = sum((_dec(cell[(d, c)]["revenue"]) for c in channels if (d, c) in cell), Decimal(0))
        overall.append(float(day_revenue) / day_orders if day_orders else np.nan)
    aov_ax.plot(x, overall, linestyle="--", color="#000000", linewidth=1.5, label="all channels")
    revenue_ax.set_title(title, loc="left", fontsize=13)
    revenue_ax.set_ylabel("revenue")
    revenue_ax.yaxis.set_major_formatter(StrMethodFormatter(_THOUSANDS))
    revenue_ax.legend(title="channel", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    revenue_ax.grid(axis="y", alpha=0.3)
    aov_ax.set_ylabel("average order value")
    aov_ax.legend(handles=aov_ax.get_lines()[-1:], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    aov_ax.grid(axis="y", alpha=0.3)
    step = max(1, len(days) // 15)
    aov_ax.set_xticks(x[::step], [d.isoformat() for d in days[::step]], rotation=45, ha="right", fontsize=8)

    per_channel = []
    for channel in channels:
        mine = [r for r in rows if r["channel"] == channel]
        orders = sum(int(r["orders"]) for r in mine)
        revenue = sum((_dec(r["revenue"]) for r in mine), Decimal(0))
        per_channel.append(
            (
                channel,
                _count(orders),
                _money(revenue),
                _money(_ratio(revenue, orders)),
                _money(sum((_dec(r["refunded_amount"]) for r in mine), Decimal(0))),
                _money(sum((_dec(r["cancelled_amount"]) for r in mine), Decimal(0))),
            )
        )
    per_day = []
    for day in days:
        mine = [r for r in rows if r["order_date"] == day]
        orders = sum(int(r["orders"]) for r in mine)
        revenue = sum((_dec(r["revenue"]) for r in mine), Decimal(0))
        per_day.append(
            (
                day.isoformat(),
                _count(orders),
                _money(revenue),
                _money(_ratio(revenue, orders)),
                _money(sum((_dec(r["refunded_amount"]) for r in mine), Decimal(0))),
                _money(sum((_dec(r["cancelled_amount"]) for r in mine), Decimal(0))),
            )
        )
    headers = ("orders", "revenue", "AOV", "refunded", "cancelled")
    return _Section(
        "aov_daily",
        title,
        caption,
        fig,
        [
            _Table("Per channel, all days", ("channel", *headers), per_channel),
            _Table("Per day, all channels", ("day", *headers), per_day, collapsed=len(per_day) > 10),
        ],
    )


def _customer_rfm_section(rows: list[Row]) -> _Section:
    title = "Customers and revenue per RFM segment"
    if not rows:
        caption = "Customers with a completed order, scored by recency, frequency and monetary value."
        return _Section(
            "customer_rfm",
            title,
            caption,
            _empty_figure(title, "gold.customer_rfm"),
            empty_table="gold.customer_rfm",
        )
    as_of: date = max(r["as_of_date"] for r in rows)
    current = [r for r in rows if r["as_of_date"] == as_of]
    caption = (
        f"gold.customer_rfm as of {as_of.isoformat()}: {len(current):,} customers with a completed order."
    )
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in current:
        groups[r["segment"]].append(r)
    segments = sorted(groups, key=lambda s: (-len(groups[s]), s))
    sizes = [len(groups[s]) for s in segments]
    revenue = [sum((_dec(r["monetary"]) for r in groups[s]), Decimal(0)) for s in segments]

    fig = Figure(figsize=(11, max(3.0, 0.45 * len(segments) + 1.5)), dpi=_DPI, layout="constrained")
    size_ax, revenue_ax = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(segments))
    size_bars = size_ax.barh(y, sizes, color="#4c72b0")
    size_ax.set_yticks(y, segments)
    size_ax.invert_yaxis()
    size_ax.set_xlabel("customers")
    size_ax.set_title(title, loc="left", fontsize=13)
    revenue_bars = revenue_ax.barh(y, [float(v) for v in revenue], color="#55a868")
    revenue_ax.set_xlabel("revenue")
    size_ax.bar_label(size_bars, labels=[f"{v:,}" for v in sizes], padding=3, fontsize=8)
    revenue_ax.bar_label(revenue_bars, labels=[f"{v:,.0f}" for v in revenue], padding=3, fontsize=8)
    revenue_ax.xaxis.set_major_formatter(StrMethodFormatter(_THOUSANDS))
    for ax in (size_ax, revenue_ax):
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)

    total = len(current)
    table_rows = [
        (
            s,
            _count(len(groups[s])),
            _percent(len(groups[s]) / total),
            _money(rev),
            f"{sum(int(r['recency_days']) for r in groups[s]) / len(groups[s]):.1f}",
            f"{sum(int(r['frequency']) for r in groups[s]) / len(groups[s]):.1f}",
            _money(_ratio(rev, len(groups[s]))),
        )
        for s, rev in zip(segments, revenue, strict=True)
    ]
    headers = ("segment", "customers", "share", "revenue", "avg recency (days)", "avg orders", "avg revenue")
    return _Section("customer_rfm", title, caption, fig, [_Table("Per segment", headers, table_rows)])


def _peak_hours_section(rows: list[Row]) -> _Section:
    title = "Completed orders by day of week and hour of day"
    caption = "gold.peak_hours: all history, in the reporting time zone; ISO weeks start on Monday."
    if not rows:
        return _Section(
            "peak_hours",
            title,
            caption,
            _empty_figure(title, "gold.peak_hours"),
            empty_table="gold.peak_hours",
        )
    orders = np.zeros((7, 24), dtype=np.int64)
    revenue: dict[tuple[int, int], Decimal] = {}
    for r in rows:
        day, hour = int(r["day_of_week"]), int(r["hour_of_day"])
        if 1 <= day <= 7 and 0 <= hour <= 23:
            orders[day - 1, hour] += int(r["orders"])
            revenue[(day, hour)] = revenue.get((day, hour), Decimal(0)) + _dec(r["revenue"])

    fig = Figure(figsize=(12, 4.2), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(orders, aspect="auto", cmap="YlOrRd", interpolation="nearest")
    ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)], fontsize=8)
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xlabel("hour of day")
    ax.set_title(title, loc="left", fontsize=13)
    fig.colorbar(image, ax=ax, label="orders", shrink=0.9)
    if orders.max() > 0:
        peak_day, peak_hour = np.unravel_index(int(orders.argmax()), orders.shape)
        # Outline the busiest hour.
        corner = (int(peak_hour) - 0.5, int(peak_day) - 0.5)
        ax.add_patch(Rectangle(corner, 1, 1, fill=False, edgecolor="#000000", linewidth=2))

    ranked = sorted(
        ((int(orders[d - 1, h]), d, h) for d in range(1, 8) for h in range(24) if orders[d - 1, h] > 0),
        key=lambda t: (-t[0], t[1], t[2]),
    )[:10]
    top = [
        (WEEKDAYS[d - 1], f"{h:02d}:00", _count(n), _money(revenue.get((d, h), Decimal(0))))
        for n, d, h in ranked
    ]
    grid = [(WEEKDAYS[d], *(str(int(v)) for v in orders[d]), _count(int(orders[d].sum()))) for d in range(7)]
    return _Section(
        "peak_hours",
        title,
        caption,
        fig,
        [
            _Table("Busiest hours", ("day", "hour", "orders", "revenue"), top),
            _Table("Orders per day and hour", ("day", *(f"{h:02d}" for h in range(24)), "total"), grid, True),
        ],
    )


def _agent_performance_section(rows: list[Row]) -> _Section:
    title = f"Top {TOP_AGENTS} agents by completed revenue"
    if not rows:
        caption = "Agents' completed orders and revenue (gold.agent_performance)."
        return _Section(
            "agent_performance",
            title,
            caption,
            _empty_figure(title, "gold.agent_performance"),
            empty_table="gold.agent_performance",
        )
    days = sorted({r["order_date"] for r in rows})
    caption = (
        f"gold.agent_performance, {days[0].isoformat()} to {days[-1].isoformat()}; "
        "self-service orders have no agent and are not counted here."
    )
    agents: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        agents[r["agent_id"]].append(r)
    totals = {a: sum((_dec(r["revenue"]) for r in mine), Decimal(0)) for a, mine in agents.items()}
    top = sorted(agents, key=lambda a: (-totals[a], a))[:TOP_AGENTS]

    def name(agent_id: str) -> str:
        """The agent's name (the latest day's, when it changed); empty when unknown."""
        named = sorted((r["order_date"], r["agent_name"]) for r in agents[agent_id] if r["agent_name"])
        return str(named[-1][1]) if named else ""

    def label(agent_id: str) -> str:
        return f"{name(agent_id)} ({agent_id})" if name(agent_id) else agent_id

    fig = Figure(figsize=(11, max(3.0, 0.42 * len(top) + 1.5)), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(top))
    bars = ax.barh(y, [float(totals[a]) for a in top], color="#dd8452")
    ax.set_yticks(y, [label(a) for a in top])
    ax.invert_yaxis()
    ax.set_xlabel("revenue")
    ax.xaxis.set_major_formatter(StrMethodFormatter(_THOUSANDS))
    ax.set_title(title, loc="left", fontsize=13)
    ax.bar_label(bars, labels=[f"{totals[a]:,.0f}" for a in top], padding=3, fontsize=8)
    ax.margins(x=0.12)
    ax.grid(axis="x", alpha=0.3)

    table_rows = []
    for position, agent_id in enumerate(top, start=1):
        mine = agents[agent_id]
        orders = sum(int(r["orders"]) for r in mine)
        table_rows.append(
            (
                str(position),
                agent_id,
                name(agent_id),
                _count(len({r["order_date"] for r in mine})),
                _count(orders),
                _money(totals[agent_id]),
                _money(_ratio(totals[agent_id], orders)),
                _count(sum(1 for r in mine if r["rank_in_day"] == 1)),
            )
        )
    headers = ("#", "agent", "name", "days", "orders", "revenue", "AOV", "days ranked first")
    return _Section("agent_performance", title, caption, fig, [_Table("Top agents", headers, table_rows)])


# --- the page --------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1180px; color: #222; }
header p, figcaption, .meta { color: #555; }
.kpis { display: flex; gap: 1rem; flex-wrap: wrap; padding: 0; }
.kpis li { list-style: none; border: 1px solid #ddd; border-radius: 6px; padding: .5rem .9rem; }
.kpis b { display: block; font-size: 1.3rem; }
section { margin: 2.5rem 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: .8rem; margin: .6rem 0; }
th, td { border: 1px solid #ddd; padding: .2rem .45rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
"""


def _html_table(table: _Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in table.rows
    )
    inner = (
        f"<table>\n<caption>{html.escape(table.title)}</caption>\n"
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    )
    if table.collapsed:
        return f"<details><summary>{html.escape(table.title)} ({len(table.rows)} rows)</summary>\n{inner}\n</details>"
    return inner


def _kpis(data: dict[str, list[Row]]) -> list[tuple[str, str]]:
    daily = data["aov_daily"]
    orders = sum(int(r["orders"]) for r in daily)
    revenue = sum((_dec(r["revenue"]) for r in daily), Decimal(0))
    days = sorted({r["order_date"] for r in daily})
    as_of = max((r["as_of_date"] for r in data["customer_rfm"]), default=None)
    return [
        ("days", f"{days[0].isoformat()} to {days[-1].isoformat()}" if days else "none"),
        ("completed orders", _count(orders)),
        ("revenue", _money(revenue)),
        ("average order value", _money(_ratio(revenue, orders)) or "none"),
        ("refunded", _money(sum((_dec(r["refunded_amount"]) for r in daily), Decimal(0)))),
        ("cancelled", _money(sum((_dec(r["cancelled_amount"]) for r in daily), Decimal(0)))),
        ("customers scored", _count(sum(1 for r in data["customer_rfm"] if r["as_of_date"] == as_of))),
        ("active agents", _count(len({r["agent_id"] for r in data["agent_performance"]}))),
    ]


def _page(run_id: str, sections: Sequence[_Section], kpis: Iterable[tuple[str, str]]) -> str:
    run = html.escape(run_id)
    kpi_items = "\n".join(f"<li>{html.escape(k)}<b>{html.escape(v)}</b></li>" for k, v in kpis)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>Customer analytics: run {run}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Customer analytics</h1>",
        f'<p class="meta">Pipeline run <code id="run-id">{run}</code>. '
        "Figures and tables are read from the gold tables of the local warehouse.</p>",
        f'<ul class="kpis">\n{kpi_items}\n</ul>',
        f'<p><a href="{HEALTH_FILE}">Run health</a>: freshness, this run\'s data-quality checks, the '
        f'latest runs and the quarantine. <a href="{DOCS_DIR}/{INDEX_FILE}">Data docs</a>: every '
        "table, its columns, and where each gold column comes from.</p>",
        "</header>",
    ]
    for section in sections:
        tables = "\n".join(_html_table(t) for t in section.tables)
        parts += [
            f'<section id="{section.name}">',
            f"<h2>{html.escape(section.title)}</h2>",
            "<figure>",
            f'<img src="{section.png}" alt="{html.escape(section.title)}">',
            f"<figcaption>{html.escape(section.caption)}</figcaption>",
            "</figure>",
            f'<p class="empty">No rows in {section.empty_table} yet.</p>' if section.empty_table else tables,
            "</section>",
        ]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _write(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    return buffer.getvalue()


def render(warehouse_path: Path, out_dir: Path, *, run_id: str) -> list[Path]:
    """Draw the gold tables of `warehouse_path` into `out_dir`; returns the PNGs, then index.html."""
    if not Path(warehouse_path).is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}")
    with warehouse.connect(warehouse_path, read_only=True) as con:
        data = {name: _read(con, name) for name in GOLD_TABLES}
    sections = [
        _aov_daily_section(data["aov_daily"]),
        _customer_rfm_section(data["customer_rfm"]),
        _peak_hours_section(data["peak_hours"]),
        _agent_performance_section(data["agent_performance"]),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [_write(out_dir / s.png, _png(s.figure)) for s in sections]
    page = _page(run_id, sections, _kpis(data))
    written.append(_write(out_dir / INDEX_FILE, page.encode("utf-8")))
    return written

"""The dashboard: one self-contained, interactive page over the gold tables, `dashboard/index.html`.

A person opens it from `file://`, with no server and no network, so everything is inside the one
file: Plotly's JavaScript bundle (from the `plotly` package locally, from the DAG folder on Composer,
which has no plotly: `pipeline.local_pages`, `pipeline.gcp.pages`), the page's script
(`dashboard.js` beside this module) and the data, as JSON. The page holds the gold rows per day
rather than pre-drawn totals because its date-range filter and channel selection must re-sum
every chart and KPI tile in the browser, and compare each tile with the previous period of the
same length.

The data comes from the SQL files under `sql/dashboard/` (amounts in cents, so the page's sums are
exact), the run's data-quality results and the data's freshness from `sql/health/`, and the RFM
segment definitions from the header of `sql/gold/customer_rfm.sql`, the rules the SQL applies.
Nothing on the page depends on the clock: a rerun of the same run on the same warehouse writes
the same bytes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from sql import catalog

INDEX_FILE = "index.html"
DOCS_DIR = "docs"
"""The data docs (`pipeline.data_docs`), under the dashboard folder and linked from its page."""
HEALTH_FILE = "health.html"
"""The run-health page (`pipeline.health_page`), beside the dashboard's page."""

QUERIES = {
    "channels": "dashboard/channel_days.sql",
    "agents": "dashboard/agent_days.sql",
    "hours": "dashboard/hour_days.sql",
    "segments": "dashboard/rfm_segments.sql",
    "currencies": "dashboard/currencies.sql",
    "quarantine": "dashboard/run_quarantine.sql",
    "cohorts": "dashboard/cohorts.sql",
    "moves": "dashboard/segment_moves.sql",
    "freshness": "health/freshness.sql",
    "checks": "health/run_checks.sql",
}
RFM_SQL = "gold/customer_rfm.sql"
NO_PRIOR = "No prior order"
"""`gold.segment_migration.from_segment` of a customer who had no completed order at the previous
month end (sql/gold/segment_migration.sql)."""
SCRIPT = Path(__file__).with_name("dashboard.js")

# Fixed colours so a channel keeps its colour from one refresh to the next (the page gives other
# channels the next free colour of its palette).
CHANNEL_COLORS = {
    "online": "#1f77b4",
    "store": "#2ca02c",
    "phone": "#ff7f0e",
    "marketplace": "#9467bd",
    "unknown": "#7f7f7f",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 78rem; color: #222; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin: 2rem 0 .3rem; } .meta, .note { color: #555; }
nav a { margin-right: 1rem; }
.status { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; padding: .6rem .9rem; border-radius: 6px;
  background: #f5f7fa; border-left: 6px solid #2e7d32; }
.status.warning { border-left-color: #b26a00; background: #fff8ec; }
.status.failed { border-left-color: #c62828; background: #fdf0f0; }
.filters { position: sticky; top: 0; z-index: 5; background: #fff; padding: .6rem 0; display: flex;
  flex-wrap: wrap; gap: .4rem 1.2rem; align-items: center; border-bottom: 1px solid #ddd; }
.filters button { padding: .15rem .55rem; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(10.5rem, 1fr)); gap: .7rem;
  padding: 0; margin: 1rem 0; }
.kpis li { list-style: none; border: 1px solid #ddd; border-radius: 6px; padding: .5rem .8rem; }
.kpis .value { display: block; font-size: 1.35rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.kpis .change { font-size: .8rem; color: #555; } .up { color: #2e7d32; } .down { color: #c62828; }
.chart { width: 100%; height: 360px; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }
#segment-table code { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fff3cd; border: 1px solid #e0c060; padding: .5rem .8rem; border-radius: 6px; }
"""

_RULE_LINE = re.compile(r"^--\s{2,}(?P<segment>\S.*?)\s{2,}(?P<rule>r\s.*)$")


@cache
def segment_rules() -> tuple[tuple[str, str], ...]:
    """The RFM segments and their rules, as `gold/customer_rfm.sql` documents the CASE it applies:
    one place for the definition, so the page cannot explain a segment differently from the SQL
    (tests/pipeline/test_dashboard.py checks the documented rules against the CASE)."""
    rules = []
    for line in catalog.read_sql(RFM_SQL).splitlines():
        match = _RULE_LINE.match(line)
        if match:
            rules.append((match["segment"], " ".join(match["rule"].split())))
    if not rules:
        raise ValueError(f"sql/{RFM_SQL}: no segment rules in its header comment")
    return tuple(rules)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {value!r}")


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one list per column: the page's data is mostly per-day rows, and column lists
    keep the JSON about a third the size of a list of objects."""
    names = list(rows[0]) if rows else []
    return {name: [row[name] for row in rows] for name in names}


Fetch = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]
"""Runs a SQL file (relative to `sql/`) with named parameters and returns its rows as dicts: the
warehouse's `fetch_dicts` locally (`pipeline.local_pages`), a BigQuery query on GCP
(`pipeline.gcp.pages`)."""


def load(fetch: Fetch, *, run_id: str, run_date: date) -> dict[str, Any]:
    """What the page shows, from the SQL files in `QUERIES`."""
    results = {
        key: fetch(relative, {"run_id": run_id, "run_date": run_date}) for key, relative in QUERIES.items()
    }
    results["checks"].sort(key=lambda c: (c["passed"], c["severity"], c["check_name"]))
    return {
        "channels": _columns(results["channels"]),
        "agents": _columns(results["agents"]),
        "hours": _columns(results["hours"]),
        "segments": results["segments"],
        "currencies": results["currencies"],
        "quarantine": results["quarantine"],
        "cohorts": _columns(results["cohorts"]),
        "moves": results["moves"],
        "freshness": (results["freshness"] or [{}])[0],
        "checks": [
            {k: c[k] for k in ("check_name", "severity", "passed", "failures")} for c in results["checks"]
        ],
    }


def _status(data: Mapping[str, Any]) -> tuple[str, str]:
    """The run's status for the strip at the top, (css class, text): its data-quality results and
    the rows it quarantined, worst first."""
    checks = data["checks"]
    failed = [c for c in checks if not c["passed"]]
    errors = [c["check_name"] for c in failed if c["severity"] == "error"]
    warnings = [c["check_name"] for c in failed if c["severity"] != "error"]
    quarantined = sum(q["rows_quarantined"] for q in data["quarantine"])
    reasons = ", ".join(f"{q['reason']} {q['rows_quarantined']:,}" for q in data["quarantine"])
    parts = []
    if not checks:
        parts.append("Data quality: no checks recorded for this run.")
    elif errors:
        parts.append(f"Data quality: {len(errors)} error check(s) failed: {', '.join(errors)}.")
    elif warnings:
        parts.append(f"Data quality: {len(checks) - len(warnings)} passed, warnings: {', '.join(warnings)}.")
    else:
        parts.append(f"Data quality: all {len(checks)} checks passed.")
    if quarantined:
        parts.append(f"This run quarantined {quarantined:,} rows ({reasons}).")
    css = "failed" if errors else "warning" if warnings or quarantined or not checks else ""
    return css, " ".join(parts)


def _currency_note(data: Mapping[str, Any], currency: str) -> str:
    """What the amounts are made of: the orders converted into the reporting currency, and a
    warning when some could not be (no usable rate), since those are left out of every amount."""
    others = [c for c in data["currencies"] if c["currency"] != currency]
    if not others:
        return ""
    cur = html.escape(currency)
    converted = ", ".join(
        f"{c['orders'] - c['unconverted']:,} in {html.escape(str(c['currency']))}"
        for c in others
        if c["orders"] > c["unconverted"]
    )
    missing = ", ".join(
        f"{c['unconverted']:,} in {html.escape(str(c['currency']))}" for c in others if c["unconverted"]
    )
    parts = []
    if converted:
        parts.append(
            f'<p class="note" id="currency-converted">Amounts in {cur}: completed orders of the last 400 days '
            f"include {converted}, converted at the rate of their day (silver.fx_rates).</p>"
        )
    if missing:
        parts.append(
            f'<p class="warn" id="currency-warning">{missing} completed orders have no rate into {cur} and '
            "are left out of every amount: land their rates under fx_rates/ (the check fx_rate_missing "
            "names the days).</p>"
        )
    return "\n".join(parts)


def _segment_table(data: Mapping[str, Any], currency: str) -> str:
    found = {s["segment"]: s for s in data["segments"]}
    total = sum(s["customers"] for s in data["segments"])
    rows = []
    for segment, rule in segment_rules():
        s = found.get(segment)
        cells = (
            [
                f"{s['customers']:,}",
                f"{s['customers'] / total:.1%}",
                f"{s['revenue_cents'] / 100:,.2f}",
                f"{s['avg_recency_days']:.1f}",
                f"{s['avg_frequency']:.1f}",
            ]
            if s
            else ["0", "", "", "", ""]
        )
        rows.append(
            f"<tr><td>{html.escape(segment)}</td><td><code>{html.escape(rule)}</code></td>"
            + "".join(f'<td class="n">{c}</td>' for c in cells)
            + "</tr>"
        )
    head = (
        "<tr><th>segment</th><th>rule (first match; scores 1-5)</th><th class=n>customers</th>"
        f"<th class=n>share</th><th class=n>revenue ({html.escape(currency)})</th>"
        "<th class=n>avg recency (days)</th><th class=n>avg orders</th></tr>"
    )
    return f'<table id="segment-table">{head}{"".join(rows)}</table>'


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `<` in it, so no `</script>` in a name can
    end it early (JSON reads `\\u003c` back as `<`)."""
    return json.dumps(value, default=_json_value, sort_keys=True, separators=(",", ":")).replace(
        "<", "\\u003c"
    )


def page(data: Mapping[str, Any], *, run_id: str, currency: str, reporting_tz: str, plotly_js: str) -> str:
    """The HTML for `data` (what `load` returns) with Plotly's bundle `plotly_js` inlined: pure, so
    it is tested without a warehouse."""
    css, status = _status(data)
    fresh = data["freshness"]
    latest = fresh.get("latest_transaction")
    as_of = data["segments"][0]["as_of_date"] if data["segments"] else None
    payload = {
        **data,
        "run_id": run_id,
        "currency": currency,
        "reporting_tz": reporting_tz,
        "channel_colors": CHANNEL_COLORS,
        "segment_order": [NO_PRIOR, *(name for name, _ in segment_rules())],
    }
    run = html.escape(run_id)
    cur = html.escape(currency)
    tz = html.escape(reporting_tz)
    kpis = "".join(
        f'<li id="kpi-{key}">{label}<span class="value">-</span><span class="change"></span></li>'
        for key, label in (
            ("revenue", f"revenue ({cur})"),
            ("orders", "completed orders"),
            ("aov", f"average order value ({cur})"),
            ("refunded", f"refunded ({cur})"),
            ("cancelled", f"cancelled ({cur})"),
            ("agents", "active agents"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Customer analytics: run {run}</title>
<style>{_STYLE}</style>
<script>{plotly_js}</script>
</head>
<body>
<header>
<h1>Customer analytics</h1>
<p class="meta">Pipeline run <code id="run-id">{run}</code>. Amounts in {cur}; hours in the reporting time
zone {tz}.</p>
<nav><a href="{HEALTH_FILE}">Run health</a><a href="{DOCS_DIR}/{INDEX_FILE}">Data docs</a></nav>
<p class="status {css}" id="status"><span id="freshness">Latest transaction:
{html.escape(str(latest)) if latest else "none yet"}.</span><span id="dq-status">{html.escape(status)}</span></p>
{_currency_note(data, currency)}
</header>
<div class="filters" id="filters">
<label>From <input type="date" id="date-from"></label>
<label>to <input type="date" id="date-to"></label>
<span id="presets"><button data-days="7">last 7 days</button> <button data-days="30">last 30 days</button>
<button data-days="90">last 90 days</button> <button data-days="0">all</button></span>
<span id="channels"></span>
</div>
<p class="note" id="period"></p>
<ul class="kpis" id="kpis">{kpis}</ul>
<section id="revenue">
<h2>Revenue by channel</h2>
<p class="note">Completed orders per UTC day (gold.aov_daily); days without orders stay empty on the time axis.</p>
<div class="chart" id="chart-revenue"></div>
</section>
<section id="aov" class="two">
<div><h2>Average order value</h2><p class="note">The selected channels together, per day.</p>
<div class="chart" id="chart-aov"></div></div>
<div><h2>Average order value by channel</h2><p class="note">Over the chosen dates.</p>
<div class="chart" id="chart-channel-aov"></div></div>
</section>
<section id="peak-hours">
<h2>Orders by day of week and hour ({tz})</h2>
<p class="note">gold.peak_hours_daily over the chosen dates, in the reporting time zone {tz}.</p>
<div class="chart" id="chart-hours"></div>
</section>
<section id="agents">
<h2>Agent leaderboard</h2>
<p class="note">The top agents by completed revenue over the chosen dates (gold.agent_performance);
self-service orders have no agent.</p>
<div class="two"><div class="chart" id="chart-agents"></div><div id="agents-table"></div></div>
</section>
<section id="rfm">
<h2>RFM segments</h2>
<p class="note">gold.customer_rfm as of {html.escape(str(as_of)) if as_of else "no scoring yet"}: a snapshot,
so the date filter does not apply. Scores are quintiles: r 5 = most recent, f 5 = most completed orders.</p>
<div class="two"><div class="chart" id="chart-segments"></div>{_segment_table(data, currency)}</div>
</section>
<section id="segment-migration">
<h2>Customers moving between segments</h2>
<p class="note" id="migration-note">gold.segment_migration: each customer's segment at the previous month end (rows) and
now (columns); the diagonal kept its segment, "{NO_PRIOR}" had no completed order then.</p>
<div class="chart" id="chart-migration"></div>
</section>
<section id="cohorts">
<h2>Cohort retention</h2>
<p class="note">gold.cohort_retention: customers by the month of their first completed order, and the share who
ordered again in each later month (all history: the date filter does not apply).</p>
<div class="chart" id="chart-cohorts"></div>
</section>
<script type="application/json" id="cdi-data">{_script_json(payload)}</script>
<script>{SCRIPT.read_text(encoding="utf-8")}</script>
</body>
</html>
"""


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def render(
    warehouse_path: Path,
    out_dir: Path,
    *,
    run_id: str,
    run_date: date,
    currency: str = "USD",
    reporting_tz: str = "UTC",
) -> Path:
    """Read the local warehouse (read-only) and write `out_dir/index.html`."""
    from pipeline import local_pages, warehouse

    if not Path(warehouse_path).is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}")
    with warehouse.connect(warehouse_path, read_only=True) as con:
        data = load(local_pages.warehouse_fetch(con), run_id=run_id, run_date=run_date)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = page(
        data,
        run_id=run_id,
        currency=currency,
        reporting_tz=reporting_tz,
        plotly_js=local_pages.plotly_js(),
    )
    return _write(out_dir / INDEX_FILE, text)

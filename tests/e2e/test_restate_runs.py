"""A changed gold SQL file, then the next runs, on the local target end to end: each run is `cdi`
in its own process (the real DAG through `dag.test()`, Spark, a DuckDB file), started through a
wrapper that points `sql.catalog` at a copy of sql/ where gold/customer_daily.sql counts refunded
orders among a customer's orders (revenue, which the reconciliation checks, stays completed): what a
deployment whose file was edited reads.

| run | SQL | landing | expected |
|-----|-----|---------|----------|
| 1 | repository | days 1-4 | gold built; every fingerprint recorded (an empty warehouse) |
| 2a | changed, `CDI_MAX_RESTATE_DAYS=2` | nothing new | stops before gold, naming `cdi rebuild` |
| 2b | changed | day 5 | customer_daily and the tables built from it restated over all 5 days |
| rebuild | changed | - | `--table aov_daily --from day 2 --to day 3`: those days only |
| rebuild | changed | - | everything, twice: gold equals a from-scratch build both times |

Between runs 1 and 2a every row of gold.aov_daily and gold.customer_daily is overwritten with -1:
a restated table loses it, a table that is not restated keeps it. The independent computations
are in Python over silver; the from-scratch build is a copy of the warehouse whose gold is emptied
and built once over every day with the changed SQL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline import plan, restate, sample_data, warehouse
from pipeline.config import REPO_ROOT
from sql import catalog

from .runner import _env

pytestmark = pytest.mark.e2e

SPEC = sample_data.SampleSpec(
    seed=7, days=5, customers=200, agents=8, orders_per_day=120, second_currency=None
)
DAYS = [SPEC.start + timedelta(days=n) for n in range(SPEC.days)]
# Late run dates, so that customer_state (totals up to the run date - 7) holds customers.
RUN_1, RUN_2A, RUN_2B = "2025-01-10T00:00:00+00:00", "2025-01-10T12:00:00+00:00", "2025-01-11T00:00:00+00:00"
REBUILDS = ("2025-01-11T06:00:00+00:00", "2025-01-11T07:00:00+00:00", "2025-01-11T08:00:00+00:00")
RUN_DATE = date(2025, 1, 11)
CHANGED_FILE = "gold/customer_daily.sql"
ORDERS = "countif(status = 'completed') as orders"
ORDERS_WITH_REFUNDS = "countif(status in ('completed', 'refunded')) as orders"
RESTATED = [
    "gold.customer_daily",
    "gold.customer_state",
    "gold.customer_rfm",
    "gold.cohort_retention",
    "gold.segment_migration",
]
GOLD = [s.table for s in plan.GOLD_STEPS]

# `python -c WITH_SQL_DIR <sql dir> <module> <args>`: run a module's command line with `sql.catalog`
# reading another sql/ folder.
WITH_SQL_DIR = (
    "import runpy, sys\n"
    "from pathlib import Path\n"
    "import sql.catalog\n"
    "sql.catalog.SQL_DIR = Path(sys.argv.pop(1))\n"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)\n"
)


def cdi(sql_dir: Path | None, module: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` (`pipeline.cli`, `pipeline.rebuild`), with `sql_dir` as sql/."""
    prefix = ["-c", WITH_SQL_DIR, str(sql_dir)] if sql_dir else ["-m"]
    return subprocess.run(
        [sys.executable, *prefix, module, *args],
        capture_output=True,
        text=True,
        env=_env(env),
        cwd=REPO_ROOT,
        timeout=900,
        check=False,
    )


def succeeded(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == 0


def output_of(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout[-4000:] + done.stderr[-6000:]


def rows(output: Path, sql_text: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql_text, params or []).fetchall()


def gold(output: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {t: rows(output, f"select * from {t} order by all") for t in GOLD}


def fingerprints(output: Path) -> dict[str, tuple[str, str]]:
    """table -> (fingerprint, run id)."""
    return {
        t: (fp, run)
        for t, fp, run in rows(output, "select table_name, fingerprint, run_id from audit.gold_fingerprints")
    }


def fingerprints_of(sql_dir: Path) -> dict[str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "SQL_DIR", sql_dir)
        return restate.fingerprints()


def expected_customer_daily(output: Path) -> list[tuple[Any, ...]]:
    """gold.customer_daily as the changed file defines it, from silver: completed and refunded
    orders, and the revenue of completed ones, per UTC day and customer."""
    totals: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for ts, customer, status, amount in rows(
        output, "select transaction_ts, customer_id, status, amount from silver.transactions"
    ):
        row = totals[(ts.astimezone(UTC).date(), customer)]
        row[0] += status in ("completed", "refunded")
        row[1] += amount if status == "completed" else 0
    return sorted((d, c, n, r) for (d, c), (n, r) in totals.items())


def expected_state(daily: list[tuple[Any, ...]], watermark: date) -> list[tuple[Any, ...]]:
    """gold.customer_state from those days: per customer, up to the watermark."""
    state: dict[str, list[Any]] = {}
    for day, customer, orders, revenue in daily:
        if day <= watermark:
            row = state.setdefault(customer, [0, Decimal(0), None, day])
            row[0] += orders
            row[1] += revenue
            row[2] = day if orders and (row[2] is None or day > row[2]) else row[2]
            row[3] = max(row[3], day)
    return sorted((c, *v) for c, v in state.items())


def from_scratch(output: Path, sql_dir: Path, work: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Gold built once over every day in silver with the SQL of `sql_dir`, in a copy of the warehouse."""
    work.mkdir()
    copy = work / "warehouse.duckdb"
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (output / name).exists():
            shutil.copy(output / name, work / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "SQL_DIR", sql_dir)
        with warehouse.connect(copy) as con:
            for table in GOLD:
                con.execute(f"DELETE FROM {table}")
            days = sorted(r["day"] for r in warehouse.fetch_dicts(con, restate.HISTORY_SQL))
            params = plan.query_parameters(
                run_id="scratch", days=days, run_date=RUN_DATE, reporting_tz="UTC", rows_valid=0
            )
            for step in plan.GOLD_STEPS:
                warehouse.build_gold_step(con, step, params)
    return gold(work)


@dataclass
class History:
    output: Path
    sql_dir: Path
    """The copy of sql/ with the changed file."""
    done: dict[str, subprocess.CompletedProcess[str]]
    """Each command, by name: run1, run2a, run2b, rebuild_range, rebuild_all, rebuild_again."""
    gold: dict[str, dict[str, list[tuple[Any, ...]]]]
    """Gold after each command, and `tampered` (before run 2a)."""
    fingerprints: dict[str, dict[str, tuple[str, str]]]
    reports: dict[str, dict[str, Any]]
    scratch: dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("restate")
    landing, output = root / "landing", root / "out"
    sql_dir = root / "sql"
    shutil.copytree(catalog.SQL_DIR, sql_dir)
    text = (sql_dir / CHANGED_FILE).read_text()
    assert text.count(ORDERS) == 1, f"{CHANGED_FILE} no longer holds {ORDERS!r}"
    (sql_dir / CHANGED_FILE).write_text(text.replace(ORDERS, ORDERS_WITH_REFUNDS))
    sample_data.write_reference_data(landing, SPEC)
    sample_data.write_transaction_days(landing, SPEC, range(SPEC.days - 1))
    runs = ["--input", str(landing), "--output", str(output), "--run-after"]
    h = History(output, sql_dir, {}, {}, {}, {}, {})

    def step(name: str, done: subprocess.CompletedProcess[str]) -> None:
        h.done[name] = done
        h.gold[name] = gold(output)
        h.fingerprints[name] = fingerprints(output)
        h.reports[name] = json.loads((output / "report.json").read_text())

    step("run1", cdi(None, "pipeline.cli", "run", *runs, RUN_1))
    assert succeeded(h.done["run1"]), output_of(h.done["run1"])
    with duckdb.connect(str(output / "warehouse.duckdb")) as con:
        con.execute("UPDATE gold.aov_daily SET revenue = -1")
        con.execute("UPDATE gold.customer_daily SET orders = -1")
    h.gold["tampered"] = gold(output)
    step("run2a", cdi(sql_dir, "pipeline.cli", "run", *runs, RUN_2A, CDI_MAX_RESTATE_DAYS="2"))
    sample_data.write_transaction_days(landing, SPEC, [SPEC.days - 1])
    step("run2b", cdi(sql_dir, "pipeline.cli", "run", *runs, RUN_2B))
    assert succeeded(h.done["run2b"]), output_of(h.done["run2b"])
    h.scratch = from_scratch(output, sql_dir, root / "scratch")
    rebuild = ["--output", str(output), "--run-after"]
    ranged = ["--table", "aov_daily", "--from", DAYS[1].isoformat(), "--to", DAYS[2].isoformat()]
    step("rebuild_range", cdi(sql_dir, "pipeline.rebuild", *ranged, *rebuild, REBUILDS[0]))
    step("rebuild_all", cdi(sql_dir, "pipeline.rebuild", *rebuild, REBUILDS[1]))
    step("rebuild_again", cdi(sql_dir, "pipeline.rebuild", *rebuild, REBUILDS[2]))
    return h


def test_the_first_run_on_an_empty_warehouse_records_every_fingerprint(history: History) -> None:
    run_id = history.reports["run1"]["run_id"]
    assert history.fingerprints["run1"] == {t: (fp, run_id) for t, fp in restate.fingerprints().items()}
    assert all(history.gold["run1"][f"gold.{t}"] for t in ("aov_daily", "customer_daily", "customer_state"))


def test_over_the_limit_the_run_stops_before_gold_and_names_cdi_rebuild(history: History) -> None:
    done, report = history.done["run2a"], history.reports["run2a"]
    assert done.returncode == 1, output_of(done)
    assert report["task_states"]["plan_gold"] == "failed"
    assert {report["task_states"][s.task_id] for s in plan.GOLD_STEPS} == {"upstream_failed"}
    error = report["task_errors"]["plan_gold"]
    command = f"cdi rebuild --output {history.output} --table customer_daily"
    assert f"\n    {command}\n" in error
    assert "CDI_MAX_RESTATE_DAYS=2" in error
    assert "all 4 days in silver" in error
    assert command in done.stdout  # the summary prints the error
    assert history.gold["run2a"] == history.gold["tampered"]
    assert history.fingerprints["run2a"] == history.fingerprints["run1"]


def test_the_next_run_restates_the_changed_table_and_its_dependents_over_all_history(
    history: History,
) -> None:
    done, run_id = history.done["run2b"], history.reports["run2b"]["run_id"]
    after = history.gold["run2b"]
    daily = expected_customer_daily(history.output)
    assert {d for d, *_ in daily} == set(DAYS)
    assert after["gold.customer_daily"] == daily, output_of(done)
    state = expected_state(daily, RUN_DATE - timedelta(days=7))
    assert state
    assert after["gold.customer_state"] == state
    for table in RESTATED:
        assert after[table] == history.scratch[table], table
    # Not restated: the overwritten days of aov_daily stay; the run's new day is built.
    revenues = defaultdict(set)
    for row in after["gold.aov_daily"]:
        revenues[row[0]].add(row[3])
    assert {d: revenues[d] for d in DAYS[:4]} == {d: {Decimal("-1")} for d in DAYS[:4]}
    assert min(revenues[DAYS[4]]) >= 0
    current = fingerprints_of(history.sql_dir)
    recorded = history.fingerprints["run2b"]
    assert {t for t, (_, run) in recorded.items() if run == run_id} == set(RESTATED)
    assert {t: fp for t, (fp, _) in recorded.items()} == current
    assert current != restate.fingerprints()


def test_cdi_rebuild_over_a_range_restates_those_days_only(history: History) -> None:
    done = history.done["rebuild_range"]
    assert succeeded(done), output_of(done)
    assert "cdi rebuild: aov_daily of" in done.stdout
    by_day: dict[date, list[tuple[Any, ...]]] = defaultdict(list)
    for row in history.gold["rebuild_range"]["gold.aov_daily"]:
        by_day[row[0]].append(row)
    scratch = [r for r in history.scratch["gold.aov_daily"] if r[0] in DAYS[1:3]]
    assert by_day[DAYS[1]] + by_day[DAYS[2]] == scratch
    assert {r[3] for d in (DAYS[0], DAYS[3]) for r in by_day[d]} == {Decimal("-1")}
    # Part of its history only: its fingerprint stays the one run 1 recorded.
    assert (
        history.fingerprints["rebuild_range"]["gold.aov_daily"]
        == history.fingerprints["run1"]["gold.aov_daily"]
    )
    assert history.reports["rebuild_range"]["totals"]["files"] == 0  # a rebuild claims no file


def test_cdi_rebuild_of_everything_equals_a_from_scratch_build_and_is_idempotent(history: History) -> None:
    for name in ("rebuild_all", "rebuild_again"):
        done = history.done[name]
        assert succeeded(done), output_of(done)
        assert history.gold[name] == history.scratch, name
        run_id = history.reports[name]["run_id"]
        assert {run for _, run in history.fingerprints[name].values()} == {run_id}


def test_cdi_rebuild_refuses_a_bad_range_and_a_run_that_exists(history: History) -> None:
    bad_range = cdi(
        None,
        "pipeline.rebuild",
        "--output",
        str(history.output),
        "--from",
        "2025-01-03",
        "--to",
        "2025-01-02",
    )
    assert bad_range.returncode == 2
    assert "--from 2025-01-03 is after --to 2025-01-02" in bad_range.stderr
    taken = cdi(None, "pipeline.rebuild", "--output", str(history.output), "--run-after", REBUILDS[1])
    assert taken.returncode == 2
    assert "exists already" in taken.stderr
    unknown = cdi(None, "pipeline.rebuild", "--output", str(history.output), "--table", "customers")
    assert unknown.returncode == 2
    assert "no gold table 'customers'" in unknown.stderr

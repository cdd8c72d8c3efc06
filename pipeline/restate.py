"""Restating gold: when its SQL changed since it was built, and on request (`cdi rebuild`, or the
DAG's rebuild params in the trigger form).

Why: gold is built a few days at a time (`partitions` steps rebuild the run's affected days) or
advanced incrementally (`customer_state`), so a changed gold SQL file would otherwise only shape the
days later runs happen to touch, and every older day would stay as the old SQL built it, silently.

How:
- Each gold table has a fingerprint: the SHA-256 of its step's SQL files (`step_files`) and of the
  fingerprints of the gold tables it reads (`plan.GOLD_STEPS` `after`). A change upstream therefore
  changes the fingerprint of everything built from it, and "restate a table and its dependents" is
  "restate every table whose fingerprint changed".
- `audit.gold_fingerprints` holds, per table, the fingerprint of the SQL that built its whole
  history. The `plan_gold` task (`plan.GOLD_PLAN_TASK_ID`, after the quality gate) compares,
  and returns the plan (`make_plan`, an XCom): the tables to restate and over which days. A
  warehouse with no fingerprint at all (a new one, or one from before this table) only records
  them: there is no older SQL to compare with.
- A restated `partitions` step rebuilds every day present in silver (`restate/history_days.sql`) or
  the requested range, beside the run's affected days (`step_params`); a `merge` step is emptied and
  rebuilt from no state in one transaction (`gold/<step>_reset.sql` then its MERGE); a `table` step
  is replaced whole, as on every run.
- Once gold is built, `archive_files` records the fingerprints of the tables whose whole history the
  run rebuilt (`records`); a failed run records nothing, so the next run restates them again.
- A change that would restate more than `CDI_MAX_RESTATE_DAYS` days stops the run before gold with
  the command that restates them on their own (`RestateLimitError`): `cdi rebuild` locally, a
  manual trigger with the rebuild params on Composer. A requested rebuild has no limit.

The same plan and parameters serve both targets: `pipeline.targets.local` runs the SQL on DuckDB
(here), `pipeline.gcp.restate` on BigQuery. Nothing heavy is imported at module level: the DAG
file reads `dag_params()` while Composer parses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pipeline import plan
from pipeline.config import DAG_ID, ENV, Settings
from sql import catalog

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

# The DAG params of a manual rebuild run (the trigger form; `cdi rebuild` passes them as run conf).
REBUILD_TABLES = "rebuild_tables"
REBUILD_FROM = "rebuild_from"
REBUILD_TO = "rebuild_to"

HISTORY_SQL = "restate/history_days.sql"
RECORDED_SQL = "restate/gold_fingerprints.sql"
RECORD_SQL = "restate/gold_fingerprints_merge.sql"

_STEPS = {s.table: s for s in plan.GOLD_STEPS}
_TABLE_OF_NAME = {s.name: s.table for s in plan.GOLD_STEPS}


def reset_sql(step: plan.GoldStep) -> str:
    """The statement emptying a `merge` step's table before it is restated."""
    if step.mode != "merge":
        raise ValueError(f"{step.table} is a {step.mode} step: only a merge step keeps a state to reset")
    return f"gold/{step.name}_reset.sql"


def step_files(step: plan.GoldStep) -> tuple[str, ...]:
    """The SQL files (relative to sql/) whose text builds a step's rows."""
    return (step.sql, reset_sql(step)) if step.mode == "merge" else (step.sql,)


def fingerprints() -> dict[str, str]:
    """Every gold table's fingerprint, read from the SQL files now (`sql.catalog.SQL_DIR`)."""
    found: dict[str, str] = {}

    def of(step: plan.GoldStep) -> str:
        if step.table not in found:
            digest = hashlib.sha256()
            for relative in step_files(step):
                digest.update(f"file {relative}\n".encode())
                digest.update(catalog.read_sql(relative).encode())
                digest.update(b"\0")
            for name in step.after:
                digest.update(f"after {name} {of(_STEPS[_TABLE_OF_NAME[name]])}\n".encode())
            found[step.table] = digest.hexdigest()
        return found[step.table]

    return {s.table: of(s) for s in plan.GOLD_STEPS}


def dependents(tables: Iterable[str]) -> list[str]:
    """`tables` and every gold table built from them, directly or not, in build order."""
    chosen = set(tables)
    grew = True
    while grew:
        more = {s.table for s in plan.GOLD_STEPS if any(_TABLE_OF_NAME[a] in chosen for a in s.after)}
        grew = not more <= chosen
        chosen |= more
    return [s.table for s in plan.GOLD_STEPS if s.table in chosen]


# --- the rebuild params ------------------------------------------------------------------------------


def dag_params() -> dict[str, Any]:
    """The DAG's params, shown in the trigger form: a manual run restating gold over a range. A
    scheduled run takes the defaults, which ask for nothing."""
    from airflow.sdk import Param

    names = [s.name for s in plan.GOLD_STEPS]
    return {
        REBUILD_TABLES: Param(
            [],
            type="array",
            items={"type": "string", "enum": names},
            examples=names,
            title="Rebuild: gold tables",
            description=(
                "Gold tables to restate, with every table built from them. Empty: none, unless a "
                "day below is set (then every gold table)."
            ),
        ),
        REBUILD_FROM: Param(
            None,
            type=["null", "string"],
            format="date",
            title="Rebuild: from day",
            description="First UTC day restated (empty: the first day in silver).",
        ),
        REBUILD_TO: Param(
            None,
            type=["null", "string"],
            format="date",
            title="Rebuild: to day",
            description="Last UTC day restated (empty: the last day in silver).",
        ),
    }


def rebuild_conf(
    tables: Sequence[str] = (), first_day: date | None = None, last_day: date | None = None
) -> dict[str, Any]:
    """The run conf (DAG params) of a rebuild: `tables` (step names; none: every gold table) over
    `first_day`..`last_day` (None: open)."""
    names = list(tables) or [s.name for s in plan.GOLD_STEPS]
    return {
        REBUILD_TABLES: names,
        REBUILD_FROM: first_day.isoformat() if first_day else None,
        REBUILD_TO: last_day.isoformat() if last_day else None,
    }


@dataclass(frozen=True)
class Rebuild:
    """A requested restatement: gold tables (with their dependents) over a range of days."""

    tables: tuple[str, ...]
    first_day: date | None
    last_day: date | None

    def covers(self, history: Sequence[date]) -> bool:
        """Whether the range holds every day of `history`."""
        if not history:
            return True
        return (self.first_day is None or self.first_day <= min(history)) and (
            self.last_day is None or self.last_day >= max(history)
        )


def _day(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"param {name}={value!r}: expected a day, YYYY-MM-DD") from None


def table_name(name: str) -> str:
    """The gold table a step name (`aov_daily`) or table name (`gold.aov_daily`) designates."""
    table = _TABLE_OF_NAME.get(name.removeprefix("gold."))
    if table is None:
        known = ", ".join(s.name for s in plan.GOLD_STEPS)
        raise ValueError(f"no gold table {name!r}: expected one of {known}")
    return table


def rebuild_request(params: Mapping[str, Any] | None) -> Rebuild | None:
    """The restatement a run's params ask for; None for a run that asks for none (every scheduled
    run). Days alone mean every gold table."""
    params = params or {}
    names = list(params.get(REBUILD_TABLES) or [])
    first, last = _day(params.get(REBUILD_FROM), REBUILD_FROM), _day(params.get(REBUILD_TO), REBUILD_TO)
    if not names and first is None and last is None:
        return None
    if first is not None and last is not None and first > last:
        raise ValueError(f"{REBUILD_FROM} {first} is after {REBUILD_TO} {last}")
    tables = [table_name(n) for n in names] or [s.table for s in plan.GOLD_STEPS]
    return Rebuild(tuple(dependents(tables)), first, last)


# --- the plan -----------------------------------------------------------------------------------------


class RestateLimitError(RuntimeError):
    """Changed gold SQL would restate more days than `CDI_MAX_RESTATE_DAYS` allows in a run."""


def rebuild_hint(settings: Settings, tables: Sequence[str]) -> str:
    """The command that restates `tables` (and their dependents) in a run of its own."""
    names = [_STEPS[t].name for t in tables]
    if settings.target == "local":
        flags = [arg for name in names for arg in ("--table", name)]
        return shlex.join(["cdi", "rebuild", "--output", str(settings.output_dir), *flags])
    conf = json.dumps({REBUILD_TABLES: names})
    return shlex.join(["airflow", "dags", "trigger", DAG_ID, "--conf", conf]) + (
        f" (or the trigger form of {DAG_ID} with these tables under {REBUILD_TABLES!r})"
    )


def _limit_message(settings: Settings, pending: Sequence[str], history_days: int) -> str:
    roots = [t for t in pending if not any(_TABLE_OF_NAME[a] in pending for a in _STEPS[t].after)]
    changed = ", ".join(f"{t} ({', '.join('sql/' + f for f in step_files(_STEPS[t]))})" for t in roots)
    built_from = [t for t in pending if t not in roots]
    also = (
        f", and {', '.join(built_from)} built from {'them' if len(roots) > 1 else 'it'}" if built_from else ""
    )
    setting = ENV["max_restate_days"]
    return (
        f"gold SQL changed since these tables were built: {changed}{also}. Restating them rebuilds all "
        f"{history_days} days in silver, more than {setting}={settings.max_restate_days}, so this run "
        "stops before gold and leaves it as it was (its new days stay pending for the next run). "
        f"Restate them in a run of their own:\n    {rebuild_hint(settings, roots)}\n"
        f"or set {setting} to at least {history_days}."
    )


def make_plan(
    *,
    current: Mapping[str, str],
    recorded: Mapping[str, str],
    history: Sequence[date],
    rebuild: Rebuild | None,
    settings: Settings,
) -> dict[str, Any]:
    """Which gold tables the run restates and over which days (JSON, the `plan_gold` XCom).

    `current`: the fingerprints now (`fingerprints()`); `recorded`: those in audit.gold_fingerprints;
    `history`: the days in silver; `rebuild`: what the run's params ask for. Keys:
    `restate` table -> {first_day, last_day} (ISO or None: open; a `table` or `merge` step is always
    rebuilt whole), `history` (the days in silver, when anything is restated), `record` (tables whose
    fingerprint the run records once gold is built) and, for the log and the tests, `fingerprints`,
    `changed`, `adopted`, `history_days`.
    """
    history = sorted(history)
    adopted = not recorded
    changed = [] if adopted else [t for t in current if recorded.get(t) != current[t]]
    restate: dict[str, tuple[date | None, date | None]] = {}
    if rebuild is not None:
        for table in rebuild.tables:
            ranged = _STEPS[table].mode == "partitions"
            restate[table] = (rebuild.first_day, rebuild.last_day) if ranged else (None, None)
    pending = [t for t in changed if t not in restate]
    # A `table` step is replaced whole on every run anyway: only the others cost history.
    if any(_STEPS[t].mode != "table" for t in pending) and len(history) > settings.max_restate_days:
        raise RestateLimitError(_limit_message(settings, pending, len(history)))
    for table in pending:
        restate[table] = (None, None)
    complete = [t for t, (first, last) in restate.items() if Rebuild((), first, last).covers(history)]
    record = [t for t in current if adopted or t in complete]
    for table in restate:
        first, last = restate[table]
        why = "its SQL changed" if table in changed else "rebuild requested"
        log.warning("restating %s (%s) over %s..%s", table, why, first or "start", last or "end")
    ordered = [s.table for s in plan.GOLD_STEPS if s.table in restate]
    return {
        "fingerprints": dict(current),
        "adopted": adopted,
        "changed": changed,
        "history_days": len(history),
        "history": [d.isoformat() for d in history] if restate else [],
        "restate": {t: {"first_day": _iso(restate[t][0]), "last_day": _iso(restate[t][1])} for t in ordered},
        "record": record,
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def restated_days(step: plan.GoldStep, gold_plan: Mapping[str, Any] | None) -> list[date]:
    """The days of history the plan restates for a step (none when it does not restate it)."""
    gold_plan = gold_plan or {}
    bounds = gold_plan.get("restate", {}).get(step.table)
    if bounds is None:
        return []
    first, last = _day(bounds["first_day"], "first_day"), _day(bounds["last_day"], "last_day")
    history = [date.fromisoformat(d) for d in gold_plan["history"]]
    return [d for d in history if (first is None or d >= first) and (last is None or d <= last)]


def step_params(
    step: plan.GoldStep, params: Mapping[str, Any], gold_plan: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The run's query parameters for one gold step: its `days` (and their bounds) are the run's
    affected days plus the days the plan restates for it. For a `merge` step the bounds reach the
    first day of history, which alone sends its MERGE down its rebuild path; for a `table` step the
    days only say that there is work (`plan.nothing_new`)."""
    extra = restated_days(step, gold_plan)
    if not extra:
        return dict(params)
    days = sorted(set(params["days"]) | set(extra))
    return {**params, "days": days, **plan.day_bounds(days)}


def resets(step: plan.GoldStep, gold_plan: Mapping[str, Any] | None) -> bool:
    """Whether the step's state is emptied before its MERGE (a restated `merge` step)."""
    return step.mode == "merge" and step.table in (gold_plan or {}).get("restate", {})


def records(gold_plan: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters of `restate/gold_fingerprints_merge.sql` but `run_id` (empty arrays: nothing
    to record)."""
    tables = list((gold_plan or {}).get("record", []))
    current = (gold_plan or {}).get("fingerprints", {})
    return {"table_names": tables, "fingerprints": [current[t] for t in tables]}


# --- the local target (DuckDB) ----------------------------------------------------------------------


def plan_local(
    con: duckdb.DuckDBPyConnection, settings: Settings, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The `plan_gold` task on the warehouse file (the same SQL as on BigQuery)."""
    from pipeline import warehouse

    recorded = {r["table_name"]: r["fingerprint"] for r in warehouse.fetch_dicts(con, RECORDED_SQL)}
    history = [r["day"] for r in warehouse.fetch_dicts(con, HISTORY_SQL)]
    return make_plan(
        current=fingerprints(),
        recorded=recorded,
        history=history,
        rebuild=rebuild_request(params),
        settings=settings,
    )


def build_gold_step(
    con: duckdb.DuckDBPyConnection,
    step: plan.GoldStep,
    params: Mapping[str, Any],
    gold_plan: Mapping[str, Any] | None,
) -> int:
    """`warehouse.build_gold_step`, after emptying a restated merge step's state in the same
    transaction (a crash leaves the old state, never an empty one)."""
    from pipeline import warehouse

    if not resets(step, gold_plan):
        return warehouse.build_gold_step(con, step, params)
    warehouse.execute_file(con, plan.BEGIN_SQL)
    try:
        warehouse.execute_file(con, reset_sql(step), params)
        rows = warehouse.build_gold_step(con, step, params)
        warehouse.execute_file(con, plan.COMMIT_SQL)
    except Exception:
        con.rollback()
        raise
    return rows


def record(con: duckdb.DuckDBPyConnection, gold_plan: Mapping[str, Any] | None, run_id: str) -> list[str]:
    """Record the fingerprints the plan names (once gold is built); the tables recorded."""
    from pipeline import warehouse

    values = records(gold_plan)
    if values["table_names"]:
        warehouse.execute_file(con, RECORD_SQL, {**values, "run_id": run_id})
    return list(values["table_names"])

"""What the DAG runs, shared by both targets: the gold build order and the data-quality checks.

Each target turns these steps into its own thin operators; task ids, SQL files and parameters
come from here so the two targets cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from typing import Any, Literal

from pipeline.config import FX_MAX_GAP_DAYS, REPORTING_CURRENCY
from sql import catalog


@dataclass(frozen=True)
class GoldStep:
    name: str
    mode: Literal["partitions", "table", "merge"]
    """`partitions`: overwrite the run's affected days; `table`: replace the whole (small) table;
    `merge`: run the step's MERGE statement (`gold/<name>_merge.sql`), which updates the table in
    place (an incrementally maintained state)."""
    after: tuple[str, ...] = ()

    @property
    def task_id(self) -> str:
        return f"gold_{self.name}"

    @property
    def table(self) -> str:
        return f"gold.{self.name}"

    @property
    def sql(self) -> str:
        return f"gold/{self.name}_merge.sql" if self.mode == "merge" else f"gold/{self.name}.sql"


GOLD_STEPS: tuple[GoldStep, ...] = (
    GoldStep("aov_daily", "partitions"),
    GoldStep("agent_performance", "partitions"),
    GoldStep("customer_daily", "partitions"),
    GoldStep("peak_hours_daily", "partitions"),
    # Per-customer totals up to a watermark, so that RFM does not read every customer-day.
    GoldStep("customer_state", "merge", after=("customer_daily",)),
    GoldStep("customer_rfm", "table", after=("customer_daily", "customer_state")),
    GoldStep("peak_hours", "table", after=("peak_hours_daily",)),
    # Whole tables too: a late day can move a customer's first order (the cohort) or any segment.
    GoldStep("cohort_retention", "table", after=("customer_daily",)),
    GoldStep("segment_migration", "table", after=("customer_daily", "customer_rfm")),
)

# The silver load, the same statements on both targets (`pipeline.silver_load` on DuckDB,
# `pipeline.gcp.bigquery.silver_script` on BigQuery), after the entities are staged and
# `silver/affected_days.sql` has given the days that every day-bound statement is bound to.
# In one transaction: the run's audit rows replaced, ...
SILVER_AUDIT_FILES: tuple[str, ...] = (
    "silver/run_quarantine_delete.sql",
    "silver/run_file_stats_delete.sql",
    "silver/quarantine_insert.sql",
    "silver/file_stats_insert.sql",
)
# ... then the displaced rows quarantined and the key index merged (both read the rows the
# transactions MERGE replaces), the entities merged, and the days queued for the gold build.
SILVER_MERGE_FILES: tuple[str, ...] = (
    "silver/transactions_displaced.sql",
    "silver/transaction_keys_merge.sql",
    "silver/transactions_merge.sql",
    "silver/customers_merge.sql",
    "silver/agents_merge.sql",
    "silver/fx_rates_merge.sql",
    # After both MERGEs: the amounts of the affected days in the reporting currency.
    "silver/transactions_convert.sql",
    "runs/requeue_days.sql",
    "runs/queue_days.sql",
)
# The tables the cleaning job's output is staged for (into `<table>_staging`) before the load, and
# the folder of the job's output holding each one's Parquet (`spark/job.py` writes them).
STAGED_TABLES: dict[str, str] = {
    "silver.transactions": "silver/transactions",
    "silver.customers": "silver/customers",
    "silver.agents": "silver/agents",
    "silver.fx_rates": "silver/fx_rates",
    "audit.quarantine": "quarantine",
    "audit.file_stats": "file_stats",
}
BEGIN_SQL = "transaction/begin.sql"
COMMIT_SQL = "transaction/commit.sql"
PENDING_DAYS_SQL = "runs/pending_days.sql"
BUILT_DAYS_SQL = "runs/built_days.sql"
CHECK_RESULTS_SQL = "dq/results_merge.sql"
PIPELINE_RUN_SQL = "runs/pipeline_run_merge.sql"
REPORT_FIGURES_SQL = "runs/report_figures.sql"
RUN_RECORDED_SQL = "runs/run_recorded.sql"
RUN_HISTORY_SQL = "runs/run_history.sql"
"""Every recorded run: `cdi runs` and the health page's latest runs."""

# The task between the quality gate and gold that decides which gold tables the run restates over
# their history (their SQL changed, or the run's rebuild params ask for it): `pipeline.restate`.
GOLD_PLAN_TASK_ID = "plan_gold"

# Every task id of the DAG, the same on both targets.
TASK_IDS: tuple[str, ...] = (
    "claim_files",
    "clean_raw",
    "load_silver",
    "dq_checks",
    GOLD_PLAN_TASK_ID,
    *(s.task_id for s in GOLD_STEPS),
    "reconcile",
    "archive_files",
    "publish",
    "report",
)

# Silver tables in load order, each with its MERGE statement.
SILVER_ENTITIES: tuple[str, ...] = ("transactions", "customers", "agents", "fx_rates")


@dataclass(frozen=True)
class Check:
    name: str
    severity: Literal["error", "warn"]
    stage: Literal["silver", "gold"]
    """`silver` checks gate the gold build; `gold` checks reconcile after it."""
    description: str

    @property
    def sql(self) -> str:
        return f"checks/{self.name}.sql"


# The check whose severity follows CDI_ON_BAD_FILE.
BAD_FILE_CHECK = "unreadable_files"

_HEADER = re.compile(r"^--\s*(severity|stage|description):\s*(.+?)\s*$", re.MULTILINE)


def _parse_check(name: str, text: str) -> Check:
    header = dict(_HEADER.findall(text))
    severity, stage = header.get("severity"), header.get("stage")
    if severity not in ("error", "warn") or stage not in ("silver", "gold"):
        raise ValueError(
            f"sql/checks/{name}.sql: header needs '-- severity: error|warn' and '-- stage: silver|gold'"
        )
    return Check(name, severity, stage, header.get("description", ""))


@cache
def checks(stage: str | None = None, *, on_bad_file: str = "fail") -> tuple[Check, ...]:
    """Every check under sql/checks/, optionally of one stage, by name.

    `on_bad_file` (`CDI_ON_BAD_FILE`) sets the severity of `unreadable_files`: `fail` (default)
    fails the run after loading what is good, so an alert fires; `warn` only reports.
    """
    found = sorted((catalog.SQL_DIR / "checks").glob("*.sql"))
    parsed = [_parse_check(p.stem, p.read_text(encoding="utf-8")) for p in found]
    severity: Literal["error", "warn"] = "warn" if on_bad_file == "warn" else "error"
    parsed = [replace(c, severity=severity) if c.name == BAD_FILE_CHECK else c for c in parsed]
    return tuple(c for c in parsed if stage is None or c.stage == stage)


# Element types of the array parameters, which may be empty: an empty list says nothing about its
# type, so both targets declare it (a BigQuery ARRAY<DATE> parameter; a DuckDB CAST to DATE[]).
ARRAY_PARAMETER_TYPES: dict[str, str] = {
    "days": "DATE",
    "check_names": "STRING",
    "severities": "STRING",
    "failures": "INT64",
    "details": "STRING",
    "source_files": "STRING",
    "kept_runs": "STRING",
}

# What `day_bounds` binds for no days: an empty range (first_day > last_day) that stays valid under the
# arithmetic the SQL files do on it (`@first_day - 7`, `@last_day + 1`), so every query reads nothing.
NO_DAYS_BOUNDS: dict[str, date] = {"first_day": date.max, "last_day": date.min}


def day_bounds(days: Sequence[date]) -> dict[str, date]:
    """`first_day` and `last_day`, the bounds of `days`.

    SQL files filter on `date(transaction_ts) in unnest(@days)` and, beside it, on a range between
    these bounds: a range on the column itself is what DuckDB pushes into the scan (and prunes row
    groups with); it cannot push the IN UNNEST. With no days the range is empty.
    """
    if not days:
        return dict(NO_DAYS_BOUNDS)
    return {"first_day": min(days), "last_day": max(days)}


def check_result(check: Check, row: Mapping[str, Any]) -> dict[str, Any]:
    """A check's result from the one row its file returns (`failures`, `detail`), on both targets."""
    failures = int(row["failures"] or 0)
    return {
        "check_name": check.name,
        "severity": check.severity,
        "passed": failures == 0,
        "failures": failures,
        "detail": row.get("detail"),
    }


def check_result_parameters(results: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of `dq/results_merge.sql` for check results (`check_name`, `severity`,
    `failures`, `detail`): one array per field, the same order in each. An array parameter binds no
    NULL element (`pipeline.gcp.bigquery.query_parameter` encodes none, and BigQuery refuses an array
    holding NULL in a result: https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#array_type),
    so no detail binds as the empty string, which the file turns back into NULL."""
    return {
        "check_names": [str(r["check_name"]) for r in results],
        "severities": [str(r["severity"]) for r in results],
        "failures": [int(r["failures"]) for r in results],
        "details": ["" if r["detail"] is None else str(r["detail"]) for r in results],
    }


def nothing_new(files_claimed: int, days: Sequence[date]) -> bool:
    """A run that claimed no file and has no day pending a gold build: the most common scheduled
    run (a day or a weekend without a file). It succeeds and rebuilds nothing; the checks still run
    (freshness may warn), the day-scoped ones over no days."""
    return not files_claimed and not days


def currency_parameters(
    *, reporting_currency: str = REPORTING_CURRENCY, fx_max_gap_days: int = FX_MAX_GAP_DAYS
) -> dict[str, Any]:
    """The parameters of the conversion into the reporting currency (`CDI_REPORTING_CURRENCY`,
    `CDI_FX_MAX_GAP_DAYS`): the silver load (`silver/affected_days.sql`,
    `silver/transactions_convert.sql`) and the checks bind them, on both targets."""
    return {"reporting_currency": reporting_currency, "fx_max_gap_days": fx_max_gap_days}


def query_parameters(
    *,
    run_id: str,
    days: list[date],
    run_date: date,
    reporting_tz: str,
    rows_valid: int,
    reporting_currency: str = REPORTING_CURRENCY,
    fx_max_gap_days: int = FX_MAX_GAP_DAYS,
) -> dict[str, Any]:
    """The named parameters every SQL file may use, bound the same way on both targets."""
    return {
        "run_id": run_id,
        "days": sorted(days),
        **day_bounds(days),
        "run_date": run_date,
        "reporting_tz": reporting_tz,
        "rows_valid": rows_valid,
        **currency_parameters(reporting_currency=reporting_currency, fx_max_gap_days=fx_max_gap_days),
    }

"""What the DAG runs, shared by both targets: the gold build order and the data-quality checks.

Each target turns these steps into its own thin operators; task ids, SQL files and parameters
come from here so the two targets cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, Literal

from sql import catalog


@dataclass(frozen=True)
class GoldStep:
    name: str
    mode: Literal["partitions", "table"]
    """`partitions`: overwrite the run's affected days; `table`: replace the whole (small) table."""
    after: tuple[str, ...] = ()

    @property
    def task_id(self) -> str:
        return f"gold_{self.name}"

    @property
    def table(self) -> str:
        return f"gold.{self.name}"

    @property
    def sql(self) -> str:
        return f"gold/{self.name}.sql"


GOLD_STEPS: tuple[GoldStep, ...] = (
    GoldStep("aov_daily", "partitions"),
    GoldStep("agent_performance", "partitions"),
    GoldStep("customer_daily", "partitions"),
    GoldStep("peak_hours_daily", "partitions"),
    GoldStep("customer_rfm", "table", after=("customer_daily",)),
    GoldStep("peak_hours", "table", after=("peak_hours_daily",)),
)

# Every task id of the DAG, the same on both targets.
TASK_IDS: tuple[str, ...] = (
    "claim_files",
    "clean_raw",
    "load_silver",
    "dq_checks",
    *(s.task_id for s in GOLD_STEPS),
    "reconcile",
    "archive_files",
    "publish",
    "report",
)

# Silver tables in load order, each with its MERGE statement.
SILVER_ENTITIES: tuple[str, ...] = ("transactions", "customers", "agents")


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
def checks(stage: str | None = None) -> tuple[Check, ...]:
    """Every check under sql/checks/, optionally of one stage, by name."""
    found = sorted((catalog.SQL_DIR / "checks").glob("*.sql"))
    parsed = [_parse_check(p.stem, p.read_text(encoding="utf-8")) for p in found]
    return tuple(c for c in parsed if stage is None or c.stage == stage)


def query_parameters(
    *, run_id: str, days: list[date], run_date: date, reporting_tz: str, rows_valid: int
) -> dict[str, Any]:
    """The named parameters every SQL file may use, bound the same way on both targets."""
    return {
        "run_id": run_id,
        "days": sorted(days),
        "run_date": run_date,
        "reporting_tz": reporting_tz,
        "rows_valid": rows_valid,
    }

"""Identity and time window of one DAG run, derived the same way by every task of both targets."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_key(run_id: str) -> str:
    """A path- and id-safe form of an Airflow run id: `manual__2025-01-30T00:00:00+00:00` ->
    `manual__2025-01-30T00_00_00_00_00`."""
    return _UNSAFE.sub("_", run_id).strip("_")


@dataclass(frozen=True)
class RunWindow:
    run_id: str
    logical_end: datetime
    """When the run became due (`run_after`: the data interval's end for a scheduled run, the
    trigger time for a manual one). Rows later than this are FUTURE_TIMESTAMP."""

    @property
    def key(self) -> str:
        return run_key(self.run_id)

    @property
    def run_date(self) -> date:
        """The run's as-of date for RFM: the day its data interval ends."""
        return self.logical_end.date()

    @property
    def logical_date(self) -> date:
        return (self.logical_end - timedelta(microseconds=1)).date()


def window(context: Any) -> RunWindow:
    """The run window from an Airflow task context; stable across reruns of the same run."""
    dag_run = context["dag_run"]
    return RunWindow(run_id=dag_run.run_id, logical_end=dag_run.run_after)


def timed(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Add a task's wall time to its result (XCom), for the run report; and leave the error of a
    task that raises beside the report (`pipeline.task_errors`), since Airflow keeps it only in
    the task's log."""

    @functools.wraps(fn)
    def wrapper() -> dict[str, Any]:
        from pipeline import task_errors

        started = time.monotonic()
        try:
            result = fn()
        except Exception as err:
            task_errors.record_current(err)
            raise
        task_errors.clear_current()
        return {**result, "seconds": round(time.monotonic() - started, 3)}

    return wrapper

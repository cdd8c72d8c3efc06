"""The error of each failed task of a local run, kept beside the run's report.

Airflow keeps a task's exception only in the task's log, which the `report` task cannot read (and
which `dag.test()`, how `cdi run` runs the DAG, does not write to a file at all). So every task of
the local target leaves the error it raised as text in `reports/<run_key>.errors/<task_id>.txt`
(`pipeline.runs.timed`), and `pipeline.report.build` puts the errors of the tasks that ended
failed into report.json. A task that succeeds on a later try removes its file.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

log = logging.getLogger(__name__)


def folder(reports_dir: Path, run_key: str) -> Path:
    return reports_dir / f"{run_key}.errors"


def describe(error: BaseException) -> str:
    """`Type: message` (with any notes), without the traceback: the log has that."""
    return "".join(traceback.format_exception_only(error)).strip()


def record(reports_dir: Path, run_key: str, task_id: str, error: BaseException) -> Path:
    path = folder(reports_dir, run_key) / f"{task_id}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(describe(error) + "\n", encoding="utf-8")
    return path


def clear(reports_dir: Path, run_key: str, task_id: str) -> None:
    (folder(reports_dir, run_key) / f"{task_id}.txt").unlink(missing_ok=True)


def read(reports_dir: Path, run_key: str) -> dict[str, str]:
    """task id -> error text of every task of the run that left one."""
    errors = folder(reports_dir, run_key)
    if not errors.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted(errors.glob("*.txt"))}


def _current_task() -> tuple[Path, str, str] | None:
    """(reports folder, run key, task id) of the task running in this process, or None on the gcp
    target: a Composer worker's disk is neither kept nor read by the gcp report (Cloud Logging keeps
    the task's error), and the folder `Settings` falls back to there is the checkout's `var/`."""
    from airflow.sdk import get_current_context

    from pipeline.config import Settings
    from pipeline.runs import window

    settings = Settings.from_env()
    if settings.target != "local":
        return None
    context = get_current_context()
    return settings.reports_dir, window(context).key, context["ti"].task_id


def record_current(error: BaseException) -> None:
    """Record the error of the task running in this process (its Airflow context). Never raises:
    the task's own error is the one that must surface."""
    try:
        if current := _current_task():
            record(*current, error)
    except Exception:
        log.exception("could not record the task's error beside the report")


def clear_current() -> None:
    """Remove the error an earlier try of the running task left."""
    try:
        if current := _current_task():
            clear(*current)
    except Exception:
        log.exception("could not clear the task's earlier error")

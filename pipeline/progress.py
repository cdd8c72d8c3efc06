"""`cdi run`'s task lines: one per task when it ends, with its time (and its error when it
failed), and on a terminal a live indicator of what is running and for how long.

`TaskProgress` is an Airflow listener: Airflow calls its hooks in the process that runs the task,
which under `dag.test()` is the CLI's own, so the console hears of each task as it starts and ends
without polling the metadata DB. Tasks that never ran (their upstream failed) have no hook call:
`not_run()` lists them after the run from the report's task states. Import this module only once
the run's Airflow environment is set (importing Airflow reads it).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from airflow.listeners import hookimpl
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from pipeline import plan, task_errors

_TASK_WIDTH = max(len(t) for t in plan.TASK_IDS)
_MAX_ERROR_CHARS = 160


def _first_line(error: object) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {text}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


class TaskProgress:
    """Prints a line per task; use as a context manager around `dag.test()`."""

    def __init__(self, console: Console, *, live: bool) -> None:
        self.console = console
        self.finished: dict[str, str] = {}
        """task id -> how it ended (success, failed, skipped), in the order the tasks ended."""
        self.errors: dict[str, str] = {}
        """task id -> the error of a task that failed (`Type: message`)."""
        self._running: str | None = None
        self._since = time.monotonic()
        self._spinner = Spinner("dots")
        # Live must not swap sys.stdout/sys.stderr: while the logs are captured, they lead to the log.
        self._live = (
            Live(
                get_renderable=self._indicator,
                console=console,
                transient=True,
                refresh_per_second=4,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            if live
            else None
        )

    def __enter__(self) -> TaskProgress:
        from airflow.sdk.listener import get_listener_manager

        get_listener_manager().add_listener(self)
        self._since = time.monotonic()
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        from airflow.sdk.listener import get_listener_manager

        if self._live is not None:
            self._live.stop()
        get_listener_manager().pm.unregister(self)

    def _indicator(self) -> Spinner:
        what = self._running or ("starting the DAG run" if not self.finished else "next task")
        self._spinner.update(text=Text(f"{what}  {time.monotonic() - self._since:.0f} s", style="dim"))
        return self._spinner

    def _line(self, mark: Text, task_id: str, tail: str) -> None:
        line = Text("  ")
        line.append_text(mark)
        line.append(f" {task_id:<{_TASK_WIDTH}}  {tail}")
        self.console.print(line, soft_wrap=True)

    def _ended(self, task_id: str, how: str, error: object = None) -> None:
        seconds = time.monotonic() - self._since
        self.finished[task_id] = how
        self._running = None
        self._since = time.monotonic()
        if how == "success":
            self._line(Text("✓", style="green"), task_id, f"{seconds:7.1f} s")
        elif how == "failed":
            if isinstance(error, BaseException):
                self.errors[task_id] = task_errors.describe(error)
            elif error is not None:
                self.errors[task_id] = str(error)
            detail = f"  {_first_line(error)}" if error is not None else ""
            self._line(Text("✗", style="bold red"), task_id, f"{seconds:7.1f} s{detail}")
        else:
            self._line(Text("-", style="yellow"), task_id, f"{seconds:7.1f} s  skipped")

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self._running = task_instance.task_id
        self._since = time.monotonic()

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._ended(task_instance.task_id, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self._ended(task_instance.task_id, "failed", error)

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self._ended(task_instance.task_id, "skipped")

    def not_run(self, states: dict[str, str | None]) -> None:
        """A line for each task of the run that never started."""
        order = {t: i for i, t in enumerate(plan.TASK_IDS)}
        for task_id in sorted(states, key=lambda t: (order.get(t, len(order)), t)):
            if task_id not in self.finished and states[task_id] not in ("success", "failed", "running"):
                state = str(states[task_id] or "none").replace("_", " ")
                self._line(Text("-", style="yellow"), task_id, f"{'':>9}  not run ({state})")

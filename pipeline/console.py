"""The terminal of `cdi`: a rich Console, and for `cdi run` the switch between quiet (logs to
`OUTPUT/logs/<run>/run.log`, `pipeline.run_logs`) and verbose (logs on the terminal, as Airflow and
Spark write them).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, TextIO

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from pipeline.run_logs import LogCapture

# Wide enough that a table or a path piped to a file or a pager keeps each row on one line (rich
# assumes 80 columns when it cannot ask a terminal).
_PIPED_WIDTH = 200


def exit_process(code: int) -> NoReturn:
    """Exit a `cdi` command without the interpreter's last garbage collections.

    A run leaves Airflow, SQLAlchemy, FastAPI, pandas and PySpark loaded: the collector tracks
    hundreds of thousands of their objects and traverses them again, collection after collection,
    as the interpreter shuts down, only to free them. That took 2.2 s of a 13 s no-file `cdi run`
    on a quiet machine, and 4.5-11.6 s beside a test suite: more than all of its tasks together.
    `gc.freeze()` moves them out of the collector's reach; every file is closed and every task has
    ended by then, and the exit handlers (logging, Spark's) still run.
    """
    gc.freeze()
    sys.exit(code)


def make_console(file: TextIO | None = None) -> Console:
    target = file or sys.stdout
    piped = not target.isatty() and "COLUMNS" not in os.environ
    return Console(file=target, highlight=False, width=_PIPED_WIDTH if piped else None)


class Terminal:
    """What `cdi run` shows. Quiet: only `say()` and the task lines reach the terminal, everything
    else written to stdout or stderr goes to the current run's log (`capture_to`). Verbose: the
    logs stay on the terminal and nothing is captured."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self.console = make_console()
        self._capture: LogCapture | None = None

    @property
    def live(self) -> bool:
        """Whether to draw live indicators: on a terminal, and only when no log line can cut in."""
        return self.console.is_terminal and not self.verbose

    def say(self, text: str | Text) -> None:
        """A line (or lines) of plain text: no markup, never folded."""
        self.console.print(text if isinstance(text, Text) else Text(text), soft_wrap=True)

    def capture_to(self, log: Path) -> None:
        """Send the logs that follow to `log` (quiet mode only)."""
        if self.verbose:
            return
        if self._capture is None:
            self._capture = LogCapture(log)
            self.console.file = self._capture.terminal
        else:
            self._capture.switch(log)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        """A spinner with `text` and the time spent while the block runs (on a terminal, in quiet
        mode)."""
        if not self.live:
            yield
            return
        spinner, started = Spinner("dots"), time.monotonic()

        def draw() -> Spinner:
            spinner.update(text=Text(f"{text}  {time.monotonic() - started:.0f} s", style="dim"))
            return spinner

        # Live must not swap sys.stdout/sys.stderr: while the logs are captured, they lead to the log.
        with Live(
            get_renderable=draw,
            console=self.console,
            transient=True,
            refresh_per_second=4,
            redirect_stdout=False,
            redirect_stderr=False,
        ):
            yield

    def close(self) -> None:
        """Give stdout and stderr back; report a log that could not be written."""
        if self._capture is None:
            return
        capture, self._capture = self._capture, None
        capture.stop()
        if capture.error is not None:
            self.say(f"warning: the log {capture.path} is incomplete: {capture.error}")

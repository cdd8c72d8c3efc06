"""Where a quiet `cdi run` puts what Airflow, Spark and the cleaning job log:
`OUTPUT/logs/<run_key>/run.log`, one file per DAG run, in the order it was written.

Airflow's task logs, Python logging and the job's JSON lines are written by this process, but
Spark's log4j output comes from the JVM, a child process that inherits file descriptor 2 when it
starts and keeps it for the life of the process (the demo's two runs share one JVM). Swapping
`sys.stderr` would miss it, and pointing fd 2 at the first run's file would send the second run's
Spark lines there. So, while a `cdi run` lasts, fds 1 and 2 are a pipe, a thread copies the pipe
into the current run's file, and `switch()` moves the copy to the next run's file at an exact point
of the stream. The console keeps the real terminal through a duplicate of the original stdout.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import BinaryIO, TextIO

LOG_NAME = "run.log"
# Written into the pipe to mark where one run's log ends; shorter than PIPE_BUF, so never torn by
# another writer.
_MARK = b"\x00cdi-run-log-switch\x00"


def log_path(output: Path, run_key: str) -> Path:
    return output / "logs" / run_key / LOG_NAME


def _pending_mark(buffer: bytes) -> int:
    """How many bytes at the end of `buffer` may be the start of a mark still arriving."""
    for size in range(min(len(_MARK) - 1, len(buffer)), 0, -1):
        if _MARK.startswith(buffer[-size:]):
            return size
    return 0


class LogCapture:
    """Everything written to fds 1 and 2 goes to a log file until `stop()`; `terminal` is the
    original stdout, for the console."""

    def __init__(self, path: Path) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        self.terminal: TextIO = os.fdopen(
            os.dup(self._saved[0]), "w", encoding=encoding, errors="replace", buffering=1
        )
        self._file = self._open(path)
        self.error: OSError | None = None
        self._next: Path | None = None
        self._switched = threading.Event()
        self._switching = threading.Lock()
        read, write = os.pipe()
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        self._read = read
        self._thread = threading.Thread(target=self._pump, name="cdi-run-log", daemon=True)
        self._thread.start()
        self.path = path

    @staticmethod
    def _open(path: Path) -> BinaryIO:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("ab", buffering=0)

    def _write(self, data: bytes) -> None:
        """A log that cannot be written must not block the run: its writers would wait on a full
        pipe. The first error is kept for `stop()` to report."""
        if data and self.error is None:
            try:
                self._file.write(data)
            except OSError as err:
                self.error = err

    def _pump(self) -> None:
        """Copy the pipe into the current file until every writer has closed it (the JVM may
        outlive `stop()`: its last lines still go to the last file)."""
        buffer = b""
        while data := os.read(self._read, 65536):
            buffer += data
            while (at := buffer.find(_MARK)) >= 0:
                self._write(buffer[:at])
                buffer = buffer[at + len(_MARK) :]
                if self._next is not None:
                    self._file.close()
                    try:
                        self._file = self._open(self._next)
                    except OSError as err:
                        self.error = err
                    self._next = None
                self._switched.set()
            keep = _pending_mark(buffer)
            self._write(buffer[: len(buffer) - keep])
            buffer = buffer[len(buffer) - keep :]
        self._write(buffer)

    def _mark(self, next_path: Path | None) -> None:
        """Everything written so far goes to the current file; what follows to `next_path`."""
        with self._switching:
            sys.stdout.flush()
            sys.stderr.flush()
            self._switched.clear()
            self._next = next_path
            os.write(1, _MARK)
            if not self._switched.wait(timeout=30):
                raise RuntimeError(f"the log copy to {self.path} stopped")

    def switch(self, path: Path) -> None:
        """Write what follows to `path` (the next DAG run's log)."""
        if path != self.path:
            self._mark(path)
            self.path = path

    def stop(self) -> None:
        """Give fds 1 and 2 back, once everything written so far is in the file."""
        self._mark(None)
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self.terminal.flush()

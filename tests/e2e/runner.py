"""Running `cdi run` as a user does, in its own process, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

GOLD_TABLES = (
    "aov_daily",
    "agent_performance",
    "customer_daily",
    "peak_hours_daily",
    "customer_rfm",
    "peak_hours",
    "cohort_retention",
    "segment_migration",
)


def _command(landing: Path, output: Path, run_after: str) -> list[str]:
    """`python -m pipeline.cli run --input LANDING --output OUTPUT --run-after TS --verbose`: the logs
    on the terminal, so that a failing test shows them (the quiet console has its own tests)."""
    command = [sys.executable, "-m", "pipeline.cli", "run", "--input", str(landing), "--output", str(output)]
    return [*command, "--run-after", run_after, "--verbose"]


def _env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "CDI_SPARK_DRIVER_MEMORY": "1g", **env}


def cdi_run(landing: Path, output: Path, run_after: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline.cli run --input LANDING --output OUTPUT --run-after TS`."""
    return subprocess.run(
        _command(landing, output, run_after),
        capture_output=True,
        text=True,
        env=_env(env),
        timeout=600,
        check=False,
    )


def cdi_start(landing: Path, output: Path, run_after: str, log: IO[str], **env: str) -> subprocess.Popen[str]:
    """`cdi_run` in the background, its stdout and stderr to `log` (a pipe would fill up unread)."""
    return subprocess.Popen(
        _command(landing, output, run_after), stdout=log, stderr=subprocess.STDOUT, text=True, env=_env(env)
    )

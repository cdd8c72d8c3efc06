"""Running `cdi run` as a user does, in its own process, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GOLD_TABLES = (
    "aov_daily",
    "agent_performance",
    "customer_daily",
    "peak_hours_daily",
    "customer_rfm",
    "peak_hours",
)


def cdi_run(landing: Path, output: Path, run_after: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline.cli run --input LANDING --output OUTPUT --run-after TS`."""
    command = [sys.executable, "-m", "pipeline.cli", "run", "--input", str(landing), "--output", str(output)]
    return subprocess.run(
        [*command, "--run-after", run_after],
        capture_output=True,
        text=True,
        env={**os.environ, "CDI_SPARK_DRIVER_MEMORY": "1g", **env},
        timeout=600,
        check=False,
    )

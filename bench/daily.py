"""A one-file daily run, cold: how much of `cdi run` is Spark (issue 18, "fixed cost").

`python -m bench.daily` (`make bench-daily`):

1. **Land** (not timed) the demo's day-30 transactions file (about 1,000 rows) alone in a folder:
   the shape of an ordinary day.
2. **`cdi run` in a fresh process**, as a user starts it, `--repeat` times each way, alternating:
   - `archive`: the JVM maps Spark's classes from the class-data sharing archive `make setup`
     writes (`pipeline.spark_session`);
   - `no archive`: `CDI_SPARK_CLASS_ARCHIVE=off`, the JVM loads them from the jars;
   - `full JIT`: `CDI_SPARK_FIRST_TIER=off`, HotSpot's optimizing compiler on as for a large input
     (a small run's JVM stops at the first tier: `pipeline.spark_session.SMALL_INPUT_BYTES`).
   Timed: the process's wall time, and the `clean_raw` task from the run's report: the Spark
   job, plus whatever of the session start the Airflow start-up did not hide (the session starts
   on a thread while Airflow starts).
3. **Check**: every run succeeds with the same row counts.

Figures are medians per way; the load average is printed before and after. The last line is
`daily: wall_s=X spark_s=Y share=S wall_off_s=X0 spark_off_s=Y0 wall_full_jit_s=X1 spark_full_jit_s=Y1`
(S = Y / X: the target is at most 0.5, Spark no more than half of the run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import clean
from pipeline import sample_data
from pipeline.spark_session import ARCHIVE_ENV, FIRST_TIER_ENV, prepare_class_archive

TARGET_SHARE = 0.5
WAYS = {"archive": {}, "no archive": {ARCHIVE_ENV: "off"}, "full JIT": {FIRST_TIER_ENV: "off"}}


def _run(landing: Path, output: Path, env: dict[str, str]) -> tuple[float, dict[str, object]]:
    """`cdi run` on `landing` in a fresh process: (wall seconds, its report)."""
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "pipeline.cli", "run", "--input", str(landing), "--output", str(output)]
    start = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"cdi run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    report: dict[str, object] = json.loads((output / "report.json").read_text())
    return wall, report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.daily", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs each way (default 2)")
    parser.add_argument(
        "--ways", nargs="+", choices=list(WAYS), default=list(WAYS), help="the ways to run (default: all)"
    )
    args = parser.parse_args(argv)
    ways = {way: WAYS[way] for way in args.ways}
    if prepare_class_archive() is None:
        raise SystemExit("no java found: the class archive cannot be written (see `make java`)")
    work = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    try:
        # USD only: a GBP order of the day would need the day's rates file, a second file.
        spec = sample_data.SampleSpec(second_currency=None)
        landing = work / "landing"
        (day_file,) = sample_data.write_transaction_days(landing, spec, [spec.days - 1])
        print(f"machine: {os.cpu_count()} CPUs; load average before: {clean._load()}")
        print(f"landed (not timed): {day_file.relative_to(landing)}, {day_file.stat().st_size:,} bytes")
        walls: dict[str, list[float]] = {way: [] for way in WAYS}
        sparks: dict[str, list[float]] = {way: [] for way in WAYS}
        nan = [float("nan")]
        counts: set[tuple[int, int]] = set()
        for i in range(args.repeat):
            for way, env in ways.items():
                wall, report = _run(landing, work / "out", env)
                spark = float(report["step_seconds"]["clean_raw"])  # type: ignore[index]
                totals = report["totals"]
                counts.add((int(totals["rows_valid"]), int(totals["rows_quarantined"])))  # type: ignore[index]
                walls[way].append(wall)
                sparks[way].append(spark)
                print(
                    f"run {i + 1} {way:10} {wall:6.1f} s wall, clean_raw {spark:5.1f} s ({spark / wall:.0%})"
                )
        print(f"load average after: {clean._load()}")
        if len(counts) != 1:
            print(f"counts DIFFER between runs: {sorted(counts)}")
            return 1
        ((valid, quarantined),) = counts
        print(f"counts: every run {valid:,} valid, {quarantined:,} quarantined")
        # A way left out (--ways) prints nan.
        medians = {
            way: (statistics.median(walls[way] or nan), statistics.median(sparks[way] or nan)) for way in WAYS
        }
        (wall, spark), (wall_off, spark_off), (wall_jit, spark_jit) = medians.values()
        share = spark / wall
        print(
            f"target Spark share {share:.2f} <= {TARGET_SHARE}: {'met' if share <= TARGET_SHARE else 'MISSED'}"
        )
        print(
            f"daily: wall_s={wall:.2f} spark_s={spark:.2f} share={share:.2f} "
            f"wall_off_s={wall_off:.2f} spark_off_s={spark_off:.2f} "
            f"wall_full_jit_s={wall_jit:.2f} spark_full_jit_s={spark_jit:.2f}"
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

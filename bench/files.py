"""Many small files against the same rows in one file (issue 18, "cost follows rows, not files").

`python -m bench.files --files N` (`make bench-files FILES=N`, default 365):

1. **Generate** (not timed) N x `--rows-per-file` transaction rows into one CSV with
   `bench.clean.generate` (about 2% dirty rows whose quarantine reasons are known), then split
   that file's rows, in order, into N files of about `--rows-per-file` rows, each with the header.
   The union of the N files is exactly the one file, and claiming the N files in order keeps every
   duplicate key's outcome: the later file wins as the later row wins in one file. Re-sends point
   back anywhere in the rows, so most duplicates cross files.
2. **Three fresh processes** (timed, interpreter and session start-up included; each process tree
   sampled for RSS as in `bench.clean`):
   - `spark many`: `spark.job.run_job` on a session of `pipeline.spark_session.get_spark`, one
     `InputFile` per file, in order (a daily backfill of a year of files);
   - `spark one`: the same job on the one file;
   - `duckdb many`: the DuckDB floor of `bench.clean` (the same rules in SQL) on the N files in one
     `read_csv` of the list.
3. **Check**: the valid and quarantined counts of the three agree with each other and with the
   generator (exit status 1 when not).

The machine's speed varies about 2x between runs, so the figure to compare is the ratio measured
side by side; the load average is printed before and after each phase. The last line is
`files: n=N many_s=X one_s=Y ratio=R duckdb_s=Z` (R = X / Y, seconds of each child's wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import clean

FINAL_LINE = re.compile(
    r"^files: n=(\d+) many_s=(\d+\.\d+) one_s=(\d+\.\d+) ratio=(\d+\.\d+) duckdb_s=(\d+\.\d+)$"
)
TARGET_RATIO = 1.3
"""Issue 18: N files at most 1.3 times the same rows in one file (at 365 files)."""
PHASES: tuple[tuple[str, str, bool], ...] = (
    ("spark_many", "spark", True),
    ("spark_one", "spark", False),
    ("duckdb_many", "duckdb", True),
)
"""(name, implementation, on the N files rather than the one file), in the order they run."""


def split(path: Path, folder: Path, files: int) -> list[Path]:
    """Split the rows of the CSV `path` (one record per line, as `bench.clean.generate` writes it)
    in order into `files` files of nearly equal size, each with the header.

    :returns: the files in order; their names sort in the same order.
    """
    lines = path.read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    if not 0 < files <= len(rows):
        raise ValueError(f"cannot split {len(rows)} rows into {files} files")
    folder.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(files)))
    per_file, extra = divmod(len(rows), files)
    out, start = [], 0
    for i in range(files):
        end = start + per_file + (1 if i < extra else 0)
        part = folder / f"transactions-{i + 1:0{width}d}.csv"
        part.write_bytes(header + b"".join(rows[start:end]))
        out.append(part)
        start = end
    return out


def _child(phase: str, impl: str, paths: Sequence[Path], workdir: Path) -> clean._Measured:
    """One implementation on `paths` in a fresh process (`--phase`), measured by `bench.clean`."""
    inputs = workdir / f"{phase}.inputs.json"
    inputs.write_text(json.dumps([str(p) for p in paths]))
    result = workdir / f"{phase}.result.json"
    output = workdir / f"{phase}_out"
    shutil.rmtree(output, ignore_errors=True)
    cmd = [sys.executable, "-m", "bench.files", "--phase", impl, "--inputs", str(inputs)]
    return clean.measure(phase, [*cmd, "--output", str(output), "--result", str(result)], result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.files", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=365, help="number of small files")
    parser.add_argument("--rows-per-file", type=int, default=1000, help="transaction rows per file")
    parser.add_argument("--workdir", type=Path, help="folder for the files and outputs (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--phase", choices=["spark", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase:  # a child: one implementation on the listed files, result as JSON
        paths = [Path(p) for p in json.loads(args.inputs.read_text())]
        runner = clean.run_spark if args.phase == "spark" else clean.run_duckdb
        args.result.write_text(json.dumps(runner(paths, args.output)))
        return 0

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-files-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = args.files * args.rows_per_file
    one = workdir / "transactions.csv"
    try:
        print(f"machine: {os.cpu_count()} CPUs; load average before: {clean._load()}")
        start = time.perf_counter()
        expected = clean.generate(one, rows, seed=args.seed)
        many = split(one, workdir / "files", args.files)
        print(
            f"generated (not timed): {rows:,} rows, {sum(expected.values()):,} dirty, in one file of "
            f"{one.stat().st_size / (1 << 20):,.1f} MiB and in {len(many)} files of about "
            f"{args.rows_per_file:,} rows, in {time.perf_counter() - start:.1f} s"
        )
        measured: dict[str, clean._Measured] = {}
        for phase, impl, on_many in PHASES:
            measured[phase] = _child(phase, impl, many if on_many else [one], workdir)
            print(f"load average after {phase}: {clean._load()}")
        return _report(args.files, rows, expected, measured)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _report(files: int, rows: int, expected: dict[str, int], measured: dict[str, clean._Measured]) -> int:
    for phase, m in measured.items():
        r = m.result
        line = (
            f"{phase:12} {m.wall_seconds:7.1f} s wall, {rows / m.wall_seconds:>10,.0f} rows/s, "
            f"peak RSS {m.peak_rss / clean.GIB:.2f} GiB; in process {r['seconds']:.1f} s"
        )
        if "startup_seconds" in r:
            line += f" ({r['startup_seconds']:.1f} s session start-up)"
            line += "\n" + " " * 13 + "steps_seconds: "
            line += ", ".join(f"{k} {v:.1f}" for k, v in r["steps_seconds"].items())
        print(line)

    n_dirty = sum(expected.values())
    print(f"{'':18} {'expected':>10}" + "".join(f" {p:>12}" for p in measured))
    for key, value in (("rows_valid", rows - n_dirty), ("rows_quarantined", n_dirty)):
        print(f"{key:18} {value:>10,}" + "".join(f" {m.result[key]:>12,}" for m in measured.values()))
    reasons = set(expected).union(*(m.result["reasons"] for m in measured.values()))
    for reason in sorted(reasons):
        got = [m.result["reasons"].get(reason, 0) for m in measured.values()]
        flag = "" if all(g == expected.get(reason, 0) for g in got) else "   <- differs"
        print(f"  {reason:16} {expected.get(reason, 0):>10,}" + "".join(f" {g:>12,}" for g in got) + flag)
    agree = all(
        m.result["rows_valid"] == rows - n_dirty and m.result["rows_quarantined"] == n_dirty
        for m in measured.values()
    )
    print(
        "counts: "
        + ("spark many, spark one and duckdb agree with the generator" if agree else "they DISAGREE")
        + ("" if all(m.result["reasons"] == expected for m in measured.values()) else "; reasons differ")
    )

    many_s = measured["spark_many"].wall_seconds
    one_s = measured["spark_one"].wall_seconds
    duckdb_s = measured["duckdb_many"].wall_seconds
    ratio = many_s / one_s
    print(f"target many/one {ratio:.2f} <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'MISSED'}")
    print(f"files: n={files} many_s={many_s:.2f} one_s={one_s:.2f} ratio={ratio:.2f} duckdb_s={duckdb_s:.2f}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())

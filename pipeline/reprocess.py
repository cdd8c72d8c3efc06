"""`cdi reprocess (FILE | --run RUN)`: read files again from the archive, after a settings fix.

A file is processed once per OUTPUT. When the source settings (`sources.yaml`) that read it were
wrong (a column that needed a mapping, dates in another order), fixing them changes nothing for
the files already processed: this command reads them again, through a DAG run of their own (the
local target's `dag.test()`, as `cdi run`) given `{"reprocess": [source files]}` as its conf. That
run's claim task claims the archived copies of those files (their latest attempt's; the landing
folder may no longer hold them) into the run's archive folder, as claims of the run; the load then
replaces what earlier attempts left in silver and quarantine (`pipeline.claim`), rebuilds the days
concerned, and audit.processed_files and audit.file_stats keep both attempts. Reprocessing again
with the same settings changes no row.

A file rejected whole needs no command: the next `cdi run` claims it again by itself once the
settings file changed.
"""

from __future__ import annotations

import argparse
import difflib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import claim, local_run, output_folder, plan, warehouse
from pipeline.config import ENTITIES
from pipeline.console import Terminal
from pipeline.runs import run_key
from pipeline.usage_error import UsageError

DESCRIPTION = (
    "Read files a run claimed again, from the archive, after fixing the settings that read them "
    "(sources.yaml): in a run of their own, whose rows replace what the earlier attempts left in "
    "silver and quarantine, and which rebuilds the days concerned; audit.processed_files and "
    "audit.file_stats keep every attempt. A file rejected whole needs no command: the next "
    "`cdi run` reads it again once sources.yaml changed."
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """The `reprocess` subcommand (handler: `reprocess`)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "reprocess",
        help="read processed files again from the archive (after fixing sources.yaml)",
        description=DESCRIPTION,
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "file",
        nargs="?",
        help="a file a run claimed: its landing path as recorded, a path that resolves to it, or its "
        "archive copy",
    )
    which.add_argument(
        "--run", help="every file that run claimed: a run id (see `cdi runs`) or its path-safe key"
    )
    p.add_argument("--output", help="output folder the files were processed into (default: var)")
    p.add_argument(
        "--sources",
        metavar="FILE",
        help="source settings to read the files with (default: sources.yaml at the repository root)",
    )
    p.add_argument(
        "--run-after",
        help="ISO timestamp the run is due at (default: now); rows later than it are FUTURE_TIMESTAMP",
    )
    p.add_argument("--verbose", action="store_true", help="show Airflow's and Spark's logs on the terminal")
    p.set_defaults(func=reprocess)
    return p


def _order(a: claim.Attempt) -> tuple[int, str]:
    return (ENTITIES.index(a.entity), a.source_file)


def files_of_run(known: list[claim.Attempt], run: str, output: Path) -> list[str]:
    """The source files run `run` (a run id or its key) claimed, in the order a run claims them."""
    claimed = [a for a in known if run in (a.run_id, run_key(a.run_id))]
    if not claimed:
        runs = sorted({a.run_id for a in known}, reverse=True)[:5]
        hint = f"; runs that claimed files: {', '.join(runs)}" if runs else ""
        raise UsageError(
            f"no run {run!r} claimed files in {output}: give a run id as `cdi runs --output {output}` "
            f"lists it (or its path-safe key){hint}"
        )
    return [a.source_file for a in sorted(claimed, key=_order)]


def file_named(known: list[claim.Attempt], file: str, output: Path) -> str:
    """The recorded source file `file` names: the landing path as recorded, a path that resolves to
    it (relative to the current folder, through links), or the path of one of its archive copies."""
    resolved = str(Path(file).expanduser().resolve())
    for a in known:
        if a.source_file in (file, resolved):
            return a.source_file
    for a in known:
        if str(Path(a.archive_path).resolve()) == resolved:
            return a.source_file
    sources = sorted({a.source_file for a in known})
    names = difflib.get_close_matches(Path(file).name, [Path(s).name for s in sources], n=3)
    similar = [s for s in sources if Path(s).name in names][:3]
    hint = f" Claimed files with a similar name: {', '.join(similar)}." if similar else ""
    raise UsageError(
        f"{file}: no run claimed this file in {output}, so there is nothing to read again. Give "
        f"the landing path a run recorded (audit.processed_files), or --run RUN for every file of a "
        f"run; a file never processed is read by `cdi run --input LANDING --output {output}`.{hint}"
    )


def _landing(output: Path, files: list[str], known: list[claim.Attempt]) -> Path:
    """The landing folder to configure the run with (its claim task reads the archive, not this):
    the one OUTPUT was built from, else the parent of the first file's entity folder."""
    marker = output_folder.read_marker(output)
    if marker is not None:
        return Path(marker["input"])
    first = next(a for a in known if a.source_file == files[0])
    path = Path(first.source_file)
    return next((p.parent for p in path.parents if p.name == first.entity), output / "landing")


def reprocess(args: argparse.Namespace) -> int:
    from pipeline.cli import _check_sources  # as `cdi run`: validated, then CDI_SOURCES for the tasks

    _check_sources(args.sources)
    output = Path(args.output or output_folder.DEMO_OUTPUT).resolve()
    try:
        run_after = (
            datetime.fromisoformat(args.run_after).astimezone(UTC)
            if args.run_after
            else datetime.now(UTC).replace(microsecond=0)
        )
    except ValueError:
        raise UsageError(f"--run-after {args.run_after!r}: expected an ISO timestamp") from None
    run_id = local_run.manual_run_id(run_after)
    with output_folder.open_warehouse(output) as con:
        known = claim.attempts(con)
        files = files_of_run(known, args.run, output) if args.run else [file_named(known, args.file, output)]
        taken = warehouse.fetch_dicts(con, plan.RUN_RECORDED_SQL, {"run_id": run_id})[0]["runs"]
    if taken or any(a.run_id == run_id for a in known):
        raise UsageError(
            f"a run due at {run_after.isoformat()} exists already ({run_id}); a reprocess is a run of "
            "its own: give another --run-after, or leave it out (now)"
        )
    term = Terminal(verbose=args.verbose)
    try:
        term.say(f"cdi reprocess: {len(files)} file(s) of {output}, read again from the archive")
        local_run.configure_environment(_landing(output, files, known), output)
        report = local_run.run_dag(run_after, output, term, run_conf={"reprocess": files})
        local_run.print_report(term, report, output)
    finally:
        term.close()
    return 1 if local_run.failed([report]) else 0

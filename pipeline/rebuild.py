"""`cdi rebuild`: restate gold tables, and every table built from them, over a range of days.

It is one manual run of the DAG with its rebuild params (`pipeline.restate.dag_params`), what the
trigger form starts on Composer: the restatement goes through the same tasks, SQL and checks as
every run (the local target's `dag.test()`, as `cdi run`), and the run is in `cdi runs` and
`audit.pipeline_runs` like any other. Use it when a gold SQL change would restate more history than
`CDI_MAX_RESTATE_DAYS` lets a run do (the run stops and names this command), or to rebuild days.

    cdi rebuild [--output OUT] [--table T ...] [--from DAY] [--to DAY]

Without `--table`, every gold table; without `--from`/`--to`, every day in silver. A range bounds
the day partitions of the daily tables; `customer_state` is reset and rebuilt, and the whole-table
marts replaced, whatever the range. A table whose whole history was rebuilt gets the fingerprint of
its SQL recorded (`audit.gold_fingerprints`), so the next runs no longer restate it. The run claims
no landing file (the next `cdi run` does); running it again gives the same tables.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline import local_run, output_folder, plan, restate, warehouse
from pipeline.console import Terminal, exit_process
from pipeline.usage_error import UsageError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _table(text: str) -> str:
    try:
        return restate.table_name(text).removeprefix("gold.")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """The `rebuild` subcommand (handler: `rebuild`)."""
    names = ", ".join(s.name for s in plan.GOLD_STEPS)
    p: argparse.ArgumentParser = subparsers.add_parser(
        "rebuild",
        help="restate gold tables (and what is built from them) over a range of days",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--output", help="output folder whose gold is restated (default: var)")
    p.add_argument(
        "--table",
        dest="tables",
        action="append",
        type=_table,
        default=[],
        metavar="TABLE",
        help=f"gold table to restate, with what is built from it; repeatable (default: all): {names}",
    )
    p.add_argument(
        "--from",
        dest="first_day",
        type=_day,
        metavar="DAY",
        help="first UTC day (default: the first in silver)",
    )
    p.add_argument(
        "--to", dest="last_day", type=_day, metavar="DAY", help="last UTC day (default: the last in silver)"
    )
    p.add_argument("--run-after", help="ISO timestamp the run is due at (default: now)")
    p.add_argument("--verbose", action="store_true", help="show Airflow's logs on the terminal")
    p.set_defaults(func=rebuild)
    return p


def rebuild(args: argparse.Namespace) -> int:
    """Run the rebuild: exit status 0 when the run succeeded, 1 when it failed."""
    output = Path(args.output or output_folder.DEMO_OUTPUT).resolve()
    if args.first_day and args.last_day and args.first_day > args.last_day:
        raise UsageError(f"--from {args.first_day} is after --to {args.last_day}")
    run_after = (
        datetime.fromisoformat(args.run_after).astimezone(UTC)
        if args.run_after
        else datetime.now(UTC).replace(microsecond=0)
    )
    run_id = local_run.manual_run_id(run_after)
    with output_folder.open_warehouse(output) as con:
        taken = warehouse.fetch_dicts(con, plan.RUN_RECORDED_SQL, {"run_id": run_id})[0]["runs"]
    if taken:
        raise UsageError(
            f"a run due at {run_after.isoformat()} exists already ({run_id}); a rebuild is a run of its "
            "own: give another --run-after, or leave it out (now)"
        )
    conf = restate.rebuild_conf(args.tables, args.first_day, args.last_day)
    term = Terminal(verbose=args.verbose)
    try:
        span = f"{args.first_day or 'the first day'} to {args.last_day or 'the last day'} in silver"
        term.say(f"cdi rebuild: {', '.join(conf[restate.REBUILD_TABLES])} of {output}, {span}")
        # No landing folder: a rebuild claims no file.
        local_run.configure_environment(output / "airflow" / "no-landing", output)
        report = local_run.run_dag(run_after, output, term, run_conf=conf)
        local_run.print_report(term, report, output)
    finally:
        term.close()
    return 1 if local_run.failed([report]) else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.rebuild [options]`: the same command, with or without the `cdi` wiring."""
    parser = argparse.ArgumentParser(prog="cdi")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["rebuild", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return rebuild(args)
    except (UsageError, local_run.RunError) as err:
        print(f"cdi: {err}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1


if __name__ == "__main__":
    exit_process(main())

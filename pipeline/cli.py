"""`cdi`: the local pipeline from the command line.

- `cdi run` runs the pipeline end to end through Airflow, printing a line per task; the logs of
  Airflow, Spark and the cleaning job go to OUTPUT/logs/<run>/ (`--verbose` shows them instead).
  Without `--input` it is the demo: deterministic sample data, an initial load of 29 days, then
  day 30 landed and the incremental daily run, in var/. With `--input DIR` it runs once on the
  user's landing folder (never modified), into out/<DIR's name> unless `--output` says otherwise.
- `cdi ui` starts the local Airflow environment (API server with the UI, scheduler, DAG processor,
  triggerer) on an input and output folder: the DAG runs daily and when a file lands in the input,
  as on Composer (`pipeline.local_ui`).
- `cdi runs`, `cdi show RUN` and `cdi quarantine` read what the runs of an OUTPUT left.
- `cdi reprocess` reads archived files again after a settings fix; `cdi rebuild` restates gold.
- `cdi generate` writes the sample landing data.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import local_run, local_ui, output_folder
from pipeline.console import Terminal, exit_process, make_console

# Under this name for the tests that build an Airflow metadata DB the way `cdi run` does.
from pipeline.local_run import migrate_airflow_db as _migrate_airflow_db  # noqa: F401
from pipeline.usage_error import UsageError

INSPECT_OUTPUT_HELP = (
    "output folder of the runs (default: var, the demo's; a run with --input DIR wrote out/<DIR's name>)"
)


def _output(args: argparse.Namespace) -> Path:
    """The OUTPUT an inspection command reads (the demo's by default, as `cdi run`)."""
    return Path(args.output or output_folder.DEMO_OUTPUT).resolve()


# cdi run ------------------------------------------------------------------------------------------


def add_run(sub: Any) -> None:
    r = sub.add_parser("run", help="run the pipeline end to end on the local target")
    r.add_argument("--input", help="landing folder with transactions/ (customers/, agents/ optional)")
    r.add_argument(
        "--output",
        help="output folder (default: var for the demo, out/<input folder name> with --input, "
        "both under the current folder)",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="run even though OUTPUT was built from another input folder (--input runs only)",
    )
    r.add_argument(
        "--sources",
        metavar="FILE",
        help="source settings: how each landing file is read (default: sources.yaml at the repository root)",
    )
    r.add_argument("--verbose", action="store_true", help="show Airflow's and Spark's logs on the terminal")
    r.add_argument("--seed", type=int, default=42, help="sample data seed (demo only)")
    r.add_argument("--days", type=int, default=30, help="days of sample data (demo only)")
    r.add_argument(
        "--run-after",
        help="ISO timestamp the run is due at (default: now); rows later than it are FUTURE_TIMESTAMP",
    )
    r.set_defaults(func=run)


def _check_sources(path: str | None) -> None:
    """Validate the source settings before anything runs; `--sources` reaches the tasks as CDI_SOURCES."""
    from pipeline.config import ENV, Settings
    from pipeline.source_settings import load_sources
    from spark.sources import SourcesError

    if path is not None:
        sources = Path(path).resolve()
        if not sources.is_file():
            raise UsageError(f"--sources {sources}: no such file")
        os.environ[ENV["sources"]] = str(sources)
    try:
        load_sources(Settings.from_env())
    except SourcesError as err:
        raise UsageError(f"{err}\n(fix the source settings file; nothing was run)") from None


def run(args: argparse.Namespace) -> int:
    _check_sources(args.sources)
    term = Terminal(verbose=args.verbose)
    landing = Path(args.input).resolve() if args.input else None
    output = Path(args.output).resolve() if args.output else output_folder.default_output(landing, Path.cwd())
    local_ui.check_not_running(output)
    if landing is None:
        term.say(f"cdi run: the demo, into {output}")
    else:
        default = "" if args.output else " (the default output of this input; --output to choose)"
        term.say(f"cdi run: {landing} -> {output}{default}")
    try:
        if landing is None:
            if args.force:
                raise UsageError(
                    "--force is for runs with --input: the demo deletes and rebuilds its own output"
                )
            reports = local_run.demo(output, seed=args.seed, days=args.days, term=term)
        else:
            output_folder.check_input_run(landing, output, force=args.force)
            run_after = (
                datetime.fromisoformat(args.run_after).astimezone(UTC)
                if args.run_after
                else datetime.now(UTC).replace(microsecond=0)
            )
            reports = [local_run.on_landing(landing, output, run_after=run_after, term=term)]
    finally:
        term.close()
    return 1 if local_run.failed(reports) else 0


# cdi ui -------------------------------------------------------------------------------------------


def add_ui(sub: Any) -> None:
    u = sub.add_parser("ui", help="the local Airflow UI, scheduler and file-arrival runs on an input folder")
    u.add_argument(
        "--input",
        help="landing folder to watch, with transactions/ (default: the demo's, var/landing, after `cdi run`)",
    )
    u.add_argument("--output", help="output folder (default: as `cdi run`: out/<input folder name>, or var)")
    u.add_argument(
        "--port",
        type=int,
        default=local_ui.DEFAULT_PORT,
        help=f"port of the UI (default: {local_ui.DEFAULT_PORT})",
    )
    u.add_argument(
        "--settle",
        type=float,
        default=local_ui.DEFAULT_SETTLE_SECONDS,
        metavar="SECONDS",
        help=f"a dropped file starts a run once unchanged this long (default: {local_ui.DEFAULT_SETTLE_SECONDS:g})",
    )
    u.add_argument("--sources", metavar="FILE", help="source settings (as `cdi run --sources`)")
    u.add_argument("--force", action="store_true", help="as `cdi run --force`")
    u.set_defaults(func=ui)


def ui(args: argparse.Namespace) -> int:
    _check_sources(args.sources)
    if args.input:
        landing = Path(args.input).resolve()
        output = (
            Path(args.output).resolve() if args.output else output_folder.default_output(landing, Path.cwd())
        )
    else:
        output = Path(args.output or output_folder.DEMO_OUTPUT).resolve()
        landing = output / "landing"
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: expected a TCP port, 1-65535")
    if args.settle < 0:
        raise UsageError(f"--settle {args.settle}: expected seconds, 0 or more")
    local_ui.check_not_running(output)
    output_folder.check_input_run(landing, output, force=args.force)
    term = Terminal(verbose=False)
    term.say(f"cdi ui: {landing} -> {output}")
    try:
        local_ui.serve(landing, output, port=args.port, settle_seconds=args.settle, term=term)
    except local_ui.UiError as err:
        raise local_run.RunError(str(err)) from None
    finally:
        term.close()
    return 0


# cdi runs -----------------------------------------------------------------------------------------


def add_runs(sub: Any) -> None:
    r = sub.add_parser("runs", help="the run history of an output folder, newest first")
    r.add_argument("--output", help=INSPECT_OUTPUT_HELP)
    r.add_argument("--limit", type=int, default=20, help="newest runs to list (default: 20)")
    r.set_defaults(func=runs)


def runs(args: argparse.Namespace) -> int:
    from pipeline import run_history

    with output_folder.open_warehouse(_output(args)) as con:
        history = run_history.load(con)
    console = make_console()
    if not history:
        console.print(f"no run recorded in {_output(args)} yet", soft_wrap=True)
        return 0
    console.print(run_history.table(history[: args.limit]))
    if len(history) > args.limit:
        console.print(f"the {args.limit} newest of {len(history)} runs (--limit to see more)")
    return 0


# cdi show -----------------------------------------------------------------------------------------


def add_show(sub: Any) -> None:
    s = sub.add_parser("show", help="one run's report: figures, tasks with their errors, files, checks")
    s.add_argument("run", help="`latest`, a run id (see `cdi runs`), its path-safe key, or a report file")
    s.add_argument("--output", help=INSPECT_OUTPUT_HELP)
    s.set_defaults(func=show)


def show(args: argparse.Namespace) -> int:
    from pipeline import report_view

    output = _output(args)
    report = report_view.load(report_view.find(output, args.run))
    report_view.print_report(make_console(), report, output)
    return 0


# cdi quarantine -----------------------------------------------------------------------------------


def add_quarantine(sub: Any) -> None:
    q = sub.add_parser("quarantine", help="rejected rows with their raw values, as a table or CSV")
    q.add_argument("--output", help=INSPECT_OUTPUT_HELP)
    q.add_argument("--run", help="`latest`, a run id or its path-safe key (default: every run)")
    q.add_argument("--reason", help="a reason code, e.g. BAD_AMOUNT")
    q.add_argument("--file", help="a landing file: its path or the end of it, e.g. orders.csv")
    q.add_argument("--csv", metavar="PATH", help="write every matching row to this CSV file")
    q.add_argument("--limit", type=int, default=20, help="rows in the table (default: 20)")
    q.set_defaults(func=quarantine)


def _rows(count: int) -> str:
    return f"{count} rejected row{'' if count == 1 else 's'}"


def quarantine(args: argparse.Namespace) -> int:
    from pipeline import quarantine_rows

    with output_folder.open_warehouse(_output(args)) as con:
        rejected = quarantine_rows.select(con, run=args.run, reason=args.reason, file=args.file)
    console = make_console()
    count = len(rejected.rows)
    if args.csv:
        path = Path(args.csv).resolve()
        quarantine_rows.write_csv(rejected, path)
        console.print(f"{_rows(count)} written to {path}", soft_wrap=True)
        return 0
    if not count:
        console.print("no rejected row matches", soft_wrap=True)
        return 0
    console.print(quarantine_rows.table(rejected, args.limit))
    shown = min(count, args.limit)
    more = " (--limit to see more, --csv PATH for all)" if count > shown else ""
    console.print(f"{shown} of {_rows(count)}{more}", soft_wrap=True)
    return 0


# cdi generate -------------------------------------------------------------------------------------


def add_generate(sub: Any) -> None:
    g = sub.add_parser("generate", help="write the deterministic sample landing data")
    g.add_argument("--landing", required=True, help="folder to write transactions/, customers/, agents/")
    g.add_argument("--seed", type=int, default=42, help="random seed")
    g.add_argument("--days", type=int, default=30, help="days of transactions")
    g.add_argument(
        "--second-currency",
        help="ISO 4217 code of the orders not in USD, with their rates under fx_rates/ (default: the "
        "sample's, GBP); 'none': USD only, no rates file",
    )
    g.set_defaults(func=generate)


def generate(args: argparse.Namespace) -> int:
    from pipeline import sample_data

    landing = Path(args.landing).resolve()
    spec = sample_data.SampleSpec(seed=args.seed, days=args.days)
    if args.second_currency:
        second = None if args.second_currency.lower() == "none" else args.second_currency.upper()
        spec = dataclasses.replace(spec, second_currency=second)
    paths = sample_data.generate(landing, spec)
    print(f"wrote {len(paths)} files under {landing}")
    return 0


def add_reprocess(sub: Any) -> None:
    from pipeline import reprocess  # `cdi reprocess`, in its own module

    reprocess.add_parser(sub)


# Each subcommand: a function that adds its parser (options, and `func`, what runs it).
def add_rebuild(sub: Any) -> None:
    from pipeline import rebuild  # `cdi rebuild`, in its own module

    rebuild.add_parser(sub)


COMMANDS = (add_run, add_ui, add_runs, add_show, add_quarantine, add_reprocess, add_rebuild, add_generate)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cdi", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except UsageError as err:
        print(f"cdi: {err}", file=sys.stderr)
        return 2
    except local_run.RunError as err:
        print(f"cdi: {err}", file=sys.stderr)
        return 1
    return code


def entry() -> None:
    """The `cdi` program (`exit_process`: no last collections on the way out)."""
    exit_process(main())


if __name__ == "__main__":
    entry()

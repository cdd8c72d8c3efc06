"""`cdi run` on a small landing folder with bad rows and an unreadable file (a real failure: the
run loads the good rows, then fails), run once for the module through the `cdi` entry point in a
process of its own; then what a user does after the run, through `pipeline.cli.main`: `cdi runs`,
`cdi show`, `cdi quarantine`, and a second run from another input refused."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline.cli import main
from pipeline.runs import run_key

pytestmark = pytest.mark.e2e

RUN_AFTER = "2025-01-04T00:00:00+00:00"
RUN_ID = f"manual__{RUN_AFTER}"
ORDERS = """\
order_id,order_ts,customer,amount,status,channel
T1,2025-01-02T10:00:00Z,C1,10.50,completed,store
T2,2025-01-02T11:00:00Z,C2,abc,completed,online
T3,not-a-date,C1,5.00,completed,store
T4,2025-01-03T09:00:00Z,,7.00,completed,phone
T5,2025-01-03T12:30:00Z,C3,20.00,completed,online
T6,2025-01-03T13:00:00Z,C1,3.25,refunded,store
"""
# Lines of Spark, of Airflow and of the job's JSON log: none may reach the console.
LOG_MARKS = ("log4j", "WARN", '{"ts"', "Traceback", "[DAG TEST]", "task_runner")


@dataclass(frozen=True)
class Run:
    root: Path
    landing: Path
    output: Path
    result: subprocess.CompletedProcess[str]

    @property
    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.output / "report.json").read_text())
        return report

    @property
    def log(self) -> Path:
        return self.output / "logs" / run_key(RUN_ID) / "run.log"


@pytest.fixture(autouse=True)
def _piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' output as a script or a pager reads it: no terminal, whatever size the test
    runner announces (pytest-xdist's workers say COLUMNS=80)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


def cdi() -> list[str]:
    script = Path(sys.executable).with_name("cdi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("cli")
    landing = root / "data" / "shop-landing"
    (landing / "transactions").mkdir(parents=True)
    (landing / "transactions" / "orders.csv").write_text(ORDERS)
    (landing / "transactions" / "notes.txt").write_text("not a data file\n")
    # No --output: a run on real data goes to out/<input folder name> under the current folder.
    result = subprocess.run(
        [*cdi(), "run", "--input", str(landing), "--run-after", RUN_AFTER],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "CDI_SPARK_DRIVER_MEMORY": "1g"},
        timeout=600,
        check=False,
    )
    return Run(root, landing, root / "out" / "shop-landing", result)


def query(output: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_run_on_real_data_writes_to_its_own_default_output(run: Run) -> None:
    assert run.result.returncode == 1, run.result.stdout[-3000:] + run.result.stderr[-3000:]
    first = run.result.stdout.splitlines()[0]
    assert first.startswith(f"cdi run: {run.landing} -> {run.output}"), first
    assert (run.output / "warehouse.duckdb").is_file()
    assert json.loads((run.output / ".cdi-output.json").read_text())["input"] == str(run.landing)
    assert not (run.root / "var").exists()


def test_the_console_shows_one_line_per_task_and_the_logs_go_to_the_run_folder(run: Run) -> None:
    out = run.result.stdout
    states = run.report["task_states"]
    assert len(states) >= 10
    for task in states:
        lines = [line for line in out.splitlines() if re.match(rf"^\s+[✓✗-] {task}\s", line)]
        assert len(lines) == 1, (task, out)
    for mark in LOG_MARKS:
        assert mark not in out, mark
    assert run.result.stderr == ""
    assert f"logs: {run.log}" in out
    log = run.log.read_text()
    assert "log4j" in log  # Spark's JVM
    assert '"logger": "cdi.spark"' in log  # the cleaning job's JSON lines
    assert "Task failed with exception" in log  # Airflow's task log


def test_the_report_and_the_summary_name_the_failed_task_and_its_error(run: Run) -> None:
    report = run.report
    failed = sorted(task for task, state in report["task_states"].items() if state == "failed")
    assert failed, report["task_states"]
    assert sorted(report["task_errors"]) == failed
    assert "notes.txt" in " ".join(report["task_errors"].values())  # the cause, the unreadable file
    for task in failed:
        assert re.match(r"^\w+(Error|Exception): ", report["task_errors"][task])
        assert f"failed task {task}: {report['task_errors'][task]}" in run.result.stdout
    kept = json.loads((run.output / "reports" / f"{run_key(RUN_ID)}.json").read_text())
    assert kept["task_errors"] == report["task_errors"]


def test_the_summary_prints_only_outputs_that_exist(run: Run) -> None:
    assert run.report["task_states"]["publish"] != "success"
    printed = dict(
        re.findall(
            r"^  (warehouse|report|dashboard|quarantine|archive|logs) +(/\S+)$", run.result.stdout, re.M
        )
    )
    assert set(printed) == {"warehouse", "report", "quarantine", "archive", "logs"}
    for path in printed.values():
        assert Path(path).exists(), path


def table_row(text: str, first_cell: str) -> list[str]:
    """The cells of the rich table row that holds `first_cell`."""
    line = next(line for line in text.splitlines() if first_cell in line)
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


def test_runs_lists_the_run_with_its_figures(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--output", str(run.output)]) == 0
    out = capsys.readouterr().out
    ((files, rows_read, rows_valid, rows_quarantined, outcome),) = query(
        run.output,
        "select files, rows_read, rows_valid, rows_quarantined, outcome from audit.pipeline_runs",
    )
    cells = table_row(out, RUN_ID)
    assert cells[:8] == [
        "2025-01-04 00:00:00 UTC",
        RUN_ID,
        outcome,
        str(files),
        str(rows_read),
        str(rows_valid),
        str(rows_quarantined),
        "2",  # days touched: Jan 2 and 3
    ]
    assert (outcome, rows_read, rows_valid) == ("failed", 6, 3)


@pytest.mark.parametrize("how", ["latest", "id", "key", "path"])
def test_show_prints_the_report_with_the_failed_task_and_its_error(
    run: Run, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = {
        "latest": "latest",
        "id": RUN_ID,
        "key": run_key(RUN_ID),
        "path": str(run.output / "reports" / f"{run_key(RUN_ID)}.json"),
    }[how]
    assert main(["show", name, "--output", str(run.output)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {RUN_ID}: FAILED")
    for task, error in run.report["task_errors"].items():
        assert f"failed task {task}: {error}" in out
        cells = table_row(out, f"│ {task} ")
        assert cells[1] == "failed"
        assert error.startswith(cells[3])  # the error column (wrapped in the table)
    assert str(run.log) in out


def test_show_of_an_unknown_run_lists_the_known_ones(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "manual__1999-01-01", "--output", str(run.output)]) == 2
    assert run_key(RUN_ID) in capsys.readouterr().err


def test_quarantine_writes_the_rejected_rows_with_their_raw_values_as_csv_columns(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "rejected.csv"
    assert main(["quarantine", "--output", str(run.output), "--csv", str(target)]) == 0
    assert f"4 rejected rows written to {target}" in capsys.readouterr().out
    with target.open(newline="") as f:
        rows = list(csv.DictReader(f))
    expected = query(
        run.output, "select reason, source_file, record_number from audit.quarantine order by all"
    )
    assert sorted((r["reason"], r["source_file"], r["record_number"]) for r in rows) == sorted(
        (reason, file, "" if number is None else str(number)) for reason, file, number in expected
    )
    by_reason = {r["reason"]: r for r in rows}
    assert set(by_reason) == {"BAD_AMOUNT", "BAD_TIMESTAMP", "MISSING_REQUIRED", "UNREADABLE_FILE"}
    bad_amount = by_reason["BAD_AMOUNT"]
    assert {
        k: bad_amount[k] for k in ("order_id", "order_ts", "customer", "amount", "status", "channel")
    } == {
        "order_id": "T2",
        "order_ts": "2025-01-02T11:00:00Z",
        "customer": "C2",
        "amount": "abc",
        "status": "completed",
        "channel": "online",
    }
    assert by_reason["MISSING_REQUIRED"]["customer"] == ""
    assert by_reason["UNREADABLE_FILE"]["order_id"] == ""  # a file rejected whole has no raw row


def test_quarantine_filters_and_prints_a_capped_table(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    output = ["--output", str(run.output)]
    assert main(["quarantine", *output, "--reason", "bad_amount", "--run", "latest"]) == 0
    out = capsys.readouterr().out
    cells = table_row(out, "BAD_AMOUNT")
    assert {"abc", "T2", "orders.csv"} <= set(cells)
    assert '{"' not in out  # raw values as columns, not JSON text
    assert "1 of 1 rejected row" in out

    assert (
        main(["quarantine", *output, "--file", "orders.csv", "--run", run_key(RUN_ID), "--limit", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "1 of 3 rejected rows (--limit to see more, --csv PATH for all)" in out
    assert "notes.txt" not in out

    assert main(["quarantine", *output, "--run", "manual__1999-01-01"]) == 2
    assert RUN_ID in capsys.readouterr().err


def test_an_output_refuses_a_run_from_another_input_without_force(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other-landing"
    (other / "transactions").mkdir(parents=True)
    (other / "transactions" / "orders.csv").write_text(ORDERS)
    marker = (run.output / ".cdi-output.json").read_text()
    warehouse = (run.output / "warehouse.duckdb").stat().st_mtime_ns
    assert main(["run", "--input", str(other), "--output", str(run.output)]) == 2
    err = capsys.readouterr().err
    assert f"was built from {run.landing}, not from {other}" in err
    assert "--force" in err
    assert (run.output / ".cdi-output.json").read_text() == marker
    assert (run.output / "warehouse.duckdb").stat().st_mtime_ns == warehouse

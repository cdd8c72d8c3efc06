"""Where `cdi run` writes and what it deletes, on real folders, without running the DAG: every
refusal here happens before Airflow starts. The log capture runs in a child process of its own,
since it takes over file descriptors 1 and 2."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline import output_folder
from pipeline.cli import main
from pipeline.usage_error import UsageError


def landing_folder(root: Path, name: str = "landing") -> Path:
    landing = root / name
    (landing / "transactions").mkdir(parents=True)
    (landing / "transactions" / "orders.csv").write_text("order_id,order_ts,customer,amount\n")
    return landing


def run_script(script: str, path: Path) -> subprocess.CompletedProcess[str]:
    """`python -c SCRIPT PATH` in a child process of its own."""
    return subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=False
    )


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_the_defaults_keep_a_run_on_real_data_out_of_the_demo_folder(tmp_path: Path) -> None:
    assert output_folder.default_output(None, tmp_path) == tmp_path / "var"
    assert output_folder.default_output(tmp_path / "data" / "shop", tmp_path) == tmp_path / "out" / "shop"


def test_the_demo_deletes_only_what_the_previous_demo_created(tmp_path: Path) -> None:
    output = tmp_path / "var"
    (output / "landing" / "transactions").mkdir(parents=True)
    (output / "landing" / "transactions" / "day-01.csv").write_text("x\n")
    (output / "reports").mkdir()
    (output / "warehouse.duckdb").write_bytes(b"demo")
    (output / "my-notes.md").write_text("mine\n")  # the user's, next to the demo's output
    (output / "keep").mkdir()
    (output / "keep" / "analysis.ipynb").write_text("{}\n")
    output_folder.write_marker(
        output,
        {
            "input": str(output / "landing"),
            "demo": True,
            "created": ["landing", "reports", "warehouse.duckdb"],
        },
    )

    present = output_folder.prepare_demo(output)

    assert present == {"my-notes.md", "keep"}
    assert names(output) == {"my-notes.md", "keep", output_folder.MARKER}
    assert (output / "keep" / "analysis.ipynb").read_text() == "{}\n"
    marker = output_folder.read_marker(output)
    assert marker is not None
    assert marker["demo"] is True
    assert not {"my-notes.md", "keep"} & set(marker["created"])

    # What the demo then makes, and only that, is recorded for the next demo to delete.
    (output / "warehouse.duckdb").write_bytes(b"demo again")
    (output / "sources-cache").mkdir()  # an entry no list foresaw
    output_folder.record_demo_entries(output, present)
    output_folder.delete_demo_entries(output)
    assert names(output) == {"my-notes.md", "keep"}


def test_an_old_demo_folder_is_cleared_of_run_outputs_only(tmp_path: Path) -> None:
    output = tmp_path / "var"
    (output / "airflow").mkdir(parents=True)
    (output / "warehouse.duckdb").write_bytes(b"old demo")
    (output / "report.json").write_text("{}\n")
    (output / output_folder.LEGACY_DEMO_MARKER).write_text("written by `cdi run` without --input\n")
    (output / "notes.txt").write_text("mine\n")
    output_folder.prepare_demo(output)
    assert names(output) == {"notes.txt", output_folder.MARKER}


def test_a_demo_marker_cannot_delete_outside_its_folder(tmp_path: Path) -> None:
    output = tmp_path / "var"
    outside = tmp_path / "precious"
    outside.mkdir()
    output_folder.write_marker(output, {"input": "x", "demo": True, "created": ["../precious"]})
    with pytest.raises(UsageError, match="not an entry"):
        output_folder.delete_demo_entries(output)
    assert outside.is_dir()


def test_the_demo_refuses_a_folder_with_pipeline_output_it_did_not_create(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results"
    output.mkdir()
    (output / "warehouse.duckdb").write_bytes(b"someone else's")
    assert main(["run", "--output", str(output)]) == 2
    assert "warehouse.duckdb, which the demo did not create" in capsys.readouterr().err
    assert (output / "warehouse.duckdb").read_bytes() == b"someone else's"
    assert names(output) == {"warehouse.duckdb"}


def test_the_demo_refuses_the_output_of_a_run_on_real_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = landing_folder(tmp_path)
    output = tmp_path / "out" / "landing"
    output_folder.check_input_run(landing, output, force=False)
    (output / "warehouse.duckdb").write_bytes(b"real data")
    assert main(["run", "--output", str(output)]) == 2
    assert f"holds the output of a run on {landing}" in capsys.readouterr().err
    assert (output / "warehouse.duckdb").read_bytes() == b"real data"


def test_an_output_built_from_one_input_refuses_another_unless_forced(tmp_path: Path) -> None:
    first, second = landing_folder(tmp_path, "shop-a"), landing_folder(tmp_path, "shop-b")
    output = tmp_path / "out" / "shop"
    output_folder.check_input_run(first, output, force=False)
    output_folder.check_input_run(first, output, force=False)  # the same input again: fine
    with pytest.raises(UsageError, match="--force"):
        output_folder.check_input_run(second, output, force=False)
    assert json.loads((output / output_folder.MARKER).read_text())["input"] == str(first)
    output_folder.check_input_run(second, output, force=True)
    marker = json.loads((output / output_folder.MARKER).read_text())
    assert marker == {"input": str(second), "demo": False, "previous_inputs": [str(first)]}


def test_a_landing_folder_without_transactions_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["run", "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "o")]) == 2
    assert "has no transactions/ folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_inspecting_an_output_without_a_warehouse_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out" / "shop").mkdir(parents=True)
    (tmp_path / "out" / "shop" / "warehouse.duckdb").write_bytes(b"")
    for command in (["runs"], ["show", "latest"], ["quarantine"]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert str(tmp_path / "var") in err, command
    assert "outputs with a warehouse here: " + str(tmp_path / "out" / "shop") in err


CAPTURE_SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    from pipeline.console import Terminal

    root = Path(sys.argv[1])
    term = Terminal(verbose=False)
    term.say("first line, on the terminal")
    term.capture_to(root / "logs" / "run-1" / "run.log")
    print("print of run 1")
    sys.stderr.write("stderr of run 1\\n")
    # A child that keeps the stderr it inherited, as Spark's JVM does, and writes later.
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(0.5); sys.stderr.write('child after the switch\\\\n')"])
    os.write(2, b"fd 2 of run 1\\n")
    term.say("a task line, on the terminal")
    term.capture_to(root / "logs" / "run-2" / "run.log")
    print("print of run 2")
    child.wait()
    time.sleep(0.2)
    term.close()
    print("after close, on the terminal")
    """
)


def test_the_log_capture_sends_each_run_its_own_lines_even_from_a_child_process(tmp_path: Path) -> None:
    done = run_script(CAPTURE_SCRIPT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "first line, on the terminal",
        "a task line, on the terminal",
        "after close, on the terminal",
    ]
    assert done.stderr == ""
    first = (tmp_path / "logs" / "run-1" / "run.log").read_text()
    second = (tmp_path / "logs" / "run-2" / "run.log").read_text()
    # Sorted: print() is buffered until the switch flushes it, the other writes are not.
    assert sorted(first.splitlines()) == ["fd 2 of run 1", "print of run 1", "stderr of run 1"]
    assert sorted(second.splitlines()) == ["child after the switch", "print of run 2"]


EXIT_SCRIPT = """
import atexit, gc, sys
from pathlib import Path
import pipeline.dag  # Airflow and the DAG's imports: what a run leaves loaded
from pipeline.console import exit_process
log = Path(sys.argv[1]).open("w")
atexit.register(lambda: (log.write("exit handlers ran\\n"), log.close()))
sys.stderr.write(f"tracked {len(gc.get_objects())}\\n")
gc.callbacks.append(lambda phase, info: phase == "start" and sys.stderr.write(f"tracked {len(gc.get_objects())}\\n"))
exit_process(3)
"""


def test_a_command_exits_with_its_code_after_its_exit_handlers_without_collecting(tmp_path: Path) -> None:
    """`exit_process`: the status and the exit handlers (a log's last line) as with `sys.exit`,
    and the collections on the way out find next to nothing to traverse: with Airflow loaded,
    traversing it all again took seconds."""
    log = tmp_path / "exit.log"
    done = run_script(EXIT_SCRIPT, log)
    assert done.returncode == 3, done.stderr[-3000:]
    assert log.read_text() == "exit handlers ran\n"
    before, *on_the_way_out = [
        int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("tracked")
    ]
    assert before > 100_000, before
    assert on_the_way_out, done.stderr[-3000:]
    assert max(on_the_way_out) < before / 20, (before, on_the_way_out)

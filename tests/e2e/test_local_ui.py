"""`cdi ui` as a user runs it: Airflow's four components on a temporary OUTPUT, files dropped into
the input folder one after the other, watched through the REST API and in headless Chromium.

One environment serves the whole module (starting Airflow and running the DAG three times is the
cost); the tests run in file order, the last one stops it with SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest
from browser import chrome

from pipeline.config import DAG_ID, Settings
from pipeline.local_ui import USER, Access, api_token, free_port
from pipeline.runs import run_key

pytestmark = pytest.mark.e2e

SETTLE_SECONDS = 2.0
RUN_TIMEOUT = 300.0


@dataclass
class Ui:
    process: subprocess.Popen[str]
    landing: Path
    output: Path
    samples: Path
    url: str = ""
    password: str = ""
    lines: list[str] = field(default_factory=list)
    up_seconds: float = 0.0
    dropped: dict[str, str] = field(default_factory=dict)
    """Run id of the file-arrival run of each dropped file's name."""
    file_to_success: list[float] = field(default_factory=list)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def token(self) -> str:
        return api_token(Access(self.url, USER, self.password), timeout=30)

    def runs(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?order_by=run_after")[
            "dag_runs"
        ]
        return found

    def report(self, run_id: str) -> dict[str, Any]:
        path = Settings(output_dir=self.output).reports_dir / f"{run_key(run_id)}.json"
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return report


def _wait(what: str, check: Callable[[], Any], timeout: float = RUN_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    root = tmp_path_factory.mktemp("ui")
    landing, output, samples = root / "in", root / "out", root / "samples"
    (landing / "transactions").mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "generate",
            "--landing",
            str(samples),
            "--days",
            "2",
            "--second-currency",
            "none",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    command = [sys.executable, "-m", "pipeline.cli", "ui", "--input", str(landing), "--output", str(output)]
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, "--port", str(port), "--settle", str(SETTLE_SECONDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=root,
        env={**os.environ, "CDI_SPARK_DRIVER_MEMORY": "1g"},
    )
    env = Ui(process, landing, output, samples)
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            env.lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    try:

        def up() -> bool:
            assert process.poll() is None, "\n".join(env.lines)
            return any("Airflow is up at" in line for line in env.lines)

        _wait("`cdi ui` to say Airflow is up", up, 240)
        env.up_seconds = time.monotonic() - started
        env.url = f"http://127.0.0.1:{port}"
        env.password = next(line for line in env.lines if "log in as" in line).rsplit("password ", 1)[1]
        # The run Airflow starts with the environment (the latest daily tick, catchup off) comes
        # first: a file dropped while it runs may be claimed by it, the claims' job, not a test's.
        _wait("the first scheduled run", lambda: env.runs() and env.runs()[0]["state"] == "success")
        yield env
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
        process.wait()
        print("\n".join(env.lines))  # shown when a test failed


def test_the_ui_answers_with_how_to_log_in(ui: Ui) -> None:
    banner = "\n".join(ui.lines)
    assert f"Airflow is up at {ui.url}" in banner
    assert f"log in as {USER}, password {ui.password}" in banner
    assert ui.token()
    assert ui.api("GET", f"/api/v2/dags/{DAG_ID}")["is_paused"] is False
    print(f"cdi ui to the UI answering: {ui.up_seconds:.1f} s")


def _drop(ui: Ui, source: Path, *, slowly: bool) -> str:
    """Copy a sample file into the input folder (in two halves a second apart when `slowly`, like
    a slow copy) and wait for the file-arrival run that reads it to succeed; its run id."""
    target = ui.landing / "transactions" / source.name
    data = source.read_bytes()
    before = {r["dag_run_id"] for r in ui.runs()}
    dropped = time.monotonic()
    with target.open("wb") as f:
        if slowly:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(SETTLE_SECONDS / 2)
        f.write(data[len(data) // 2 if slowly else 0 :])

    def done() -> str | None:
        new = [r for r in ui.runs() if r["dag_run_id"] not in before and r["run_type"] == "asset_triggered"]
        assert all(r["state"] != "failed" for r in new), new
        return next((r["dag_run_id"] for r in new if r["state"] == "success"), None)

    run_id: str = _wait(f"the run of {source.name}", done)
    ui.file_to_success.append(time.monotonic() - dropped)
    ui.dropped[source.name] = run_id
    return run_id


def _data_rows(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


def test_two_dropped_files_make_two_successful_runs_with_their_rows(ui: Ui) -> None:
    first, second = sorted((ui.samples / "transactions").glob("*.csv"))[:2]
    for source, slowly in ((first, True), (second, False)):
        run_id = _drop(ui, source, slowly=slowly)
        report = ui.report(run_id)
        # Each run read its own file, whole (the slow copy was not claimed half-way).
        assert [Path(f["source_file"]).name for f in report["files"]] == [source.name]
        assert report["totals"]["rows_read"] == _data_rows(source)
        assert report["totals"]["rows_valid"] + report["totals"]["rows_quarantined"] == _data_rows(source)
    triggered = [r for r in ui.runs() if r["run_type"] == "asset_triggered"]
    assert [(r["dag_run_id"], r["state"]) for r in triggered] == [
        (ui.dropped[first.name], "success"),
        (ui.dropped[second.name], "success"),
    ]
    print("dropped file to its run's success: " + ", ".join(f"{s:.1f} s" for s in ui.file_to_success))


def test_the_daily_run_for_the_same_files_processes_nothing_and_no_file_runs_again(ui: Ui) -> None:
    # What the daily schedule queues, queued now through the API: a run of the same DAG that must
    # find every landed file claimed already.
    queued = ui.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": datetime.now(UTC).isoformat()})

    def done() -> bool:
        (run,) = [r for r in ui.runs() if r["dag_run_id"] == queued["dag_run_id"]]
        return run["state"] == "success"

    _wait("the daily run", done)
    report = ui.report(queued["dag_run_id"])
    assert report["totals"]["files"] == 0
    assert report["nothing_new"]
    time.sleep(3 * SETTLE_SECONDS)  # a watcher that announced a file again would have queued a run by now
    runs = ui.runs()
    assert len([r for r in runs if r["run_type"] == "asset_triggered"]) == 2
    # The scheduled run Airflow starts with the environment (today's 02:00 tick) claimed nothing either.
    for run in runs:
        if run["run_type"] == "scheduled":
            assert ui.report(run["dag_run_id"])["totals"]["files"] == 0


def test_every_task_log_is_readable_through_the_api(ui: Ui) -> None:
    run_id = ui.dropped[min(ui.dropped)]
    instances = ui.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances")
    for ti in instances["task_instances"]:
        log = ui.api(
            "GET",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{ti['task_id']}/logs/"
            f"{ti['try_number']}?full_content=true",
        )
        events = [e.get("event", "") for e in log["content"]]
        assert any("Task instance is in running state" in e or "DAG bundles loaded" in e for e in events), (
            ti["task_id"],
            events[:10],
        )
    clean = ui.api(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/clean_raw/logs/1?full_content=true",
    )
    assert any('"step done"' in str(e.get("event")) for e in clean["content"])


def test_a_person_logs_in_sees_the_runs_green_and_reads_a_task_log(ui: Ui, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chrome()
    wait = WebDriverWait(browser, 60)

    def text() -> str:
        body: str = browser.find_element(By.TAG_NAME, "body").text
        return body

    try:
        browser.get(ui.url)
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "username"))).send_keys(USER)
        browser.find_element(By.NAME, "password").send_keys(ui.password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda _: "/auth/login" not in browser.current_url)

        browser.get(f"{ui.url}/dags/{DAG_ID}/runs")
        wait.until(lambda _: text().count("Asset Triggered") == 2)
        rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")]
        triggered = [r for r in rows if "Asset Triggered" in r]
        assert len(triggered) == 2
        assert all("Success" in r for r in triggered), triggered
        browser.save_screenshot(str(tmp_path / "runs.png"))

        run_id = ui.dropped[min(ui.dropped)]
        browser.get(f"{ui.url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/clean_raw")
        wait.until(lambda _: "step done" in text())
        browser.save_screenshot(str(tmp_path / "log.png"))

        # The run's report, in the DAG run's "Run report" tab (the plugin's page in a frame).
        browser.get(f"{ui.url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")
        tab = wait.until(
            expected_conditions.element_to_be_clickable(
                (By.XPATH, "//*[normalize-space(text())='Run report']")
            )
        )
        tab.click()
        wait.until(expected_conditions.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
        report = ui.report(run_id)
        wait.until(lambda _: f"rows in {report['totals']['rows_read']}" in text())
        browser.switch_to.default_content()
        browser.save_screenshot(str(tmp_path / "report.png"))
    finally:
        browser.quit()


def test_a_second_ui_on_the_same_output_is_refused(ui: Ui) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "ui", "--input", str(ui.landing), "--output", str(ui.output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 2
    assert f"a `cdi ui` is running on {ui.output}" in second.stderr
    assert ui.process.poll() is None


def _running(process: psutil.Process) -> bool:
    """Alive, not a zombie waiting for a container's PID 1 to reap it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_then_ctrl_c_stops_every_process_it_started(ui: Ui) -> None:
    started = psutil.Process(ui.process.pid).children(recursive=True)
    assert len(started) >= 4
    stopping = time.monotonic()
    ui.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    # A second signal while it stops (an impatient Ctrl-C) must not leave the components orphaned.
    ui.process.send_signal(signal.SIGINT)
    assert ui.process.wait(timeout=90) == 0
    print(f"stopped in {time.monotonic() - stopping:.1f} s")
    _, alive = psutil.wait_procs(started, timeout=5)
    assert [p for p in alive if _running(p)] == []
    assert any("stopping Airflow" in line for line in ui.lines)

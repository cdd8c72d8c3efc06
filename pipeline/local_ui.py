"""`cdi ui`: the local Airflow environment, Composer on a laptop.

It starts Airflow 3's four components (API server with the UI, scheduler, DAG processor,
triggerer) the way Composer runs them, with the project's DAG on the local target and the same
settings as `cdi run` (`local_run.configure_environment`): AIRFLOW_HOME and the metadata DB under
OUTPUT/airflow, the landing folder INPUT, the source settings, time zones and alert connections of
the calling environment. The DAG then runs on its own schedule: daily, and when a file settles in
INPUT (`pipeline.landing_watch`).

What makes the components work as one environment on a laptop:
- one JWT secret for all of them (a task's token is signed by the scheduler side and checked by
  the API server), kept in OUTPUT/airflow so a restart keeps its sessions, and one Fernet key
  (`local_run.configure_environment`);
- LocalExecutor with one task at a time: the warehouse is one DuckDB file, which takes one writer;
- the simple auth manager with one `admin` user and a password generated once per OUTPUT;
- the API server on 127.0.0.1 only (a laptop's UI is not a shared service), and the execution API
  URL the tasks call on the same port.

Each component runs in its own process group, its output in OUTPUT/airflow/<component>.log.
Ctrl-C or SIGTERM stops them all, with every process they started (task processes, Spark JVMs);
a lock on OUTPUT/airflow/ui.lock keeps a second `cdi ui` (or a `cdi run`) off the same OUTPUT.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline import local_run
from pipeline.config import DAG_ID, ENV, REPO_ROOT
from pipeline.console import Terminal
from pipeline.usage_error import UsageError

DEFAULT_PORT = 8080
DEFAULT_SETTLE_SECONDS = 5.0
"""A dropped file starts a run once nothing wrote to it for this long (`--settle`)."""
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTHY = ("metadatabase", "scheduler", "triggerer", "dag_processor")
"""The parts of `/api/v2/monitor/health` that must say healthy before the UI is announced."""
USER = "admin"
LOCK_FILE = "ui.lock"
PLUGINS_DIR = REPO_ROOT / "pipeline" / "airflow_plugins"
STOP_SECONDS = 30.0
"""How long the components get to stop after SIGTERM before they are killed."""
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


class UiError(Exception):
    """`cdi ui` could not bring Airflow up: `cdi: <message>`, exit status 1."""


@dataclass(frozen=True)
class Access:
    url: str
    user: str
    password: str


def environment(
    landing: Path, output: Path, *, port: int, settle_seconds: float
) -> tuple[dict[str, str], Access]:
    """The environment of every component, and how to reach the UI."""
    local_run.configure_environment(landing, output)
    home = output / "airflow"
    password = local_run.kept_secret(home / "ui-password", lambda: secrets.token_urlsafe(12))
    passwords_file = home / "simple_auth_manager_passwords.json"
    passwords_file.write_text(json.dumps({USER: password}), encoding="utf-8")
    passwords_file.chmod(0o600)
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1",
        # Executor slots beyond the one task: a finished task's process is reaped a heartbeat
        # later, and with one slot the next task waited for that (5 s between every two tasks).
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        # 64 bytes: the HMAC-SHA512 minimum RFC 7518 recommends.
        "AIRFLOW__API_AUTH__JWT_SECRET": local_run.kept_secret(
            home / "jwt-secret", lambda: secrets.token_urlsafe(64)
        ),
        # The log servers of the scheduler's and the triggerer's hosts, on ports of their own: the
        # defaults (8793, 8794) would collide with another `cdi ui` or Airflow on the machine.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        # Task logs are what the UI shows of a task: INFO, whatever `cdi run` prints on a terminal.
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("CDI_LOG_LEVEL", "INFO"),
        ENV["landing_settle_seconds"]: str(settle_seconds),
    }
    return env, Access(url, USER, password)


def _running(output: Path, holder: str) -> str:
    return (
        f"a `cdi ui` is running on {output} ({holder}): its DAG runs there on its own schedule. Open "
        "it in a browser and drop files into its input folder, or stop it (Ctrl-C in its terminal) first"
    )


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def check_port(port: int) -> None:
    """Refuse a port something already listens on: the API server would fail to start, and the
    health probe might be answered by whatever holds it."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise UsageError(f"port {port} is in use on 127.0.0.1: choose another with --port") from None


@contextlib.contextmanager
def exclusive(output: Path) -> Iterator[IO[str]]:
    """Hold OUTPUT/airflow/ui.lock for as long as the environment runs; refuse when another
    process holds it (the lock dies with its process, so a killed `cdi ui` leaves none behind)."""
    lock_path = output / "airflow" / LOCK_FILE
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise UsageError(_running(output, holder)) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield lock


def check_not_running(output: Path) -> None:
    """Refuse early (before any output is touched) a `cdi run` or a second `cdi ui` on an OUTPUT a
    `cdi ui` holds: they would fight over its warehouse and Airflow DB."""
    lock_path = output / "airflow" / LOCK_FILE
    if not lock_path.is_file():
        return
    with lock_path.open("r", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(_running(output, lock.read().strip())) from None


class Components:
    """The four Airflow processes, each the leader of its own process group."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, names: tuple[str, ...]) -> None:
        for name in names:
            with (self.logs / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", name],
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def exited(self) -> str | None:
        """The first component that is no longer running, if any."""
        return next((name for name, p in self.processes.items() if p.poll() is not None), None)

    def _descendants(self) -> list[Any]:
        import psutil

        found = []
        for p in self.processes.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                found += psutil.Process(p.pid).children(recursive=True)
        return found

    def stop(self) -> None:
        """SIGTERM to every group, then SIGKILL to whatever is left of the groups and of every
        process they started (a task's Spark JVM may have left its group)."""
        import psutil

        started = self._descendants()
        for p in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for p in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
        for p in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for child in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(started, timeout=5)


def health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
            result: dict[str, Any] = json.load(response)
            return result
    except (OSError, ValueError):
        return None


def healthy(report: dict[str, Any] | None) -> bool:
    return report is not None and all((report.get(part) or {}).get("status") == "healthy" for part in HEALTHY)


def api_token(access: Access, *, timeout: float = 5) -> str:
    """A bearer token for the REST API, from the simple auth manager's login (`/auth/token`)."""
    login = json.dumps({"username": access.user, "password": access.password}).encode()
    request = urllib.request.Request(
        f"{access.url}/auth/token", data=login, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return str(json.load(response)["access_token"])


def dag_listed(access: Access) -> bool:
    """Whether the API lists the project's DAG (the DAG processor has parsed and stored it)."""
    try:
        request = urllib.request.Request(
            f"{access.url}/api/v2/dags/{DAG_ID}", headers={"Authorization": f"Bearer {api_token(access)}"}
        )
        with urllib.request.urlopen(request, timeout=5):
            return True
    except (OSError, ValueError, KeyError):  # HTTPError (404 until parsed) is an OSError
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _check_starting(components: Components, home: Path, started: float, timeout: float, url: str) -> None:
    """While Airflow starts: fail when a component died or it takes too long, else wait a moment."""
    if (gone := components.exited()) is not None:
        raise UiError(f"the Airflow {gone} stopped while starting:\n{_tail(home / f'{gone}.log')}")
    if time.monotonic() - started > timeout:
        raise UiError(f"Airflow did not answer at {url} within {timeout:.0f} s; see {home}/*.log")
    time.sleep(0.5)


def serve(
    landing: Path, output: Path, *, port: int, settle_seconds: float, term: Terminal, timeout: float = 300.0
) -> None:
    """Run the environment until Ctrl-C or SIGTERM; every component is stopped on the way out."""
    with exclusive(output) as lock:
        check_port(port)
        env, access = environment(landing, output, port=port, settle_seconds=settle_seconds)
        lock.write(f", {access.url}")
        lock.flush()
        home = output / "airflow"
        started = time.monotonic()
        with term.status("preparing the Airflow metadata DB"):
            local_run.migrate_airflow_db(output)
        components = Components(env, home)
        # SIGTERM unwinds like Ctrl-C (KeyboardInterrupt), through the `finally` that stops everything.
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            # The API server first: a task the scheduler starts before the execution API answers
            # gives up after a few retries and fails the run (seen on the run Airflow starts with).
            components.start(COMPONENTS[:1])
            with term.status(f"starting Airflow ({', '.join(COMPONENTS)})"):
                while health(access.url) is None:
                    _check_starting(components, home, started, timeout, access.url)
                components.start(COMPONENTS[1:])
                # Healthy components, and the DAG parsed: what a person opening the UI expects.
                while not (healthy(health(access.url)) and dag_listed(access)):
                    _check_starting(components, home, started, timeout, access.url)
            term.say(
                f"cdi ui: Airflow is up at {access.url} after {time.monotonic() - started:.1f} s\n"
                f"  log in as {access.user}, password {access.password}\n"
                f"  a file dropped into {landing}/<entity>/ starts a run once it settles ({settle_seconds:g} s);\n"
                f"  a run also starts daily; reports and the dashboard: {access.url}/cdi/\n"
                f"  component logs: {home}/<component>.log; Ctrl-C stops everything"
            )
            while (gone := components.exited()) is None:
                time.sleep(0.5)
            raise UiError(
                f"the Airflow {gone} stopped; the others were stopped too:\n{_tail(home / f'{gone}.log')}"
            )
        except KeyboardInterrupt:
            term.say("cdi ui: stopping Airflow")
        finally:
            # A second Ctrl-C or SIGTERM while stopping (an impatient person, a supervisor that
            # signals twice) would end this process half-way and orphan the components: both are
            # ignored until everything is stopped.
            interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                components.stop()
            finally:
                signal.signal(signal.SIGINT, interrupt)
                signal.signal(signal.SIGTERM, previous)

"""The Airflow pools of the Composer environment: what the stack declares, and the dynamic provider
against a real Airflow 3 REST API.

The provider runs unchanged. Its Google credentials come from the real google-auth flow the CI
uses (an `external_account` file: workload identity federation, then impersonation), with Google's
token endpoints on loopback. (google-auth ignores the `token_uri` of an `authorized_user` file, so
that flow cannot be pointed at loopback.) Its requests reach the FastAPI app of the installed
Airflow (`tests/infra/airflow_api_server.py`, own AIRFLOW_HOME and sqlite DB) through a loopback
front door that does what Composer's does: it lets through only the Google access token, then
Airflow authenticates the caller (here SimpleAuthManager, all admins). Only the network boundary
is replaced; nothing of `infra` is faked.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from infra.components.airflow_pools import (
    DESCRIPTION,
    SCOPES,
    AirflowPoolError,
    AirflowPoolProvider,
)
from infra.config import REPO_ROOT
from infra.mocks import PROJECT_NUMBER, SecretValue, StackRun
from pipeline.gcp import BIGQUERY_POOL, BIGQUERY_POOL_SLOTS, DATAPROC_POOL, DATAPROC_POOL_SLOTS

POOL_TYPE = "pulumi-python:dynamic/airflow:Pool"
OIDC_TOKEN = "github-oidc." + secrets.token_hex(8)
FEDERATED_TOKEN = "federated." + secrets.token_hex(8)
ACCESS_TOKEN = "ya29.deployer." + secrets.token_hex(8)
DEPLOYER = "cdi-ci@cdi-test.iam.gserviceaccount.com"
STARTUP_SECONDS = 90


# --- what the stack declares (Pulumi mocks) --------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_creates_the_dag_pools_in_the_composer_environment(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    (environment,) = run.of_type("gcp:composer/environment:Environment")
    pools = run.of_type(POOL_TYPE)
    assert {(p.inputs["name"], p.inputs["slots"]) for p in pools} == {
        (BIGQUERY_POOL, BIGQUERY_POOL_SLOTS),
        (DATAPROC_POOL, DATAPROC_POOL_SLOTS),
    }, [p.urn for p in pools]
    assert len(pools) == 2, [p.urn for p in pools]
    for pool in pools:
        assert pool.inputs["airflow_uri"] == run.outputs["airflow_uri"], pool.urn
        assert pool.inputs["airflow_uri"].startswith("https://"), pool.urn
        assert pool.inputs["description"] == DESCRIPTION, pool.urn
        assert pool.parent == environment.parent, pool.urn  # the Composer component
        assert environment.urn in pool.dependencies, pool.urn


def test_the_registered_provider_loads_in_a_fresh_process(dev_run: StackRun, tmp_path: Path) -> None:
    """Pulumi runs a dynamic provider in a process of its own, from the dill bytes registered with
    the resource: they must load there (the class is pickled by reference to its module)."""
    serialized = {p.inputs["__provider"] for p in dev_run.of_type(POOL_TYPE)}
    assert len(serialized) == 1
    (provider,) = serialized
    assert isinstance(provider, SecretValue)
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import base64, sys, dill; p = dill.loads(base64.b64decode(sys.argv[1])); "
            "print(type(p).__module__, type(p).__qualname__)",
            provider.value,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["infra.components.airflow_pools", "AirflowPoolProvider"]


def test_diff_replaces_on_another_environment_or_name_and_updates_slots_in_place() -> None:
    olds = {"airflow_uri": "https://a", "name": "p", "slots": 4.0, "description": "d", "__provider": "x"}
    provider = AirflowPoolProvider()

    def diff(**news: Any) -> tuple[bool | None, list[str] | None]:
        result = provider.diff("p", olds, {**olds, **news})
        return result.changes, result.replaces

    assert diff() == (False, [])
    assert diff(__provider="y") == (False, [])  # a new serialization of the same provider
    assert diff(slots=2.0) == (True, [])
    assert diff(description="e") == (True, [])
    assert diff(name="q") == (True, ["name"])
    assert diff(airflow_uri="https://b") == (True, ["airflow_uri"])
    assert diff(airflow_uri=rpc.UNKNOWN) == (True, [])  # preview of an environment update


# --- the provider against Airflow's REST API -------------------------------------------------------


@dataclass
class Recorder:
    """What a loopback server was asked."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **request: Any) -> None:
        with self.lock:
            self.requests.append(request)


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture(scope="module")
def airflow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Airflow 3's API server in a subprocess, on a socket bound here (no port race)."""
    output = tmp_path_factory.mktemp("airflow-api")
    log_path = output / "server.log"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {**os.environ, "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32)}
    command = [sys.executable, "-m", "tests.infra.airflow_api_server", "--output", str(output)]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--fd", str(listener.fileno())],
            pass_fds=[listener.fileno()],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener.close()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while _status(base, "GET", "/api/v2/monitor/health")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Airflow's API server did not start:\n{log_path.read_text()[-5000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _status(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A request straight to Airflow (no Authorization: the all-admins middleware signs it)."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, json.loads(text) if text else None
    except OSError as exc:
        return 0, str(exc)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def google_tokens() -> Iterator[tuple[str, Recorder]]:
    """Google's two token endpoints as google-auth calls them for workload identity federation
    with impersonation (the CI's credentials): STS exchanges the OIDC token of GitHub for a
    federated token, IAM Credentials exchanges that for an access token of the service account."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length).decode()
            if self.path == "/v1/token":
                form = dict(urllib.parse.parse_qsl(raw))
                recorder.add(path=self.path, body=form)
                if form.get("subject_token") != OIDC_TOKEN:
                    answer = {"error": "invalid_grant", "error_description": "The OIDC token is expired."}
                    _reply(self, 400, json.dumps(answer).encode(), "application/json")
                    return
                answer = {
                    "access_token": FEDERATED_TOKEN,
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer",
                    "expires_in": 3599,
                }
            else:  # /v1/projects/-/serviceAccounts/<email>:generateAccessToken
                recorder.add(
                    path=self.path, body=json.loads(raw), authorization=self.headers["Authorization"]
                )
                if self.headers["Authorization"] != f"Bearer {FEDERATED_TOKEN}":
                    _reply(self, 401, b'{"error": {"code": 401}}', "application/json")
                    return
                answer = {"accessToken": ACCESS_TOKEN, "expireTime": "2099-01-01T00:00:00Z"}
            _reply(self, 200, json.dumps(answer).encode(), "application/json")

        def log_message(self, *args: Any) -> None:
            pass

    with _serve(Handler) as url:
        yield url, recorder


@pytest.fixture(scope="module")
def front_door(airflow_api: str) -> Iterator[tuple[str, Recorder]]:
    """Composer's web server front: only a request with the Google access token passes, and
    Airflow then sees an authenticated user (here: SimpleAuthManager's all-admins middleware)."""
    recorder = Recorder()
    upstream = urllib.parse.urlsplit(airflow_api)

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            authorization = self.headers.get("Authorization", "")
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length) if length else None
            recorder.add(method=self.command, path=self.path, authorization=authorization)
            if authorization != f"Bearer {ACCESS_TOKEN}":
                _reply(self, 401, b'{"error": "invalid credentials"}', "application/json")
                return
            connection = http.client.HTTPConnection(upstream.hostname or "", upstream.port, timeout=30)
            try:
                connection.request(
                    self.command, self.path, body=body, headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                _reply(
                    self,
                    response.status,
                    response.read(),
                    response.getheader("Content-Type") or "application/json",
                )
            finally:
                connection.close()

        do_GET = do_POST = do_PATCH = do_DELETE = _forward  # noqa: N815 (http.server API)

        def log_message(self, *args: Any) -> None:
            pass

    with _serve(Handler) as url:
        yield url, recorder


@pytest.fixture
def oidc_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, google_tokens: tuple[str, Recorder]
) -> Path:
    """Application default credentials as the CI's auth step (google-github-actions/auth) writes
    them: an `external_account` file (workload identity federation, then impersonation of the
    deployer) reading GitHub's OIDC token from the file returned here, with Google's token endpoints
    on loopback. The project is set, as that step sets it, so that google-auth does not ask Cloud
    Resource Manager for it."""
    url, _ = google_tokens
    oidc = tmp_path / "github-oidc-token"
    oidc.write_text(OIDC_TOKEN)
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "external_account",
                "audience": f"//iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/"
                "workloadIdentityPools/github/providers/github-actions",
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": f"{url}/v1/token",
                "service_account_impersonation_url": f"{url}/v1/projects/-/serviceAccounts/"
                f"{DEPLOYER}:generateAccessToken",
                "credential_source": {"file": str(oidc)},
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "cdi-test")
    return oidc


@pytest.fixture
def composer(
    front_door: tuple[str, Recorder], oidc_token_file: Path, google_tokens: tuple[str, Recorder]
) -> tuple[str, Recorder]:
    """The front door's URL (the `airflow_uri`) and what it is asked from now on."""
    url, recorder = front_door
    recorder.requests.clear()
    google_tokens[1].requests.clear()
    return url, recorder


def _props(airflow_uri: str, name: str, slots: int) -> dict[str, Any]:
    """The properties as the engine hands them to the provider: numbers are floats."""
    return {
        "airflow_uri": airflow_uri,
        "name": name,
        "slots": float(slots),
        "description": DESCRIPTION,
        "__provider": "serialized",
    }


def _live(airflow_api: str, name: str) -> dict[str, Any] | None:
    status, body = _status(airflow_api, "GET", f"/api/v2/pools/{name}")
    assert status in (200, 404), body
    return body if status == 200 else None


def test_create_makes_the_pool_with_a_google_access_token(
    airflow_api: str, composer: tuple[str, Recorder], google_tokens: tuple[str, Recorder]
) -> None:
    url, front = composer
    result = AirflowPoolProvider().create(_props(url, "cdi_create", 4))

    assert result.id == "cdi_create"
    assert result.outs == {"airflow_uri": url, "name": "cdi_create", "slots": 4, "description": DESCRIPTION}
    live = _live(airflow_api, "cdi_create")
    assert live is not None
    assert (live["slots"], live["description"], live["include_deferred"]) == (4, DESCRIPTION, True)
    assert [(r["method"], r["path"], r["authorization"]) for r in front.requests] == [
        ("POST", "/api/v2/pools", f"Bearer {ACCESS_TOKEN}")
    ]
    exchange, impersonation = google_tokens[1].requests
    assert exchange["body"]["subject_token"] == OIDC_TOKEN
    assert impersonation["path"] == f"/v1/projects/-/serviceAccounts/{DEPLOYER}:generateAccessToken"
    assert impersonation["authorization"] == f"Bearer {FEDERATED_TOKEN}"
    assert impersonation["body"]["scope"] == SCOPES


def test_create_adopts_a_pool_that_exists_and_sets_its_slots(
    airflow_api: str, composer: tuple[str, Recorder]
) -> None:
    url, front = composer
    made_by_hand = {"name": "cdi_adopt", "slots": 9, "description": "by hand", "include_deferred": False}
    assert _status(airflow_api, "POST", "/api/v2/pools", made_by_hand)[0] == 201

    result = AirflowPoolProvider().create(_props(url, "cdi_adopt", 1))

    assert result.id == "cdi_adopt"
    live = _live(airflow_api, "cdi_adopt")
    assert live is not None
    assert (live["slots"], live["description"], live["include_deferred"]) == (1, DESCRIPTION, True)
    assert [(r["method"], r["path"]) for r in front.requests] == [
        ("POST", "/api/v2/pools"),
        ("PATCH", "/api/v2/pools/cdi_adopt"),
    ]


def test_update_changes_the_slots_and_recreates_a_pool_deleted_by_hand(
    airflow_api: str, composer: tuple[str, Recorder]
) -> None:
    url, _ = composer
    provider = AirflowPoolProvider()
    old = _props(url, "cdi_update", 4)
    provider.create(old)

    result = provider.update("cdi_update", old, _props(url, "cdi_update", 2))
    assert (result.outs or {}).get("slots") == 2
    assert (_live(airflow_api, "cdi_update") or {}).get("slots") == 2

    assert _status(airflow_api, "DELETE", "/api/v2/pools/cdi_update")[0] == 204
    provider.update("cdi_update", old, _props(url, "cdi_update", 3))
    assert (_live(airflow_api, "cdi_update") or {}).get("slots") == 3


def test_read_gives_the_live_slots_or_no_id_when_the_pool_is_gone(
    airflow_api: str, composer: tuple[str, Recorder]
) -> None:
    url, _ = composer
    provider = AirflowPoolProvider()
    props = _props(url, "cdi_read", 4)
    provider.create(props)
    by_hand = {"name": "cdi_read", "slots": 7, "description": DESCRIPTION, "include_deferred": True}
    assert _status(airflow_api, "PATCH", "/api/v2/pools/cdi_read", by_hand)[0] == 200

    drifted = provider.read("cdi_read", props)
    assert (drifted.id, drifted.outs) == (
        "cdi_read",
        {"airflow_uri": url, "name": "cdi_read", "slots": 7, "description": DESCRIPTION},
    )
    assert _status(airflow_api, "DELETE", "/api/v2/pools/cdi_read")[0] == 204
    assert provider.read("cdi_read", props).id == ""


def test_delete_removes_the_pool_and_a_second_delete_is_fine(
    airflow_api: str, composer: tuple[str, Recorder]
) -> None:
    url, front = composer
    provider = AirflowPoolProvider()
    props = _props(url, "cdi_delete", 4)
    provider.create(props)

    provider.delete("cdi_delete", props)
    assert _live(airflow_api, "cdi_delete") is None
    provider.delete("cdi_delete", props)
    assert [r["method"] for r in front.requests] == ["POST", "DELETE", "DELETE"]


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("invalid slots", "HTTP 422"),
        ("wrong base URL", "HTTP 405"),
        ("nothing listening", "Connection refused"),
        ("expired OIDC token", "invalid_grant"),
    ],
)
def test_errors_name_the_pool_the_request_and_the_answer(
    airflow_api: str, composer: tuple[str, Recorder], oidc_token_file: Path, case: str, expected: str
) -> None:
    url, _ = composer
    props = _props(url, "cdi_error", 4)
    if case == "invalid slots":
        props["slots"] = -5.0
    elif case == "wrong base URL":
        props["airflow_uri"] = f"{url}/not-airflow"
    elif case == "nothing listening":
        props["airflow_uri"] = _closed_port()
    else:
        oidc_token_file.write_text("github-oidc.expired")

    with pytest.raises(AirflowPoolError) as error:
        AirflowPoolProvider().create(props)

    message = str(error.value)
    assert message.startswith("Airflow pool 'cdi_error': POST "), message
    assert expected in message, message
    assert _live(airflow_api, "cdi_error") is None

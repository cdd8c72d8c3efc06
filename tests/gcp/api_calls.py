"""What the gcp target asked of Google during the offline end-to-end run: every API call the
loopback stand-ins received, with the resource it touched and the identity that made it.

The stand-ins record into one `CallLog`:
- GCS: `GcsRecorder`, a loopback proxy in front of fake-gcs-server that the DAG's process talks to
  (`STORAGE_EMULATOR_HOST`); every call through it is the Composer environment's;
- BigQuery (`tests/gcp/bigquery_server.py`): the job methods, and what each job reads and writes
  (tables, and the Cloud Storage objects a load job reads), as the identity that inserted the job;
- Dataproc (`tests/gcp/dataproc_server.py`): the batch methods as the Composer environment, and what
  a batch reads and writes as the service account its request names
  (`environment_config.execution_config.service_account`).

`tests/gcp/contract.py` then checks each call against the mocked stacks. A call is named after the
API method (`storage.objects.get`); where one method needs permissions on several resources, each
resource is one call with the part in brackets (`storage.objects.copy[source]`). Calls BigQuery or
Dataproc make for a job are named after the method that asked for them (`bigquery.jobs.insert[read]`
for a table a query job reads).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

COMPOSER = "composer-environment"
"""The acting identity of everything the DAG's process calls: Composer's `google_cloud_default`
connection runs as the environment's service account (its `node_config.service_account`)."""


@dataclass(frozen=True)
class Resource:
    """What a call touched: `kind` and its path, e.g. `object` (`bucket`, `name`), `table`
    (`project`, `dataset`, `table`), `project` (`project`,), `service_account` (`email`,)."""

    kind: str
    path: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind}:{'/'.join(self.path)}"


@dataclass(frozen=True)
class Call:
    method: str
    resource: Resource
    identity: str

    def __str__(self) -> str:
        return f"{self.method} {self.resource} as {self.identity}"


class CallLog:
    """Thread-safe list of calls, in arrival order."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def record(self, method: str, kind: str, path: tuple[str, ...], identity: str) -> None:
        with self._lock:
            self._calls.append(Call(method, Resource(kind, path), identity))

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls)


# --- Cloud Storage: the JSON API paths the client library sends -----------------------------------

_OBJECT_PATH = re.compile(r"^/(?:download/)?storage/v1/b/([^/]+)/o/([^/]+)$")
_OBJECTS_PATH = re.compile(r"^/(?:upload/)?storage/v1/b/([^/]+)/o$")
_COPY_PATH = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/]+)/(copyTo|rewriteTo)/b/([^/]+)/o/([^/]+)$")
_BUCKET_PATH = re.compile(r"^/storage/v1/b/([^/]+)$")
_METADATA_NAME = re.compile(rb'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _uploaded_name(query: dict[str, list[str]], body: bytes) -> str:
    """An insert's object name: the `name` parameter, or the name in its JSON (first part) metadata."""
    if "name" in query:
        return query["name"][0]
    found = _METADATA_NAME.search(body)
    return json.loads(b'"' + found.group(1) + b'"') if found else ""


def storage_calls(verb: str, target: str, body: bytes) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, resource kind, resource path) of one JSON API request; an unknown request is named
    `storage.unknown[VERB path]`, which no permission row matches."""
    parts = urlsplit(target)
    query = parse_qs(parts.query)
    path = parts.path
    if match := _COPY_PATH.match(path):
        method = "storage.objects.copy" if match.group(3) == "copyTo" else "storage.objects.rewrite"
        source = (unquote(match.group(1)), unquote(match.group(2)))
        destination = (unquote(match.group(4)), unquote(match.group(5)))
        return [(f"{method}[source]", "object", source), (f"{method}[destination]", "object", destination)]
    if match := _OBJECT_PATH.match(path):
        obj = (unquote(match.group(1)), unquote(match.group(2)))
        method = {"GET": "get", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}.get(verb)
        if method is not None:
            return [(f"storage.objects.{method}", "object", obj)]
    if (match := _OBJECTS_PATH.match(path)) and verb in ("GET", "POST", "PUT"):
        bucket = unquote(match.group(1))
        if verb == "GET" and not path.startswith("/upload/"):
            return [("storage.objects.list", "bucket", (bucket,))]
        if path.startswith("/upload/") and verb == "POST":
            return [("storage.objects.insert", "object", (bucket, _uploaded_name(query, body)))]
        return []  # a resumable upload's later chunks: the session's first request was recorded
    if (match := _BUCKET_PATH.match(path)) and verb == "GET":
        return [("storage.buckets.get", "bucket", (unquote(match.group(1)),))]
    return [(f"storage.unknown[{verb} {path}]", "bucket", ("",))]


class GcsRecorder:
    """A loopback HTTP proxy to fake-gcs-server that records each call as `identity`.

    `with GcsRecorder(fake_gcs_url, log, identity) as proxy:` ... `proxy.url` is what the caller's
    `STORAGE_EMULATOR_HOST` names. Resumable-upload session URLs are rewritten to the proxy.
    """

    def __init__(self, upstream: str, log: CallLog, identity: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80  # fake-gcs-server runs with `-scheme http`
        self.log = log
        self.identity = identity
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self._thread = threading.Thread(target=self._http.serve_forever, name="gcs-recorder", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> GcsRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def forward(self, verb: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, bytes]:
        for method, kind, path in storage_calls(verb, target, body):
            self.log.record(method, kind, path, self.identity)
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            connection.request(verb, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _proxy_handler(proxy: GcsRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "connection", "content-length")
            }
            status, response_headers, data = proxy.forward(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in response_headers:
                if key.lower() in ("transfer-encoding", "connection", "content-length"):
                    continue
                if key.lower() == "location":
                    value = value.replace(proxy.upstream, proxy.url)
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            return

    return Handler

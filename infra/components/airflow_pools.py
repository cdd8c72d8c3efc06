"""Airflow pools in the Composer environment, through Airflow's REST API (`/api/v2/pools`).

Composer has no API of its own for pools and pulumi-gcp no resource, so a Pulumi dynamic provider
sends the requests at deploy time, as the identity that runs `pulumi up`: a Google access token
(scope cloud-platform) in `Authorization: Bearer`, which Composer's Airflow accepts and maps to an
Airflow user (role Op by default, which may manage pools). Only `create`, `read` (on `pulumi
refresh`), `update` and `delete` call the network; importing this module or diffing does not.
"""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import quote

import google.auth
import google.auth.exceptions
import pulumi
import pulumi.dynamic
import requests
from google.auth.transport.requests import AuthorizedSession
from pulumi.runtime import rpc

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
POOLS_PATH = "/api/v2/pools"
TIMEOUT_SECONDS = 60
INCLUDE_DEFERRED = True
"""A deferred task keeps its slot: the DAG's BigQuery and Dataproc operators are deferrable, so
without it a pool would cap only the submission of jobs, not the jobs running."""
DESCRIPTION = "Managed by Pulumi (infra/components/airflow_pools.py); slots are set in pipeline/gcp."
REPLACING = ("airflow_uri", "name")
"""Another environment or another name is another pool: create the new one, delete the old one."""
UPDATING = ("slots", "description")


class AirflowPoolArgs(TypedDict):
    airflow_uri: pulumi.Input[str]
    """Base URL of the Airflow web server (the Composer environment's `airflow_uri`)."""
    name: str
    """Pool name, as the DAG's tasks name it."""
    slots: int
    """Number of slots (-1: unlimited)."""
    description: str
    """Shown in the Airflow UI."""


class AirflowPoolError(RuntimeError):
    """A request of the REST API failed; the message names the pool, the request and the answer."""


def _request(
    method: str,
    props: dict[str, Any],
    *,
    item: bool,
    body: dict[str, Any] | None = None,
    allowed: tuple[int, ...] = (),
) -> requests.Response:
    """One authorized request; an answer other than 2xx or `allowed` is an `AirflowPoolError`."""
    name = str(props["name"])
    url = str(props["airflow_uri"]).rstrip("/") + POOLS_PATH + (f"/{quote(name, safe='')}" if item else "")
    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
        response = AuthorizedSession(credentials).request(method, url, json=body, timeout=TIMEOUT_SECONDS)
    except (google.auth.exceptions.GoogleAuthError, requests.RequestException) as exc:
        raise AirflowPoolError(f"Airflow pool {name!r}: {method} {url} failed: {exc}") from exc
    if not response.ok and response.status_code not in allowed:
        answer = f"HTTP {response.status_code}: {response.text[:2000]}"
        raise AirflowPoolError(f"Airflow pool {name!r}: {method} {url} answered {answer}")
    return response


def _wanted(props: dict[str, Any]) -> dict[str, Any]:
    """The pool's properties without the serialized provider (numbers arrive as floats)."""
    return {
        "airflow_uri": str(props["airflow_uri"]),
        "name": str(props["name"]),
        "slots": int(props["slots"]),
        "description": str(props["description"]),
    }


def _body(wanted: dict[str, Any]) -> dict[str, Any]:
    """The body of POST and PATCH: every field, since PATCH validates the whole pool."""
    return {
        "name": wanted["name"],
        "slots": wanted["slots"],
        "description": wanted["description"],
        "include_deferred": INCLUDE_DEFERRED,
    }


class AirflowPoolProvider(pulumi.dynamic.ResourceProvider):
    """Create, read, update and delete one pool; its id is the pool name."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """POST; a pool of that name already there (made by hand, or by a deploy whose state was
        lost) is adopted: PATCHed to the wanted slots and description."""
        wanted = _wanted(props)
        if _request("POST", wanted, item=False, body=_body(wanted), allowed=(409,)).status_code == 409:
            _request("PATCH", wanted, item=True, body=_body(wanted))
        return pulumi.dynamic.CreateResult(id_=wanted["name"], outs=wanted)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """For `pulumi refresh`: the live slots and description, or no id when the pool is gone."""
        wanted = _wanted(props)
        response = _request("GET", wanted, item=True, allowed=(404,))
        if response.status_code == 404:
            return pulumi.dynamic.ReadResult("", {})
        live = response.json()
        return pulumi.dynamic.ReadResult(
            id_, {**wanted, "slots": int(live["slots"]), "description": live.get("description") or ""}
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in (*REPLACING, *UPDATING) if olds.get(key) != news.get(key)]
        # An airflow_uri unknown in a preview (the environment is being updated) is most often the
        # same URI: shown as an update; `pulumi up` diffs again with the known value.
        replaces = [key for key in changed if key in REPLACING and news.get(key) != rpc.UNKNOWN]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=False
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        """PATCH; a pool deleted by hand meanwhile is created again."""
        wanted = _wanted(news)
        if _request("PATCH", wanted, item=True, body=_body(wanted), allowed=(404,)).status_code == 404:
            _request("POST", wanted, item=False, body=_body(wanted))
        return pulumi.dynamic.UpdateResult(outs=wanted)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """DELETE; a pool already gone (404) is what was asked."""
        _request("DELETE", _wanted(props), item=True, allowed=(404,))


class AirflowPool(pulumi.dynamic.Resource, module="airflow", name="Pool"):
    """One Airflow pool (`pulumi-python:dynamic/airflow:Pool`)."""

    airflow_uri: pulumi.Output[str]
    name: pulumi.Output[str]
    slots: pulumi.Output[int]
    description: pulumi.Output[str]

    def __init__(self, name: str, args: AirflowPoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(AirflowPoolProvider(), name, dict(args), opts)

"""The deployment contract: what the DAG and the Spark job do on Google Cloud is allowed, and exists,
in the stacks infra declares.

Input: the calls the offline end-to-end run recorded (`tests/gcp/api_calls.py`), made with the test's
names (`tests/gcp/conftest.py` GCP_ENV), and a stack as the Pulumi program declares it under mocks
(`infra.mocks.run_stack`). Test names become stack names through the Composer environment: a test
value of the variable `CDI_X` is the stack's value of `CDI_X` (the DAG reads nothing else), and the
acting identity `COMPOSER` is the environment's `node_config.service_account`. Then, per call:

- the resource exists in the stack (bucket, dataset, table, subscription, service account; an object
  read from a bucket the stack deploys objects into is one of those objects; jobs, batches and
  operations are created at run time, in the stack's project; so are the tables a job of the run
  creates, in a dataset of the stack);
- the identity holds, on the resource or on what contains it (bucket, dataset, project), a role that
  grants the permission the call needs (`iam/permissions.yaml`, each row with its source page).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra import mocks
from infra.mocks import StackRun
from pipeline.config import REPO_ROOT

from .api_calls import COMPOSER, Call, Resource

PERMISSIONS_FILE = REPO_ROOT / "iam" / "permissions.yaml"


@dataclass(frozen=True)
class Permissions:
    calls: Mapping[str, tuple[str, ...]]
    """Recorded call -> the permissions it needs."""
    roles: Mapping[str, frozenset[str]]
    """Role -> the permissions it grants that the calls rely on."""


@cache
def permissions(path: Path = PERMISSIONS_FILE) -> Permissions:
    """`iam/permissions.yaml`; every row must name its source page."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section in ("calls", "roles"):
        for key, row in data[section].items():
            if not str(row.get("source", "")).startswith("https://cloud.google.com/"):
                raise ValueError(f"{path.name} {section}.{key}: no source page on cloud.google.com")
    return Permissions(
        calls={k: tuple(v["permissions"]) for k, v in data["calls"].items()},
        roles={k: frozenset(v["permissions"]) for k, v in data["roles"].items()},
    )


def mocked_stack(stack: str, work_dir: Path) -> StackRun:
    """The stack's whole program under Pulumi mocks, with a stand-in of the packaged Spark job."""
    dist = work_dir / f"spark-dist-{stack}"
    dist.mkdir(parents=True, exist_ok=True)
    for name in ("job.py", "cdi_spark.zip"):
        (dist / name).write_bytes(b"stand-in")
    return mocks.run_stack(stack, {"cdi:sparkDistDir": str(dist)})


def _email(account: Mapping[str, Any]) -> str:
    return f"{account['accountId']}@{account['project']}.iam.gserviceaccount.com"


class Stack:
    """What one mocked stack declares, looked up the way the contract needs it."""

    def __init__(self, run: StackRun) -> None:
        self.name = run.stack
        (environment,) = run.of_type("gcp:composer/environment:Environment")
        config = environment.inputs["config"]
        self.env: dict[str, str] = dict(config["softwareConfig"]["envVariables"])
        self.composer_account: str = config["nodeConfig"]["serviceAccount"]
        self.project: str = environment.inputs["project"]
        self.buckets = {r.inputs["name"] for r in run.of_type("gcp:storage/bucket:Bucket")}
        self.objects = {
            (r.inputs["bucket"], r.inputs["name"])
            for r in run.of_type("gcp:storage/bucketObject:BucketObject")
        }
        self.datasets = {
            (r.inputs["project"], r.inputs["datasetId"]) for r in run.of_type("gcp:bigquery/dataset:Dataset")
        }
        self.tables = {
            (r.inputs["project"], r.inputs["datasetId"], r.inputs["tableId"])
            for r in run.of_type("gcp:bigquery/table:Table")
        }
        self.subscriptions = {
            (r.inputs["project"], r.inputs["name"])
            for r in run.of_type("gcp:pubsub/subscription:Subscription")
        }
        self.accounts = {_email(r.inputs) for r in run.of_type("gcp:serviceaccount/account:Account")}
        self.pools = {
            r.inputs["name"]: int(r.inputs["slots"])
            for r in run.of_type("pulumi-python:dynamic/airflow:Pool")
        }
        self.secrets = {r.inputs.get("secretId", "") for r in run.of_type("gcp:secretmanager/secret:Secret")}
        self.grants = list(_grants(run))
        """(member, role, scope kind, scope id) of every IAM member binding."""

    def translate(self, test_env: Mapping[str, str]) -> dict[str, str]:
        """Test value -> stack value, through the Composer environment's variables."""
        return {value: self.env[key] for key, value in test_env.items() if key in self.env and value}

    def identity(self, test_identity: str, names: Mapping[str, str]) -> str:
        return self.composer_account if test_identity == COMPOSER else names.get(test_identity, test_identity)

    def exists(self, resource: Resource, created: frozenset[Resource] = frozenset()) -> bool:
        """In the stack, or created by the run itself (a `...[create]` call) in a dataset of the stack."""
        path = resource.path
        if resource in created:
            return resource.kind == "table" and (path[0], path[1]) in self.datasets
        if resource.kind == "object":
            bucket, name = path
            deployed = {n for b, n in self.objects if b == bucket}
            return bucket in self.buckets and (not deployed or name in deployed)
        if resource.kind == "bucket":
            return path[0] in self.buckets
        if resource.kind == "dataset":
            return (path[0], path[1]) in self.datasets
        if resource.kind == "table":
            return tuple(path) in self.tables
        if resource.kind == "subscription":
            return tuple(path) in self.subscriptions
        if resource.kind == "service_account":
            return path[0] in self.accounts
        if resource.kind == "secret":
            return path[-1] in self.secrets
        if resource.kind in ("project", "job", "batch", "operation"):
            return path[0] == self.project
        return False

    def scopes(self, resource: Resource) -> set[tuple[str, str]]:
        """Every (scope kind, scope id) whose roles apply to the resource: its project, and the
        bucket, dataset, subscription or service account it is or is in."""
        path = resource.path
        in_project = resource.kind in (
            "project",
            "job",
            "batch",
            "operation",
            "table",
            "dataset",
            "subscription",
            "secret",
        )
        own = {
            "object": ("bucket", path[0]),
            "bucket": ("bucket", path[0]),
            "table": ("dataset", path[1] if len(path) > 1 else ""),
            "dataset": ("dataset", path[1] if len(path) > 1 else ""),
            "subscription": ("subscription", path[-1]),
            "service_account": ("service_account", path[0]),
            "secret": ("secret", path[-1]),
        }.get(resource.kind)
        return {("project", path[0] if in_project else self.project), *([own] if own else [])}

    def roles_of(self, member: str, resource: Resource) -> set[str]:
        scopes = self.scopes(resource)
        return {role for who, role, kind, scope in self.grants if who == member and (kind, scope) in scopes}


def _grants(run: StackRun) -> Iterable[tuple[str, str, str, str]]:
    kinds = {
        "gcp:projects/iAMMember:IAMMember": ("project", "project"),
        "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket", "bucket"),
        "gcp:bigquery/datasetIamMember:DatasetIamMember": ("dataset", "datasetId"),
        "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": ("subscription", "subscription"),
        "gcp:serviceaccount/iAMMember:IAMMember": ("service_account", "serviceAccountId"),
        "gcp:secretmanager/secretIamMember:SecretIamMember": ("secret", "secretId"),
    }
    for resource in run.resources:
        if resource.type not in kinds:
            continue
        kind, key = kinds[resource.type]
        scope = str(resource.inputs[key])
        if kind == "service_account":
            scope = scope.rsplit("/", 1)[-1]  # projects/P/serviceAccounts/EMAIL
        yield str(resource.inputs["member"]), str(resource.inputs["role"]), kind, scope


@dataclass(frozen=True)
class Problem:
    call: Call
    """The call as recorded (test names)."""
    identity: str
    """Who makes it in the stack."""
    resource: Resource
    """What it touches in the stack."""
    reason: str

    def __str__(self) -> str:
        return f"{self.call.method} {self.resource} as {self.identity}: {self.reason}"


def check(calls: Iterable[Call], stack: Stack, test_env: Mapping[str, str]) -> list[Problem]:
    """Every call the stack would refuse or whose resource it lacks (distinct problems, in order)."""
    table = permissions()
    names = stack.translate(test_env)

    def in_stack(resource: Resource) -> Resource:
        return Resource(resource.kind, tuple(names.get(p, p) for p in resource.path))

    distinct = list(dict.fromkeys(calls))
    created = frozenset(in_stack(c.resource) for c in distinct if c.method.endswith("[create]"))
    problems: list[Problem] = []
    for call in distinct:
        identity = stack.identity(call.identity, names)
        resource = in_stack(call.resource)
        needed = table.calls.get(call.method)
        if needed is None:
            problems.append(Problem(call, identity, resource, "no row in iam/permissions.yaml"))
            continue
        if not stack.exists(resource, created):
            problems.append(
                Problem(call, identity, resource, f"no such {resource.kind} in stack {stack.name}")
            )
        if identity not in stack.accounts:
            problems.append(
                Problem(call, identity, resource, f"no such service account in stack {stack.name}")
            )
            continue
        roles = stack.roles_of(f"serviceAccount:{identity}", resource)
        granted = set().union(*(table.roles.get(role, frozenset()) for role in roles))
        missing = [p for p in needed if p not in granted]
        if missing:
            held = ", ".join(sorted(roles)) or "no role"
            problems.append(
                Problem(call, identity, resource, f"lacks {', '.join(missing)} (holds {held} there)")
            )
    unique = {str(p): p for p in problems}
    return list(unique.values())


def triples(calls: Iterable[Call]) -> list[tuple[str, str, str]]:
    """(method, resource kind, identity) of the calls, distinct and sorted: what the run exercised."""
    return sorted({(c.method, c.resource.kind, c.identity) for c in calls})

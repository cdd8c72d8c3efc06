"""The IAM data file `iam/bindings.yaml`, parsed and validated into typed records.

Each component creates the bindings whose scope it owns (`bindings_for("bucket")` in storage,
`bindings_for("dataset")` in the warehouse, ...), with the members resolved by the identity
component. Nothing else in infra names a role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

IAM_DIR = Path(__file__).resolve().parent.parent / "iam"
BINDINGS_FILE = IAM_DIR / "bindings.yaml"

PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
SCOPE_KINDS = (
    "project",
    "service_account",
    "bucket",
    "topic",
    "subscription",
    "dataset",
    "crypto_key",
    "state_bucket",
    "secret",
)
_ROLE_RE = re.compile(r"^roles/[A-Za-z0-9_.]+$")
AGENT_SUFFIX = "_agent"


class IamDataError(ValueError):
    """The IAM data file is malformed or grants something it must not."""


@dataclass(frozen=True)
class ServiceAccountSpec:
    key: str
    account_id: str
    display_name: str
    description: str


AGENT_LOOKUPS = ("storage", "bigquery")


@dataclass(frozen=True)
class ServiceAgentSpec:
    """A Google-managed service agent and how the stack makes it exist before binding it.

    Exactly one of `service` (the API whose agent `gcp.projects.ServiceIdentity` creates) and
    `lookup` (`storage` or `bigquery`: the provider lookup whose API call creates the agent).
    """

    key: str
    email: str
    """Documented address, `{project_number}` to fill in."""
    service: str = ""
    lookup: str = ""

    @property
    def member_key(self) -> str:
        return f"{self.key}{AGENT_SUFFIX}"


@dataclass(frozen=True)
class Binding:
    """`member` gets `role` on `scope` (`kind` plus the resource `target` key, if any)."""

    member: str
    role: str
    kind: str
    target: str

    @property
    def slug(self) -> str:
        """A stable resource-name fragment, e.g. `composer-storage-objectUser-landing`."""
        role = self.role.removeprefix("roles/").replace(".", "-")
        parts = [self.member.replace("_", "-"), role]
        if self.target:
            parts.append(self.target.replace("_", "-"))
        return "-".join(parts)


@dataclass(frozen=True)
class IamData:
    service_accounts: tuple[ServiceAccountSpec, ...]
    service_agents: tuple[ServiceAgentSpec, ...]
    bindings: tuple[Binding, ...]

    def bindings_for(self, kind: str) -> tuple[Binding, ...]:
        if kind not in SCOPE_KINDS:
            raise KeyError(f"unknown scope kind {kind!r}")
        return tuple(b for b in self.bindings if b.kind == kind)

    @property
    def member_keys(self) -> frozenset[str]:
        accounts = {sa.key for sa in self.service_accounts}
        agents = {agent.member_key for agent in self.service_agents}
        return frozenset(accounts | agents)

    def agent_emails(self, project_number: str) -> dict[str, str]:
        """Member key (`storage_agent`) -> e-mail of the service agent in that project."""
        return {
            agent.member_key: agent.email.format(project_number=project_number)
            for agent in self.service_agents
        }


def _parse_binding(raw: dict[str, Any], index: int) -> Binding:
    where = f"{BINDINGS_FILE.name} bindings[{index}]"
    if set(raw) != {"member", "role", "scope"}:
        raise IamDataError(f"{where}: expected keys member, role, scope; got {sorted(raw)}")
    role = str(raw["role"])
    if role in PRIMITIVE_ROLES:
        raise IamDataError(f"{where}: primitive role {role} is never granted")
    if not _ROLE_RE.match(role):
        raise IamDataError(f"{where}: {role!r} is not a predefined role name")
    scope = str(raw["scope"])
    kind, _, target = scope.partition("/")
    if kind not in SCOPE_KINDS:
        raise IamDataError(f"{where}: unknown scope {scope!r}")
    if kind in ("project", "state_bucket") and target:
        raise IamDataError(f"{where}: scope {kind} takes no target")
    if kind not in ("project", "state_bucket") and not target:
        raise IamDataError(f"{where}: scope {kind} needs a target, e.g. {kind}/name")
    return Binding(member=str(raw["member"]), role=role, kind=kind, target=target)


def _parse_agent(key: str, raw: Any) -> ServiceAgentSpec:
    where = f"{BINDINGS_FILE.name} service_agents.{key}"
    if not isinstance(raw, dict) or "email" not in raw or set(raw) - {"email", "service", "lookup"}:
        raise IamDataError(f"{where}: expected email and one of service, lookup")
    service, lookup = str(raw.get("service", "")), str(raw.get("lookup", ""))
    if bool(service) == bool(lookup):
        raise IamDataError(f"{where}: give exactly one of service (ServiceIdentity) or lookup")
    if lookup and lookup not in AGENT_LOOKUPS:
        raise IamDataError(f"{where}: lookup must be one of {AGENT_LOOKUPS}")
    if service and not service.endswith(".googleapis.com"):
        raise IamDataError(f"{where}: service {service!r} is not an API name")
    email = str(raw["email"])
    if "{project_number}" not in email or not email.endswith(".gserviceaccount.com"):
        raise IamDataError(f"{where}: email {email!r} is not a per-project service agent address")
    return ServiceAgentSpec(key=str(key), email=email, service=service, lookup=lookup)


def parse(data: dict[str, Any]) -> IamData:
    """Validate the parsed YAML document."""
    accounts = tuple(
        ServiceAccountSpec(
            key=key,
            account_id=str(spec["account_id"]),
            display_name=str(spec["display_name"]),
            description=str(spec.get("description", "")),
        )
        for key, spec in data["service_accounts"].items()
    )
    for sa in accounts:
        if not re.match(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", sa.account_id):
            raise IamDataError(f"service account {sa.key}: invalid account_id {sa.account_id!r}")
    agents = tuple(_parse_agent(str(k), v) for k, v in data["service_agents"].items())
    bindings = tuple(_parse_binding(raw, i) for i, raw in enumerate(data["bindings"]))
    result = IamData(service_accounts=accounts, service_agents=agents, bindings=bindings)
    for binding in bindings:
        if binding.member not in result.member_keys:
            raise IamDataError(f"binding {binding.slug}: unknown member {binding.member!r}")
        if binding.kind == "service_account" and binding.target not in {sa.key for sa in accounts}:
            raise IamDataError(f"binding {binding.slug}: unknown service account {binding.target!r}")
    slugs = [b.slug for b in bindings]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise IamDataError(f"duplicate bindings: {duplicates}")
    return result


@cache
def load(path: Path = BINDINGS_FILE) -> IamData:
    """The IAM data file, parsed once per process."""
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")))

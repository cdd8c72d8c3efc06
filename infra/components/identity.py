"""Service accounts and project / SA-level IAM (GitHub's access to the CI accounts: `ci_access.py`).

Roles come from `iam/bindings.yaml` (see `infra/iamdata.py`). This component creates the bindings
of scope `project`, `service_account/<key>` and `state_bucket`; the components owning buckets,
topics, datasets and keys create the bindings on those, using `members` from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.iamdata import IamData


class IdentityArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    agent_members: Mapping[str, pulumi.Output[str]]
    """`<key>_agent` -> member of the Google service agent, from `ServiceAgents` (so every binding
    of an agent depends on the call that created it)."""
    iam: IamData
    """The parsed IAM data file."""
    state_bucket: str
    """Pulumi state bucket made at bootstrap; empty to skip the CI binding on it."""


class Identity(pulumi.ComponentResource):
    """Creates every service account of the data file and grants its project and SA-level roles."""

    emails: dict[str, pulumi.Output[str]]
    names: dict[str, pulumi.Output[str]]
    members: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:identity:Identity", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = args["project"]
        data = args["iam"]

        accounts = {
            spec.key: gcp.serviceaccount.Account(
                f"{name}-{spec.key}",
                project=project,
                account_id=spec.account_id,
                display_name=spec.display_name,
                description=spec.description,
                opts=child,
            )
            for spec in data.service_accounts
        }
        self.emails = {key: sa.email for key, sa in accounts.items()}
        self.names = {key: sa.name for key, sa in accounts.items()}
        members: dict[str, pulumi.Output[str]] = {key: sa.member for key, sa in accounts.items()}
        missing = sorted({agent.member_key for agent in data.service_agents} - set(args["agent_members"]))
        if missing:
            raise KeyError(f"no member for service agents {missing}")
        members.update(args["agent_members"])
        self.members = members

        for binding in data.bindings_for("project"):
            gcp.projects.IAMMember(
                f"{name}-{binding.slug}",
                project=project,
                role=binding.role,
                member=members[binding.member],
                opts=child,
            )
        for binding in data.bindings_for("service_account"):
            gcp.serviceaccount.IAMMember(
                f"{name}-{binding.slug}",
                service_account_id=accounts[binding.target].name,
                role=binding.role,
                member=members[binding.member],
                opts=child,
            )
        if args["state_bucket"]:
            for binding in data.bindings_for("state_bucket"):
                gcp.storage.BucketIAMMember(
                    f"{name}-{binding.slug}-state",
                    bucket=args["state_bucket"],
                    role=binding.role,
                    member=members[binding.member],
                    opts=child,
                )

        self.register_outputs({"emails": self.emails, "names": self.names})

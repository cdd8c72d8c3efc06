"""The Google-managed service agents `iam/bindings.yaml` binds, made to exist before any binding.

A service agent exists only once Google creates it, and an IAM binding naming an agent that does
not exist yet fails: on a fresh project the first `pulumi up` would stop at the first such binding
(https://cloud.google.com/iam/docs/create-service-agents). So each agent's member string comes
from the call that creates it, never from a formatted address:

- `service: <api>` agents from `gcp.projects.ServiceIdentity` (services.generateServiceIdentity);
- Cloud Storage's agent from `gcp.storage.get_project_service_account_output`, whose API call
  creates it (https://cloud.google.com/storage/docs/projects#service-agents);
- BigQuery's encryption agent from `gcp.bigquery.get_default_service_account_output`
  (https://cloud.google.com/bigquery/docs/customer-managed-encryption#grant_permission).

Every binding that uses `members` therefore depends on the resource or lookup that created the
agent (Pulumi carries the dependency inside the Output), after the APIs are enabled.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.iamdata import IamData, ServiceAgentSpec


class ServiceAgentsArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    iam: IamData
    """The parsed IAM data file (its `service_agents`)."""
    services: pulumi.Resource
    """The enabled APIs (`ProjectServices`): an API's agent can be created only once it is on."""


def _lookup_email(
    agent: ServiceAgentSpec, project: pulumi.Input[str], opts: pulumi.InvokeOutputOptions
) -> pulumi.Output[str]:
    if agent.lookup == "storage":
        return gcp.storage.get_project_service_account_output(project=project, opts=opts).email_address
    if agent.lookup == "bigquery":
        return gcp.bigquery.get_default_service_account_output(project=project, opts=opts).email
    raise ValueError(f"service agent {agent.key}: unknown lookup {agent.lookup!r}")


class ServiceAgents(pulumi.ComponentResource):
    """Creates (or looks up, which creates) each service agent; `members` maps `<key>_agent` to
    `serviceAccount:<email>` as Google returned it."""

    emails: dict[str, pulumi.Output[str]]
    members: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: ServiceAgentsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdi:project:ServiceAgents", name, {}, opts)
        project = args["project"]
        after = [args["services"]]
        invoke = pulumi.InvokeOutputOptions(parent=self, depends_on=after)
        emails: dict[str, pulumi.Output[str]] = {}
        for agent in args["iam"].service_agents:
            if agent.service:
                identity = gcp.projects.ServiceIdentity(
                    f"{name}-{agent.key}",
                    project=project,
                    service=agent.service,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=after),
                )
                emails[agent.member_key] = identity.email
            else:
                emails[agent.member_key] = _lookup_email(agent, project, invoke)
        self.emails = emails
        self.members = {key: email.apply(lambda e: f"serviceAccount:{e}") for key, email in emails.items()}
        self.register_outputs({"emails": self.emails})

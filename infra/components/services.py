"""Project services (APIs) the pipeline needs, enabled before anything else is created."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

BASE_SERVICES = (
    "bigquery.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "composer.googleapis.com",
    "compute.googleapis.com",
    "dataproc.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
)
CMEK_SERVICES = ("cloudkms.googleapis.com",)
# Services whose agent identity is generated explicitly (see ProjectServices).
# Secret Manager's agent encrypts the connection secrets with CMEK (prod): it must exist before
# its key binding (https://cloud.google.com/secret-manager/docs/cmek).
AGENT_SERVICES = ("composer.googleapis.com", "pubsub.googleapis.com", "secretmanager.googleapis.com")


def services_for(cmek: bool) -> tuple[str, ...]:
    """The APIs one stack enables, sorted."""
    return tuple(sorted(BASE_SERVICES + (CMEK_SERVICES if cmek else ())))


class ProjectServicesArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    services: Sequence[str]
    """API names, e.g. `composer.googleapis.com`."""


class ProjectServices(pulumi.ComponentResource):
    """Enables each API once; never disables it on destroy (other tools may use it)."""

    enabled: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdi:project:Services", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        services = [
            gcp.projects.Service(
                f"{name}-{service.split('.')[0]}",
                project=args["project"],
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for service in args["services"]
        ]
        # The service agents below exist only once asked for; IAM bindings need them to exist.
        for service in AGENT_SERVICES:
            if service in args["services"]:
                gcp.projects.ServiceIdentity(
                    f"{name}-{service.split('.')[0]}-agent",
                    project=args["project"],
                    service=service,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=services),
                )
        self.enabled = pulumi.Output.all(*[s.service for s in services])
        self.register_outputs({"enabled": self.enabled})

"""Project services (APIs) the pipeline needs, enabled before anything else is created."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

# Each API with the page that states the need (for an API the stack creates resources of, the page
# that creates them). Enabling is idempotent and never undone on destroy.
BASE_SERVICES: dict[str, str] = {
    # Composer 3 builds and stores the environment's images in Artifact Registry (its agent uses the
    # CMEK key); listed among the services Composer requires.
    "artifactregistry.googleapis.com": "https://cloud.google.com/composer/docs/composer-3/configure-vpc-sc",
    "bigquery.googleapis.com": "https://cloud.google.com/bigquery/docs/datasets",
    # Asking for service agents (ServiceIdentity) needs the Resource Manager API.
    "cloudresourcemanager.googleapis.com": "https://cloud.google.com/iam/docs/create-service-agents",
    "composer.googleapis.com": "https://cloud.google.com/composer/docs/latest/enable-composer-service",
    # The VPC, subnet, router and NAT the batches and Composer attach to.
    "compute.googleapis.com": "https://cloud.google.com/vpc/docs/create-modify-vpc-networks",
    "dataproc.googleapis.com": "https://cloud.google.com/dataproc-serverless/docs/quickstarts/spark-batch",
    # Runtime 3.0: "New dataprocrm.googleapis.com API enablement is required".
    "dataprocrm.googleapis.com": "https://cloud.google.com/dataproc-serverless/docs/concepts/versions/spark-runtime-3.0",
    "iam.googleapis.com": "https://cloud.google.com/iam/docs/service-accounts-create",
    # Workload Identity Federation for GitHub Actions: token exchange (sts) and impersonation.
    "iamcredentials.googleapis.com": "https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines",
    "logging.googleapis.com": "https://cloud.google.com/logging/docs/logs-based-metrics",
    "monitoring.googleapis.com": "https://cloud.google.com/monitoring/alerts",
    "pubsub.googleapis.com": "https://cloud.google.com/storage/docs/pubsub-notifications",
    # Composer's Secret Manager backend holds the Airflow connections (created by the stack).
    "secretmanager.googleapis.com": "https://cloud.google.com/composer/docs/composer-3/configure-secret-manager",
    "serviceusage.googleapis.com": "https://cloud.google.com/service-usage/docs/enable-disable",
    "storage.googleapis.com": "https://cloud.google.com/storage/docs/creating-buckets",
    "sts.googleapis.com": "https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines",
}
CMEK_SERVICES: dict[str, str] = {
    "cloudkms.googleapis.com": "https://cloud.google.com/kms/docs/create-key",
}


def services_for(cmek: bool) -> tuple[str, ...]:
    """The APIs one stack enables, sorted."""
    return tuple(sorted({**BASE_SERVICES, **(CMEK_SERVICES if cmek else {})}))


class ProjectServicesArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    services: Sequence[str]
    """API names, e.g. `composer.googleapis.com`."""


class ProjectServices(pulumi.ComponentResource):
    """Enables each API once; never disables it on destroy (other tools may use it).

    Their service agents are created by `infra.components.service_agents.ServiceAgents`.
    """

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
        self.enabled = pulumi.Output.all(*[s.service for s in services])
        self.register_outputs({"enabled": self.enabled})

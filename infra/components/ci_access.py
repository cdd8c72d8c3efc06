"""Workload Identity Federation for GitHub Actions: who in CI may act as which service account.

Two CI identities (service accounts of `iam/bindings.yaml`):
- `ci_preview` (read-only: reads the Pulumi state, changes nothing) for `pulumi preview` on pull
  requests; any workflow of the repository may impersonate it.
- `ci` (the deployer, admin of the stack's services) for `pulumi up`; only a job running for the
  `main` branch may impersonate it: its binding is the principal set of tokens whose `ref` claim is
  `refs/heads/main`. A pull request's token carries `refs/pull/<n>/merge` and gets nothing.

GitHub's OIDC token carries `repository`, `ref` and `event_name` claims
(https://docs.github.com/en/actions/reference/security/oidc). The provider maps them to attributes
and accepts only tokens of our repository, and never from a `pull_request_target` run (whose `ref`
is the base branch while it may run code of the pull request); the bindings then name a principal
set by attribute, as https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines
shows (`principalSet://iam.googleapis.com/POOL/attribute.ATTRIBUTE/VALUE`).
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEPLOY_REF = "refs/heads/main"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


def attribute_condition(repository: str) -> str:
    """CEL the provider applies to every token: our repository, never a `pull_request_target` run."""
    return f"assertion.repository == '{repository}' && assertion.event_name != 'pull_request_target'"


def principal_set(pool_name: str, attribute: str, value: str) -> str:
    """The principal set of a pool's identities whose mapped `attribute` equals `value`."""
    return f"principalSet://iam.googleapis.com/{pool_name}/attribute.{attribute}/{value}"


class CiAccessArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    github_repository: str
    """`owner/name` of the only repository whose workflows may use the pool."""
    preview_account: pulumi.Input[str]
    """Resource name (`projects/P/serviceAccounts/EMAIL`) of the read-only preview account."""
    deploy_account: pulumi.Input[str]
    """Resource name of the deployer account."""


class CiAccess(pulumi.ComponentResource):
    """The GitHub pool and provider, and who may impersonate the two CI accounts."""

    workload_identity_pool: pulumi.Output[str]
    workload_identity_provider: pulumi.Output[str]

    def __init__(self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:identity:CiAccess", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = args["project"]
        repo = args["github_repository"]
        pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-github-pool",
            project=project,
            workload_identity_pool_id="github",
            display_name="GitHub Actions",
            description="OIDC tokens of GitHub Actions workflows",
            opts=child,
        )
        provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-github-provider",
            project=project,
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github-actions",
            display_name="GitHub Actions OIDC",
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.ref": "assertion.ref",
                "attribute.event_name": "assertion.event_name",
            },
            attribute_condition=attribute_condition(repo),
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_ISSUER),
            opts=child,
        )
        gcp.serviceaccount.IAMMember(
            f"{name}-preview-workload-identity-user",
            service_account_id=args["preview_account"],
            role=WORKLOAD_IDENTITY_USER,
            member=pool.name.apply(lambda pool_name: principal_set(pool_name, "repository", repo)),
            opts=child,
        )
        gcp.serviceaccount.IAMMember(
            f"{name}-deploy-workload-identity-user",
            service_account_id=args["deploy_account"],
            role=WORKLOAD_IDENTITY_USER,
            member=pool.name.apply(lambda pool_name: principal_set(pool_name, "ref", DEPLOY_REF)),
            opts=child,
        )
        self.workload_identity_pool = pool.name
        self.workload_identity_provider = provider.name
        self.register_outputs(
            {
                "workload_identity_pool": self.workload_identity_pool,
                "workload_identity_provider": self.workload_identity_provider,
            }
        )

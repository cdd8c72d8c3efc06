"""Airflow connections of the DAG as Secret Manager secrets, read by Composer's secrets backend.

Composer reads a connection `<conn_id>` from the secret `airflow-connections-<conn_id>` once the
environment's Airflow config names `CloudSecretManagerBackend` (`airflow_overrides()`), as
https://cloud.google.com/composer/docs/composer-3/configure-secret-manager describes: section
`secrets`, keys `backend` and `backend_kwargs` (JSON: `connections_prefix`, `variables_prefix`,
`sep`; a `null` prefix sends no lookups of that kind). The secret's value is the connection as
JSON (`conn_type`, `host`, `login`, `password`, `port`, `extra`), which the provider's backend
turns into a Connection (`BaseSecretsBackend.deserialize_connection`: JSON when it starts with `{`).

Values come from stack secrets (`pulumi config set --secret ...`, see `infra.config`), never from
git; they stay Pulumi secrets up to the `SecretVersion`. Each secret is replicated in the stack's
region only (user-managed replication; with the regional CMEK key on prod), and the Composer
service account may read exactly these secrets (`secret/<conn_id>` bindings of `iam/bindings.yaml`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.iamdata import IamData

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
CONNECTIONS_PREFIX = "airflow-connections"
SEP = "-"


def secret_id(conn_id: str) -> str:
    """The secret the backend reads for `conn_id` (`<connections_prefix><sep><conn_id>`)."""
    return f"{CONNECTIONS_PREFIX}{SEP}{conn_id}"


def airflow_overrides(project: str) -> dict[str, str]:
    """Composer `airflow_config_overrides` that make Airflow read connections from Secret Manager.

    Variables and Airflow config are not looked up there (the DAG uses neither): `null` prefixes,
    so a `Variable.get` or config read costs no Secret Manager call.
    """
    kwargs = {
        "connections_prefix": CONNECTIONS_PREFIX,
        "variables_prefix": None,
        "config_prefix": None,
        "sep": SEP,
        "project_id": project,
    }
    return {"secrets-backend": BACKEND, "secrets-backend_kwargs": json.dumps(kwargs, sort_keys=True)}


def smtp_connection(host: str, port: int, login: str, password: str, from_email: str, starttls: bool) -> str:
    """JSON of an SMTP connection as `airflow.providers.smtp.hooks.smtp.SmtpHook` reads it.

    Port 587 with STARTTLS (`disable_tls: false`) and no implicit SSL (`disable_ssl: true`) is what
    relays such as SendGrid or Google Workspace expect; Composer blocks nothing on 587.
    """
    extra: dict[str, Any] = {
        "from_email": from_email,
        "disable_ssl": True,
        "disable_tls": not starttls,
        "timeout": 30,
        "retry_limit": 3,
    }
    conn = {"conn_type": "smtp", "host": host, "port": port, "login": login, "password": password}
    return json.dumps({**conn, "extra": extra}, sort_keys=True)


def webhook_connection(url: str) -> str:
    """JSON of an HTTP connection whose host is the whole webhook URL (`HttpHook` posts to it)."""
    return json.dumps({"conn_type": "http", "host": url}, sort_keys=True)


class ConnectionSecretsArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    region: str
    """The one location the secrets are replicated in."""
    connections: Mapping[str, pulumi.Input[str]]
    """conn_id -> connection JSON (a Pulumi secret); only the connections the stack configures."""
    iam: IamData
    """The parsed IAM data file (its `secret/<conn_id>` bindings)."""
    members: Mapping[str, pulumi.Input[str]]
    """IAM member of each key of the data file (`Identity.members`)."""
    kms_key: pulumi.Input[str] | None
    """Regional CMEK key id, or None for Google-managed encryption."""
    labels: Mapping[str, str]
    """Labels of the secrets."""


class ConnectionSecrets(pulumi.ComponentResource):
    """One secret and one version per connection; `secret_ids` by conn_id."""

    secret_ids: pulumi.Output[dict[str, str]]
    connection_ids: list[str]

    def __init__(
        self, name: str, args: ConnectionSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdi:secrets:ConnectionSecrets", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        kms = args["kms_key"]
        replica = gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
            location=args["region"],
            customer_managed_encryption=(
                gcp.secretmanager.SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(
                    kms_key_name=kms
                )
                if kms
                else None
            ),
        )
        secrets: dict[str, gcp.secretmanager.Secret] = {}
        for conn_id, value in sorted(args["connections"].items()):
            secret = gcp.secretmanager.Secret(
                f"{name}-{conn_id}",
                project=args["project"],
                secret_id=secret_id(conn_id),
                replication=gcp.secretmanager.SecretReplicationArgs(
                    user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(replicas=[replica])
                ),
                labels=dict(args["labels"]),
                opts=child,
            )
            gcp.secretmanager.SecretVersion(
                f"{name}-{conn_id}-version",
                secret=secret.id,
                secret_data=pulumi.Output.secret(value),
                opts=child,
            )
            secrets[conn_id] = secret
        for binding in args["iam"].bindings_for("secret"):
            if binding.target not in secrets:
                continue  # the stack does not configure that connection
            gcp.secretmanager.SecretIamMember(
                f"{name}-{binding.slug}",
                project=args["project"],
                secret_id=secrets[binding.target].secret_id,
                role=binding.role,
                member=args["members"][binding.member],
                opts=child,
            )
        self.connection_ids = sorted(secrets)
        ids: dict[str, pulumi.Input[str]] = {k: s.id for k, s in secrets.items()}
        self.secret_ids = pulumi.Output.from_input(ids)  # type: ignore[arg-type]
        self.register_outputs({"secret_ids": self.secret_ids})

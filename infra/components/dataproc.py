"""Dataproc Serverless wiring: what the DAG's batches run as, where, and encrypted with which key.

Serverless batches need no cluster: the DAG submits them (`pipeline.gcp.dataproc.batch`) with the
batch service account, the subnet and, when CMEK is on, the regional key exported here and set on
Composer (`infra.stack.dag_environment`). Pulumi creates no batch, so the policy pack checks these
values where the DAG reads them: the Composer environment's variables.

No persistent history server: runtime 3.0 batches do not support one ("The Persistent History
Server (PHS) is not supported. Instead, use the Spark UI", https://cloud.google.com/dataproc-serverless/
docs/concepts/versions/spark-runtime-3.0). A batch's Spark UI opens from its page in the console.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi


class DataprocArgs(TypedDict):
    service_account: pulumi.Input[str]
    """E-mail of the batch service account."""
    subnetwork: pulumi.Input[str]
    """Subnet (Private Google Access on) the batches run in."""
    kms_key: pulumi.Input[str] | None
    """Regional CMEK key id the batches are encrypted with, or None for Google-managed keys."""


class Dataproc(pulumi.ComponentResource):
    """Exports the batch wiring the DAG needs; owns no resource."""

    batch_service_account: pulumi.Output[str]
    subnetwork: pulumi.Output[str]
    kms_key: pulumi.Output[str]
    """Empty when the stack has no CMEK."""

    def __init__(self, name: str, args: DataprocArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:dataproc:Dataproc", name, {}, opts)
        self.batch_service_account = pulumi.Output.from_input(args["service_account"])
        self.subnetwork = pulumi.Output.from_input(args["subnetwork"])
        self.kms_key = pulumi.Output.from_input(args["kms_key"] or "")
        self.register_outputs(
            {
                "batch_service_account": self.batch_service_account,
                "subnetwork": self.subnetwork,
                "kms_key": self.kms_key,
            }
        )

"""Dataproc Serverless wiring, and an optional persistent Spark history server.

Serverless batches need no cluster: the DAG submits them with the batch service account, the
subnet and the staging bucket exported here (and set on Composer). With `history_server` on, a
single-node cluster serves the Spark UI of finished batches from the staging bucket's event logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

HISTORY_IMAGE = "2.2-debian12"
EVENT_LOG_DIR = "spark-job-history"


class DataprocArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    region: str
    """Region of the batches and of the history server."""
    service_account: pulumi.Input[str]
    """E-mail of the batch service account."""
    subnetwork: pulumi.Input[str]
    """Subnet (Private Google Access on) the batches and the history server run in."""
    staging_bucket: pulumi.Input[str]
    """Staging bucket name; event logs go under `spark-job-history/`."""
    history_server: bool
    """Create the persistent history server."""
    kms_key: pulumi.Input[str] | None
    """Regional CMEK key id for the history server disks, or None."""
    labels: Mapping[str, str]
    """Labels of the history server."""


class Dataproc(pulumi.ComponentResource):
    """Exports the batch wiring; owns the history server cluster when enabled."""

    batch_service_account: pulumi.Output[str]
    subnetwork: pulumi.Output[str]
    staging_bucket: pulumi.Output[str]
    history_server_cluster: pulumi.Output[str]

    def __init__(self, name: str, args: DataprocArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:dataproc:Dataproc", name, {}, opts)
        self.batch_service_account = pulumi.Output.from_input(args["service_account"])
        self.subnetwork = pulumi.Output.from_input(args["subnetwork"])
        self.staging_bucket = pulumi.Output.from_input(args["staging_bucket"])
        self.history_server_cluster = pulumi.Output.from_input("")
        if args["history_server"]:
            kms = args["kms_key"]
            log_dir = self.staging_bucket.apply(lambda b: f"gs://{b}/{EVENT_LOG_DIR}")
            cluster = gcp.dataproc.Cluster(
                f"{name}-history",
                name=f"{name}-history",
                project=args["project"],
                region=args["region"],
                labels=dict(args["labels"]),
                cluster_config=gcp.dataproc.ClusterClusterConfigArgs(
                    staging_bucket=args["staging_bucket"],
                    software_config=gcp.dataproc.ClusterClusterConfigSoftwareConfigArgs(
                        image_version=HISTORY_IMAGE,
                        override_properties={
                            "dataproc:dataproc.allow.zero.workers": "true",
                            "dataproc:job.history.to-gcs.enabled": "true",
                            "spark:spark.history.fs.logDirectory": log_dir,
                        },
                    ),
                    gce_cluster_config=gcp.dataproc.ClusterClusterConfigGceClusterConfigArgs(
                        subnetwork=args["subnetwork"],
                        internal_ip_only=True,
                        service_account=args["service_account"],
                        service_account_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                        shielded_instance_config=gcp.dataproc.ClusterClusterConfigGceClusterConfigShieldedInstanceConfigArgs(
                            enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
                        ),
                    ),
                    master_config=gcp.dataproc.ClusterClusterConfigMasterConfigArgs(
                        num_instances=1,
                        machine_type="n2-standard-2",
                        disk_config=gcp.dataproc.ClusterClusterConfigMasterConfigDiskConfigArgs(
                            boot_disk_type="pd-balanced", boot_disk_size_gb=50
                        ),
                    ),
                    endpoint_config=gcp.dataproc.ClusterClusterConfigEndpointConfigArgs(
                        enable_http_port_access=True
                    ),
                    encryption_config=(
                        gcp.dataproc.ClusterClusterConfigEncryptionConfigArgs(kms_key_name=kms)
                        if kms
                        else None
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.history_server_cluster = cluster.name
        self.register_outputs(
            {
                "batch_service_account": self.batch_service_account,
                "subnetwork": self.subnetwork,
                "staging_bucket": self.staging_bucket,
                "history_server_cluster": self.history_server_cluster,
            }
        )

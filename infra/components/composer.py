"""The Composer 3 environment (Airflow 3) that runs the customer_analytics DAG.

Its environment variables carry every name the DAG reads on GCP, keyed by `pipeline.config.ENV`
(see `dag_environment()` in `infra/stack.py`), and the Airflow pools the DAG's tasks name are
created in it (`pipeline.gcp`, through `infra.components.airflow_pools`): no name is typed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.components.airflow_pools import DESCRIPTION, AirflowPool
from infra.config import ComposerSettings, Workload


class ComposerArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    region: str
    """Region of the environment."""
    settings: ComposerSettings
    """Image, size, workloads and Airflow overrides from the stack config."""
    service_account: pulumi.Input[str]
    """E-mail of the environment's service account."""
    network: pulumi.Input[str]
    """VPC id the environment attaches to."""
    subnetwork: pulumi.Input[str]
    """Subnet id the environment attaches to."""
    bucket: pulumi.Input[str]
    """Name of the environment bucket (created with our guardrails in `Storage`)."""
    private: bool
    """Private IP environment with private builds only (prod)."""
    kms_key: pulumi.Input[str] | None
    """Regional CMEK key id, or None."""
    pypi_packages: Mapping[str, str]
    """PyPI packages the DAG needs (`infra.config.composer_pypi_packages()`)."""
    env_variables: Mapping[str, pulumi.Input[str]]
    """Environment variables of the Airflow components."""
    pools: Mapping[str, int]
    """Airflow pools to create in the environment: name -> slots."""
    labels: Mapping[str, str]
    """Labels of the environment."""


def _scheduler(w: Workload) -> gcp.composer.EnvironmentConfigWorkloadsConfigSchedulerArgs:
    return gcp.composer.EnvironmentConfigWorkloadsConfigSchedulerArgs(
        cpu=w.cpu, memory_gb=w.memory_gb, storage_gb=w.storage_gb, count=w.count
    )


class Composer(pulumi.ComponentResource):
    """One Composer 3 environment and its Airflow pools; outputs `airflow_uri` and `dag_gcs_prefix`."""

    environment_name: pulumi.Output[str]
    airflow_uri: pulumi.Output[str]
    dag_gcs_prefix: pulumi.Output[str]

    def __init__(self, name: str, args: ComposerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:composer:Composer", name, {}, opts)
        s = args["settings"]
        kms = args["kms_key"]
        env = gcp.composer.Environment(
            f"{name}-environment",
            name=name,
            project=args["project"],
            region=args["region"],
            labels=dict(args["labels"]),
            storage_config=gcp.composer.EnvironmentStorageConfigArgs(bucket=args["bucket"]),
            config=gcp.composer.EnvironmentConfigArgs(
                environment_size=s.environment_size,
                resilience_mode=s.resilience_mode,
                enable_private_environment=args["private"],
                enable_private_builds_only=args["private"],
                node_config=gcp.composer.EnvironmentConfigNodeConfigArgs(
                    service_account=args["service_account"],
                    network=args["network"],
                    subnetwork=args["subnetwork"],
                ),
                software_config=gcp.composer.EnvironmentConfigSoftwareConfigArgs(
                    image_version=s.image_version,
                    pypi_packages=dict(args["pypi_packages"]),
                    env_variables=dict(args["env_variables"]),
                    airflow_config_overrides=dict(s.airflow_config_overrides),
                ),
                workloads_config=gcp.composer.EnvironmentConfigWorkloadsConfigArgs(
                    scheduler=_scheduler(s.scheduler),
                    web_server=gcp.composer.EnvironmentConfigWorkloadsConfigWebServerArgs(
                        cpu=s.web_server.cpu,
                        memory_gb=s.web_server.memory_gb,
                        storage_gb=s.web_server.storage_gb,
                    ),
                    worker=gcp.composer.EnvironmentConfigWorkloadsConfigWorkerArgs(
                        cpu=s.worker.cpu,
                        memory_gb=s.worker.memory_gb,
                        storage_gb=s.worker.storage_gb,
                        min_count=s.worker.min_count,
                        max_count=s.worker.max_count,
                    ),
                    triggerer=gcp.composer.EnvironmentConfigWorkloadsConfigTriggererArgs(
                        cpu=s.triggerer.cpu, memory_gb=s.triggerer.memory_gb, count=s.triggerer.count
                    ),
                    dag_processor=gcp.composer.EnvironmentConfigWorkloadsConfigDagProcessorArgs(
                        cpu=s.dag_processor.cpu,
                        memory_gb=s.dag_processor.memory_gb,
                        storage_gb=s.dag_processor.storage_gb,
                        count=s.dag_processor.count,
                    ),
                ),
                encryption_config=(
                    gcp.composer.EnvironmentConfigEncryptionConfigArgs(kms_key_name=kms) if kms else None
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.environment_name = env.name
        self.airflow_uri = env.config.apply(lambda c: c.airflow_uri or "")
        self.dag_gcs_prefix = env.config.apply(lambda c: c.dag_gcs_prefix or "")
        for pool, slots in sorted(args["pools"].items()):
            AirflowPool(
                f"{name}-pool-{pool}",
                {"airflow_uri": self.airflow_uri, "name": pool, "slots": slots, "description": DESCRIPTION},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[env]),
            )
        self.register_outputs(
            {
                "environment_name": self.environment_name,
                "airflow_uri": self.airflow_uri,
                "dag_gcs_prefix": self.dag_gcs_prefix,
            }
        )

"""Wires the components of one stack together; `infra/__main__.py` calls `build()` and exports.

Order: services -> service agents -> identity, CI access -> encryption (prod) -> network, storage,
warehouse, connection secrets -> dataproc -> composer -> monitoring -> code deployment. Dependencies
are explicit `depends_on` on components.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pulumi

from infra import artifacts, iamdata, looker_studio
from infra.components import secrets
from infra.components.ci_access import CiAccess
from infra.components.composer import Composer
from infra.components.dataproc import Dataproc
from infra.components.deploy import CodeDeploy
from infra.components.encryption import Encryption
from infra.components.identity import Identity
from infra.components.monitoring import Monitoring
from infra.components.network import Network
from infra.components.service_agents import ServiceAgents
from infra.components.services import ProjectServices, services_for
from infra.components.storage import Storage
from infra.components.warehouse import Warehouse
from infra.config import StackConfig, composer_pypi_packages
from pipeline import names
from pipeline.config import DAG_ID, ENV
from sql import catalog

# ENV keys that are not set on Composer: the local target's folders on the laptop, how long a file
# in the local landing folder must be left alone (GCS objects appear whole), and the source
# settings file, which is uploaded into the DAG folder (`infra.artifacts.dag_artifacts`) where the
# DAG's default path finds it (tests/infra/test_infra_artifacts.py runs that lookup on the uploaded
# layout), and so are the page assets (`infra.artifacts.page_assets`, read from `PAGE_ASSETS_DIR`).
# Everything else is set on Composer.
LOCAL_ONLY_ENV = frozenset({"landing_dir", "output_dir", "sources", "landing_settle_seconds", "page_assets"})
COMPOSER_ENVIRONMENT = "cdi"


def connections(cfg: StackConfig) -> dict[str, pulumi.Output[str]]:
    """The Airflow connections this stack configures, as secret connection JSON by conn_id."""
    found: dict[str, pulumi.Output[str]] = {}
    smtp = cfg.alerts.smtp
    if smtp is not None:
        found[names.SMTP_CONN_ID] = smtp.password.apply(
            lambda password: secrets.smtp_connection(
                smtp.host, smtp.port, smtp.user, password, smtp.from_email, smtp.starttls
            )
        )
    if cfg.alerts.slack_webhook_url is not None:
        found[names.WEBHOOK_CONN_ID] = cfg.alerts.slack_webhook_url.apply(secrets.webhook_connection)
    if cfg.dashboard_refresh_url is not None:
        found[names.DASHBOARD_CONN_ID] = cfg.dashboard_refresh_url.apply(secrets.webhook_connection)
    return found


def dag_environment(
    cfg: StackConfig,
    buckets: Mapping[str, pulumi.Input[str]],
    dataproc_service_account: pulumi.Input[str],
    dataproc_subnet: pulumi.Input[str],
    dataproc_kms_key: pulumi.Input[str],
    landing_subscription: pulumi.Input[str],
    required_connections: tuple[str, ...] = (),
    looker_studio_url: str = "",
) -> dict[str, pulumi.Input[str]]:
    """Composer environment variables, named by `pipeline.config.ENV` (never typed here); the
    resource names among them are the names of the resources this stack creates.

    The batches the DAG submits are not Pulumi resources: their identity and (with CMEK) their key
    reach them only through these variables, which is where the policy pack checks them. An empty
    `dataproc_kms_key` means Google-managed keys (stacks without CMEK).
    """
    values: dict[str, pulumi.Input[str]] = {
        "target": "gcp",
        "project": cfg.project,
        "region": cfg.region,
        "landing_bucket": buckets["landing"],
        "archive_bucket": buckets["archive"],
        "quarantine_bucket": buckets["quarantine"],
        "staging_bucket": buckets["staging"],
        "artifacts_bucket": buckets["artifacts"],
        "reports_bucket": buckets["reports"],
        "dataproc_service_account": dataproc_service_account,
        "dataproc_subnet": dataproc_subnet,
        "landing_subscription": landing_subscription,
        "bq_location": cfg.data_location,
        "source_tz": cfg.pipeline.source_tz,
        "reporting_tz": cfg.pipeline.reporting_tz,
        "default_currency": cfg.pipeline.default_currency,
        "reporting_currency": cfg.pipeline.reporting_currency,
        "fx_max_gap_days": str(cfg.pipeline.fx_max_gap_days),
        "csv_delimiter": cfg.pipeline.csv_delimiter,
        "on_bad_file": cfg.pipeline.on_bad_file,
        "max_restate_days": str(cfg.pipeline.max_restate_days),
        "alert_emails": ",".join(cfg.alerts.emails),
        "dataproc_kms_key": dataproc_kms_key,
        "required_connections": ",".join(sorted(required_connections)),
        "looker_studio_url": looker_studio_url,
    }
    unknown = sorted(set(values) - set(ENV))
    if unknown:
        raise KeyError(f"pipeline.config.ENV has no keys {unknown}")
    return {ENV[key]: value for key, value in sorted(values.items())}


def build(cfg: StackConfig) -> dict[str, pulumi.Input[object]]:
    """Declare every resource of the stack; returns the stack outputs."""
    iam = iamdata.load()
    labels = dict(cfg.labels)
    report_url = looker_studio.report_url(
        project=cfg.project, stack=cfg.stack, template_report_id=cfg.looker_studio_template
    )

    services = ProjectServices("cdi-services", {"project": cfg.project, "services": services_for(cfg.cmek)})
    after_services = pulumi.ResourceOptions(depends_on=[services])
    agents = ServiceAgents("cdi-agents", {"project": cfg.project, "iam": iam, "services": services})
    identity = Identity(
        "cdi-identity",
        {
            "project": cfg.project,
            "agent_members": agents.members,
            "iam": iam,
            "state_bucket": cfg.state_bucket,
        },
        after_services,
    )
    ci_access = CiAccess(
        "cdi-ci",
        {
            "project": cfg.project,
            "github_repository": cfg.github_repository,
            "preview_account": identity.names["ci_preview"],
            "deploy_account": identity.names["ci"],
        },
        pulumi.ResourceOptions(depends_on=[services, identity]),
    )
    encryption = (
        Encryption(
            "cdi-cmek",
            {
                "project": cfg.project,
                "data_location": cfg.kms_data_location,
                "region": cfg.region,
                "labels": labels,
                "iam": iam,
                "members": identity.members,
                "prevent_destroy": cfg.deletion_protection,
            },
            pulumi.ResourceOptions(depends_on=[services, identity]),
        )
        if cfg.cmek
        else None
    )
    after_keys = pulumi.ResourceOptions(
        depends_on=[services, identity, *([encryption] if encryption else [])]
    )
    network = Network(
        "cdi-net",
        {"project": cfg.project, "region": cfg.region, "subnet_cidr": cfg.subnet_cidr},
        after_services,
    )
    storage = Storage(
        "cdi-storage",
        {
            "project": cfg.project,
            "prefix": cfg.project,
            "data_location": cfg.data_location,
            "region": cfg.region,
            "labels": labels,
            "retention": cfg.retention,
            "kms_keys": encryption.key_ids if encryption else None,
            "deletion_protection": cfg.deletion_protection,
            "iam": iam,
            "members": identity.members,
            "report_readers": cfg.dashboard_readers,
        },
        after_keys,
    )
    warehouse = Warehouse(
        "cdi-warehouse",
        {
            "project": cfg.project,
            "location": cfg.data_location,
            "datasets": catalog.DATASETS,
            "tables": catalog.tables(),
            "labels": labels,
            "kms_key": encryption.key_ids["data"] if encryption else None,
            "deletion_protection": cfg.deletion_protection,
            "time_travel_hours": cfg.retention.bq_time_travel_hours,
            "iam": iam,
            "members": identity.members,
        },
        after_keys,
    )
    dataproc = Dataproc(
        "cdi-dataproc",
        {
            "service_account": identity.emails["dataproc"],
            "subnetwork": network.subnet_self_link,
            "kms_key": encryption.key_ids["regional"] if encryption else None,
        },
        pulumi.ResourceOptions(depends_on=[identity, network]),
    )
    connection_secrets = secrets.ConnectionSecrets(
        "cdi-connections",
        {
            "project": cfg.project,
            "region": cfg.region,
            "connections": connections(cfg),
            "iam": iam,
            "members": identity.members,
            "kms_key": encryption.key_ids["regional"] if encryption else None,
            "labels": labels,
        },
        after_keys,
    )
    composer_settings = dataclasses.replace(
        cfg.composer,
        airflow_config_overrides={
            **cfg.composer.airflow_config_overrides,
            **secrets.airflow_overrides(cfg.project),
        },
    )
    composer = Composer(
        COMPOSER_ENVIRONMENT,
        {
            "project": cfg.project,
            "region": cfg.region,
            "settings": composer_settings,
            "service_account": identity.emails["composer"],
            "network": network.network_id,
            "subnetwork": network.subnet_id,
            "bucket": storage.bucket_names["composer"],
            "private": cfg.private_networking,
            "kms_key": encryption.key_ids["regional"] if encryption else None,
            "pypi_packages": composer_pypi_packages(),
            "env_variables": dag_environment(
                cfg,
                storage.bucket_names,
                dataproc.batch_service_account,
                dataproc.subnetwork,
                dataproc.kms_key,
                storage.subscription_names["landing_arrivals"],
                tuple(connection_secrets.connection_ids),
                report_url,
            ),
            "pools": names.POOLS,
            "labels": labels,
        },
        pulumi.ResourceOptions(
            depends_on=[identity, storage, warehouse, network, dataproc, connection_secrets]
        ),
    )
    Monitoring(
        "cdi-monitoring",
        {
            "project": cfg.project,
            "environment_name": COMPOSER_ENVIRONMENT,
            "dag_id": DAG_ID,
            "emails": cfg.alerts.emails,
            "slack_channel": cfg.alerts.slack_channel,
            "slack_token": cfg.alerts.slack_token,
            "freshness_hours": cfg.alerts.freshness_hours,
            "labels": labels,
        },
        after_services,
    )
    deploy = CodeDeploy(
        "cdi-deploy",
        {
            "composer_bucket": storage.bucket_names["composer"],
            "artifacts_bucket": storage.bucket_names["artifacts"],
            "dag_files": [*artifacts.dag_artifacts(), *artifacts.page_assets()],
            "spark_files": artifacts.spark_artifacts(cfg.spark_dist_dir),
        },
        pulumi.ResourceOptions(depends_on=[storage]),
    )

    return {
        "project": cfg.project,
        "looker_studio_url": report_url,
        "buckets": storage.bucket_names,
        "landing_topic": storage.topic_ids["landing_events"],
        "landing_subscription": storage.subscription_ids["landing_arrivals"],
        "datasets": warehouse.dataset_ids,
        "service_accounts": identity.emails,
        "workload_identity_provider": ci_access.workload_identity_provider,
        "ci_identities": {"preview": identity.emails["ci_preview"], "deploy": identity.emails["ci"]},
        "connection_secrets": connection_secrets.secret_ids,
        "alerts_opt_out": cfg.alerts.opt_out,
        "composer_environment": composer.environment_name,
        "composer_bucket": storage.bucket_names["composer"],
        "airflow_uri": composer.airflow_uri,
        "dag_gcs_prefix": composer.dag_gcs_prefix,
        "dag_folder": deploy.dag_folder,
        "spark_job_uri": deploy.spark_job_uri,
        "dataproc_subnet": network.subnet_self_link,
        "dataproc_kms_key": dataproc.kms_key,
        "kms_keys": encryption.key_ids if encryption else {},
    }

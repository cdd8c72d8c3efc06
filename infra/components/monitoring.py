"""Notification channels and alert policies: failed DAG runs, failed Dataproc batches, data freshness."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

FAILED_BATCH_METRIC = "cdi_dataproc_batch_failures"
# The last audit-log entry of a CreateBatch long-running operation carries the batch's final
# status; severity ERROR means the batch failed (or was cancelled).
FAILED_BATCH_FILTER = (
    'resource.type="cloud_dataproc_batch" '
    'AND protoPayload.methodName="google.cloud.dataproc.v1.BatchController.CreateBatch" '
    "AND operation.last=true AND severity>=ERROR"
)


def failed_runs_filter(environment: str, dag_id: str) -> str:
    return (
        'resource.type="cloud_composer_workflow" '
        'AND metric.type="composer.googleapis.com/workflow/run_count" '
        f'AND resource.labels.environment_name="{environment}" '
        f'AND resource.labels.workflow_name="{dag_id}" AND metric.labels.state="failed"'
    )


def freshness_query(environment: str, dag_id: str, hours: int) -> str:
    """PromQL: true when the DAG has had no successful run for `hours` hours."""
    selector = (
        '{monitored_resource="cloud_composer_workflow",'
        f'environment_name="{environment}",workflow_name="{dag_id}",state="success"}}'
    )
    return f"absent_over_time(composer_googleapis_com:workflow_run_count{selector}[{hours}h])"


class MonitoringArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    environment_name: str
    """Composer environment whose DAG runs are watched."""
    dag_id: str
    """The DAG id (`pipeline.config.DAG_ID`)."""
    emails: Sequence[str]
    """Alert recipients; one e-mail channel each."""
    slack_channel: str
    """Slack channel name, or empty for no Slack channel."""
    slack_token: pulumi.Input[str] | None
    """Slack app OAuth token (a stack secret), when `slack_channel` is set."""
    freshness_hours: int
    """Alert when no successful run happened for this many hours."""
    labels: Mapping[str, str]
    """User labels of channels and policies."""


class Monitoring(pulumi.ComponentResource):
    """Channels plus three alert policies; `channel_ids` are the channels' resource names."""

    channel_ids: pulumi.Output[list[str]]
    policy_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:monitoring:Monitoring", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        project, labels = args["project"], dict(args["labels"])
        channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{index}",
                project=project,
                display_name=f"CDI alerts: {email}",
                type="email",
                labels={"email_address": email},
                user_labels=labels,
                opts=child,
            )
            for index, email in enumerate(args["emails"])
        ]
        if args["slack_channel"]:
            if args["slack_token"] is None:
                raise ValueError("slack_channel is set but slack_token is missing")
            channels.append(
                gcp.monitoring.NotificationChannel(
                    f"{name}-slack",
                    project=project,
                    display_name=f"CDI alerts: Slack {args['slack_channel']}",
                    type="slack",
                    labels={"channel_name": args["slack_channel"]},
                    sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(
                        auth_token=args["slack_token"]
                    ),
                    user_labels=labels,
                    opts=child,
                )
            )
        channel_ids = [c.id for c in channels]

        batch_metric = gcp.logging.Metric(
            f"{name}-batch-failures",
            project=project,
            name=FAILED_BATCH_METRIC,
            description="Dataproc Serverless batches of the pipeline that ended in error",
            filter=FAILED_BATCH_FILTER,
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                labels=[gcp.logging.MetricMetricDescriptorLabelArgs(key="batch_id", value_type="STRING")],
            ),
            label_extractors={"batch_id": "EXTRACT(resource.labels.batch_id)"},
            opts=child,
        )
        env, dag_id = args["environment_name"], args["dag_id"]
        where = labels.get("env", env)

        def policy(
            key: str,
            display: str,
            condition: gcp.monitoring.AlertPolicyConditionArgs,
            doc: str,
            depends_on: list[pulumi.Resource] | None = None,
        ) -> gcp.monitoring.AlertPolicy:
            return gcp.monitoring.AlertPolicy(
                f"{name}-{key}",
                project=project,
                display_name=display,
                combiner="OR",
                severity="ERROR",
                conditions=[condition],
                notification_channels=channel_ids,
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=doc, mime_type="text/markdown"
                ),
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="86400s"),
                user_labels=labels,
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
            )

        sum_5m = [
            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                alignment_period="300s", per_series_aligner="ALIGN_SUM", cross_series_reducer="REDUCE_SUM"
            )
        ]
        policies = [
            policy(
                "dag-run-failed",
                f"CDI: {dag_id} DAG run failed ({where})",
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="failed DAG runs > 0",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=failed_runs_filter(env, dag_id),
                        comparison="COMPARISON_GT",
                        threshold_value=0,
                        duration="0s",
                        aggregations=sum_5m,
                    ),
                ),
                f"A run of `{dag_id}` failed. Open the Airflow UI, read the failed task's log; the "
                "`report` task recorded the run in `audit.pipeline_runs`.",
            ),
            policy(
                "batch-failed",
                f"CDI: Dataproc batch failed ({where})",
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="failed Dataproc batches > 0",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=f'metric.type="logging.googleapis.com/user/{FAILED_BATCH_METRIC}" '
                        'AND resource.type="cloud_dataproc_batch"',
                        comparison="COMPARISON_GT",
                        threshold_value=0,
                        duration="0s",
                        aggregations=sum_5m,
                    ),
                ),
                "A Dataproc Serverless batch of the cleaning job failed. `gcloud dataproc batches describe "
                "BATCH_ID` gives the reason; the DAG task retries it.",
                depends_on=[batch_metric],
            ),
            policy(
                "data-freshness",
                f"CDI: no successful {dag_id} run for {args['freshness_hours']}h ({where})",
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"no successful run in {args['freshness_hours']}h",
                    condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
                        query=freshness_query(env, dag_id, args["freshness_hours"]),
                        duration="0s",
                        evaluation_interval="300s",
                    ),
                ),
                f"Gold data is stale: `{dag_id}` has not succeeded for {args['freshness_hours']} hours. "
                "Check for paused DAGs, failing runs or missing landing files.",
            ),
        ]
        self.channel_ids = pulumi.Output.all(*channel_ids)
        self.policy_ids = pulumi.Output.all(*[p.id for p in policies])
        self.register_outputs({"channel_ids": self.channel_ids, "policy_ids": self.policy_ids})

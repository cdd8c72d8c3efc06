"""Buckets (landing, archive, quarantine, staging, artifacts, reports, composer) and the file-arrival topic.

Every bucket: uniform bucket-level access, public access prevention enforced, labels, versioning
where objects can be overwritten, lifecycle rules, and the CMEK key when one is given. The landing
bucket publishes OBJECT_FINALIZE notifications to a Pub/Sub topic with a pull subscription the DAG
can wait on. Bucket-, topic- and subscription-level IAM comes from `iam/bindings.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.config import Retention
from infra.iamdata import IamData


@dataclass(frozen=True)
class BucketSpec:
    key: str
    purpose: str
    versioned: bool
    regional: bool
    """In the compute region (next to Composer and Dataproc) rather than the data location."""


BUCKETS = (
    BucketSpec("landing", "Raw files as delivered; the DAG claims and archives them", True, False),
    BucketSpec("archive", "Processed raw files, tiered to colder storage with age", True, False),
    BucketSpec("quarantine", "Rejected rows and files with their reason", True, False),
    BucketSpec("staging", "Dataproc Serverless staging and the cleaned Parquet before BigQuery", False, True),
    BucketSpec("artifacts", "Packaged PySpark job", True, True),
    # Private: people open the pages at their authenticated browser URL (pipeline/gcp/pages.py).
    BucketSpec("reports", "The dashboard, run-health page and data docs `publish` writes", True, False),
    BucketSpec("composer", "The Composer environment's bucket (dags/, data/, logs/)", True, True),
)
TOPICS = ("landing_events",)
SUBSCRIPTIONS = ("landing_arrivals",)


def bucket_name(prefix: str, key: str) -> str:
    """Globally unique and stable: the project id is globally unique."""
    return f"{prefix}-{key}"


def _lifecycle(spec: BucketSpec, retention: Retention) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    def rule(
        action: str, storage_class: str | None = None, **condition: object
    ) -> gcp.storage.BucketLifecycleRuleArgs:
        return gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type=action, storage_class=storage_class),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(**condition),  # type: ignore[arg-type]
        )

    rules: list[gcp.storage.BucketLifecycleRuleArgs] = []
    if spec.key == "archive":
        rules += [
            rule(
                "SetStorageClass",
                "NEARLINE",
                age=retention.archive_nearline_days,
                matches_storage_classes=["STANDARD"],
            ),
            rule(
                "SetStorageClass",
                "COLDLINE",
                age=retention.archive_coldline_days,
                matches_storage_classes=["NEARLINE"],
            ),
            rule(
                "SetStorageClass",
                "ARCHIVE",
                age=retention.archive_archive_days,
                matches_storage_classes=["COLDLINE"],
            ),
        ]
    if spec.key == "staging":
        rules.append(rule("Delete", age=retention.staging_expiry_days))
    if spec.key == "quarantine":
        rules.append(rule("Delete", age=retention.quarantine_expiry_days))
    if spec.versioned:
        rules.append(
            rule(
                "Delete", days_since_noncurrent_time=retention.noncurrent_version_days, with_state="ARCHIVED"
            )
        )
    return rules


class StorageArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    prefix: str
    """Bucket name prefix (the project id)."""
    data_location: str
    """Location of the data buckets, e.g. `EU`."""
    region: str
    """Location of the regional buckets and of Pub/Sub message storage."""
    labels: Mapping[str, str]
    """Labels of every bucket, topic and subscription."""
    retention: Retention
    """Lifecycle ages."""
    kms_keys: Mapping[str, pulumi.Input[str]] | None
    """`data` / `regional` CMEK key ids, or None for Google-managed keys."""
    deletion_protection: bool
    """Refuse to delete buckets (and their objects) on destroy."""
    iam: IamData
    """The parsed IAM data file."""
    members: Mapping[str, pulumi.Input[str]]
    """Member key -> IAM member string (from `Identity.members`)."""
    report_readers: Sequence[str]
    """People who may open the pages in the reports bucket (`cdi:dashboardReaders`)."""


class Storage(pulumi.ComponentResource):
    """All buckets plus the landing file-arrival notification."""

    bucket_names: dict[str, pulumi.Output[str]]
    topic_ids: dict[str, pulumi.Output[str]]
    subscription_ids: dict[str, pulumi.Output[str]]
    subscription_names: dict[str, pulumi.Output[str]]
    """Short names (what a subscriber names in the project, e.g. the DAG's `CDI_LANDING_SUBSCRIPTION`)."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:storage:Storage", name, {}, opts)
        protect = args["deletion_protection"]
        kms = args["kms_keys"]
        labels = dict(args["labels"])
        buckets: dict[str, gcp.storage.Bucket] = {}
        for spec in BUCKETS:
            key_id = kms["regional" if spec.regional else "data"] if kms else None
            buckets[spec.key] = gcp.storage.Bucket(
                f"{name}-{spec.key}",
                name=bucket_name(args["prefix"], spec.key),
                project=args["project"],
                location=args["region"] if spec.regional else args["data_location"],
                storage_class="STANDARD",
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                versioning=gcp.storage.BucketVersioningArgs(enabled=spec.versioned),
                lifecycle_rules=_lifecycle(spec, args["retention"]),
                encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key_id) if key_id else None,
                labels={**labels, "purpose": spec.key},
                force_destroy=not protect,
                deletion_policy="PREVENT" if protect else "DELETE",
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )

        topics = {
            key: gcp.pubsub.Topic(
                f"{name}-{key.replace('_', '-')}",
                name=f"{args['prefix']}-{key.replace('_', '-')}",
                project=args["project"],
                labels=labels,
                kms_key_name=kms["regional"] if kms else None,
                message_retention_duration=args["retention"].landing_message_retention,
                message_storage_policy=gcp.pubsub.TopicMessageStoragePolicyArgs(
                    allowed_persistence_regions=[args["region"]]
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key in TOPICS
        }
        subscriptions = {
            "landing_arrivals": gcp.pubsub.Subscription(
                f"{name}-landing-arrivals",
                name=f"{args['prefix']}-landing-arrivals",
                project=args["project"],
                topic=topics["landing_events"].id,
                labels=labels,
                ack_deadline_seconds=60,
                message_retention_duration=args["retention"].landing_message_retention,
                expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
                opts=pulumi.ResourceOptions(parent=self),
            )
        }

        data, members = args["iam"], args["members"]
        publishers: list[pulumi.Resource] = []
        for binding in data.bindings_for("bucket"):
            gcp.storage.BucketIAMMember(
                f"{name}-{binding.slug}",
                bucket=buckets[binding.target].name,
                role=binding.role,
                member=members[binding.member],
                opts=pulumi.ResourceOptions(parent=self),
            )
        # The people who open the dashboard: read-only, on the reports bucket only. Viewing an object
        # at its authenticated browser URL needs storage.objects.get (roles/storage.objectViewer):
        # https://cloud.google.com/storage/docs/access-control/cookie-based-authentication
        for reader in args["report_readers"]:
            slug = re.sub(r"[^a-z0-9]+", "-", reader.lower()).strip("-")
            gcp.storage.BucketIAMMember(
                f"{name}-reports-reader-{slug}",
                bucket=buckets["reports"].name,
                role="roles/storage.objectViewer",
                member=reader,
                opts=pulumi.ResourceOptions(parent=self),
            )
        for binding in data.bindings_for("topic"):
            publishers.append(
                gcp.pubsub.TopicIAMMember(
                    f"{name}-{binding.slug}",
                    project=args["project"],
                    topic=topics[binding.target].name,
                    role=binding.role,
                    member=members[binding.member],
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        for binding in data.bindings_for("subscription"):
            gcp.pubsub.SubscriptionIAMMember(
                f"{name}-{binding.slug}",
                project=args["project"],
                subscription=subscriptions[binding.target].name,
                role=binding.role,
                member=members[binding.member],
                opts=pulumi.ResourceOptions(parent=self),
            )

        # File arrival: the storage service agent may publish only once its binding exists.
        gcp.storage.Notification(
            f"{name}-landing-notification",
            bucket=buckets["landing"].name,
            topic=topics["landing_events"].id,
            payload_format="JSON_API_V1",
            event_types=["OBJECT_FINALIZE"],
            custom_attributes={"pipeline": "customer_analytics"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=publishers),
        )

        self.bucket_names = {key: bucket.name for key, bucket in buckets.items()}
        self.topic_ids = {key: topic.id for key, topic in topics.items()}
        self.subscription_ids = {key: sub.id for key, sub in subscriptions.items()}
        self.subscription_names = {key: sub.name for key, sub in subscriptions.items()}
        self.register_outputs(
            {
                "bucket_names": self.bucket_names,
                "topic_ids": self.topic_ids,
                "subscription_ids": self.subscription_ids,
                "subscription_names": self.subscription_names,
            }
        )

"""When the gcp DAG runs: daily, and when a file lands (`pipeline.schedule`).

The landing bucket publishes OBJECT_FINALIZE notifications to a Pub/Sub topic (infra); the
triggerer pulls the subscription infra created on it (named by `CDI_LANDING_SUBSCRIPTION`, set on
Composer by `infra.stack.dag_environment`) through an `AssetWatcher` and each message batch updates the
landing asset, which queues a run. The first run moves the files out of landing
(`pipeline.gcp.storage`), so a daily run after it claims nothing.
Freshness promise: a Deadline Alert when a run is not done within `FRESHNESS` of being queued.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger
from airflow.sdk import (  # type: ignore[attr-defined]  # lazily exported, missing from the stub
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    AsyncCallback,
    DeadlineAlert,
    DeadlineReference,
)

from pipeline.config import Settings
from pipeline.gcp import GCP_CONN_ID
from pipeline.schedule import LANDING_ASSET, asset_or_daily

FRESHNESS = timedelta(hours=4)
"""A run is done within this time of being queued (the dashboards' freshness promise)."""


def landing_asset(settings: Settings) -> Asset:
    """The landing bucket as an asset, updated by each Pub/Sub message batch."""
    trigger = PubsubPullTrigger(
        project_id=settings.project,
        subscription=settings.landing_subscription or "landing-subscription-unset",
        max_messages=100,
        ack_messages=True,
        gcp_conn_id=GCP_CONN_ID,
        poke_interval=30.0,
        return_immediately=False,
    )
    return Asset(
        name=LANDING_ASSET,
        uri=f"gs://{settings.landing_bucket or 'landing-bucket-unset'}/",
        watchers=[AssetWatcher(name="landing_object_finalized", trigger=trigger)],
    )


def schedule(settings: Settings) -> AssetOrTimeSchedule:
    return asset_or_daily(landing_asset(settings))


def freshness_deadline() -> DeadlineAlert:
    from pipeline.notify import LateRunNotifier

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=FRESHNESS,
        callback=AsyncCallback(
            LateRunNotifier, kwargs={"promise": f"done within {FRESHNESS} of being queued"}
        ),
    )

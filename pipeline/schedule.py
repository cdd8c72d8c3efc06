"""When the DAG runs, on both targets: daily, and as soon as a file lands (Airflow 3 event-driven
scheduling, an asset-or-time schedule).

Each target watches its own landing area through an `AssetWatcher` on the same landing asset: on
GCP a trigger pulls the landing bucket's Pub/Sub notifications (`pipeline.gcp.schedule`); locally,
under `cdi ui`, a trigger watches the landing folder (`pipeline.landing_watch`). The daily run
still comes when no file did. Both may fire for the same files: runs never overlap
(max_active_runs=1) and a file is claimed once (`pipeline.claim`, `pipeline.gcp.storage`), so the
second run claims nothing and processes nothing twice.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable

DAILY_CRON = "0 2 * * *"
"""02:00 UTC: after the upstream systems' nightly exports."""

LANDING_ASSET = "customer_analytics_landing"
"""The landing area as an asset: every file-arrival event of either target updates it."""


def asset_or_daily(landing: Asset) -> AssetOrTimeSchedule:
    """A run each day at `DAILY_CRON`, and one whenever the landing asset is updated."""
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(DAILY_CRON, timezone="UTC"),
        assets=landing,
    )

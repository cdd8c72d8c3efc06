"""File arrival on the local target: a trigger that watches the landing folder, the local twin of
the Pub/Sub watcher on GCP (`pipeline.gcp.schedule`).

Under `cdi ui` the triggerer runs `LandingFolderTrigger` as the landing asset's watcher; each batch
of new files it sees updates the asset, which queues a run (`pipeline.schedule`). A file counts
once it is settled: the same size and modification time on two polls, and not modified for
`settle_seconds` (`pipeline.landing.settled`, the rule the claim applies too), so a file still
being copied in starts no run and is not claimed half-way.

The trigger remembers what it announced in a small JSON file under the output folder, so a
restarted `cdi ui` does not announce the same files again; a changed file (new size or time) is
announced again. What a run processes is still decided by the claims (`pipeline.claim`), not by
this memory: an announced file that a daily run claimed first makes a run that claims nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from pipeline.config import Settings
from pipeline.landing import landing_files, settled
from pipeline.schedule import LANDING_ASSET

Fingerprint = tuple[int, int]
"""(size in bytes, modification time in ns): what tells one version of a file from another."""

POLL_SECONDS = 1.0
WATCH_STATE_FILE = "landing-watch.json"
"""Under the Airflow home: the files announced so far, with their fingerprints."""


def snapshot(landing: Path) -> dict[str, Fingerprint]:
    """The landing folder's files (the ones a claim would consider) and their fingerprints."""
    found: dict[str, Fingerprint] = {}
    for _, path in landing_files(landing):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between the listing and here
            continue
        found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def ready(
    previous: dict[str, Fingerprint],
    current: dict[str, Fingerprint],
    announced: dict[str, Fingerprint],
    *,
    now: float,
    settle_seconds: float,
) -> dict[str, Fingerprint]:
    """The files to announce: unchanged since the previous poll, settled, and not announced in
    this version. Pure, so the rule is tested without a folder or a clock."""
    return {
        path: fingerprint
        for path, fingerprint in current.items()
        if previous.get(path) == fingerprint
        and settled(fingerprint[1] / 1e9, now, settle_seconds)
        and announced.get(path) != fingerprint
    }


def _load(state: Path) -> dict[str, Fingerprint]:
    try:
        raw = json.loads(state.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {path: (int(size), int(mtime)) for path, (size, mtime) in raw.items()}


def _save(state: Path, announced: dict[str, Fingerprint]) -> None:
    """Written whole and renamed into place: a triggerer stopped mid-write leaves the old file."""
    partial = state.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(announced, sort_keys=True), encoding="utf-8")
    partial.replace(state)


class LandingFolderTrigger(BaseEventTrigger):
    """Fires an event for each batch of new settled files in a local landing folder, and keeps
    watching (one long-lived watcher, like the Pub/Sub pull trigger)."""

    def __init__(
        self,
        *,
        landing_dir: str,
        state_file: str,
        settle_seconds: float,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__()
        self.landing_dir = landing_dir
        self.state_file = state_file
        self.settle_seconds = settle_seconds
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "landing_dir": self.landing_dir,
                "state_file": self.state_file,
                "settle_seconds": self.settle_seconds,
                "poll_seconds": self.poll_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        landing, state = Path(self.landing_dir), Path(self.state_file)
        announced = await asyncio.to_thread(_load, state)
        previous: dict[str, Fingerprint] = {}
        while True:
            current = await asyncio.to_thread(snapshot, landing)
            new = ready(previous, current, announced, now=time.time(), settle_seconds=self.settle_seconds)
            if new:
                announced.update(new)
                await asyncio.to_thread(_save, state, announced)
                self.log.info("%d new file(s) in %s: %s", len(new), landing, ", ".join(sorted(new)))
                yield TriggerEvent({"files": sorted(new)})
            previous = current
            await asyncio.sleep(self.poll_seconds)


def landing_asset(settings: Settings) -> Asset:
    """The landing folder as the landing asset, watched by `LandingFolderTrigger`."""
    trigger = LandingFolderTrigger(
        landing_dir=str(settings.landing_dir),
        state_file=str(settings.airflow_home / WATCH_STATE_FILE),
        settle_seconds=settings.landing_settle_seconds,
    )
    return Asset(
        name=LANDING_ASSET,
        uri=settings.landing_dir.as_uri(),
        watchers=[AssetWatcher(name="landing_file_settled", trigger=trigger)],
    )

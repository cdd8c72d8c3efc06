"""What counts as a landed file in a local landing folder: the one rule the claim
(`pipeline.claim`) and the file-arrival trigger (`pipeline.landing_watch`) share. Kept free of
DuckDB and Spark: the trigger runs in the triggerer and the DAG file imports it at parse time."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pipeline.config import ENTITIES

log = logging.getLogger(__name__)


def settled(modified: float, now: float, settle_seconds: float) -> bool:
    """Whether a file last modified at `modified` (epoch seconds) is done being written: nothing
    wrote to it for `settle_seconds`. A local folder has no equivalent of GCS's atomic object
    finalize, so a file copied in slowly would otherwise be read half-way."""
    return now - modified >= settle_seconds


def landing_files(landing: Path, settle_seconds: float = 0.0) -> list[tuple[str, Path]]:
    """Every settled file under `landing/<entity>/`, in a stable order (entity, then path).
    Hidden files (a copy tool's temporary names) and files still being written are left out."""
    found: list[tuple[str, Path]] = []
    now = time.time()
    for entity in ENTITIES:
        folder = landing / entity
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.name.startswith("."):
                log.info("ignoring hidden file %s", path)
                continue
            if settle_seconds and not settled(path.stat().st_mtime, now, settle_seconds):
                log.info("%s was modified less than %s s ago; left for the next run", path, settle_seconds)
                continue
            found.append((entity, path))
    return found

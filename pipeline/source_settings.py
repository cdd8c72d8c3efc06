"""The source settings file (`sources.yaml`, `spark.sources`) as the pipeline uses it, the same way
on both targets: validated before a run does anything, then resolved per claimed file and handed
to the Spark job with the file.

On GCP the file is uploaded with the DAG (`infra.artifacts.dag_artifacts`) and read from the DAG
folder, where `Settings.sources_path` points by default, exactly as locally.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pipeline.config import Settings
from spark.sources import Sources, SourceSettings, load


def defaults(settings: Settings) -> SourceSettings:
    """What a file gets when `sources.yaml` says nothing of it: the environment's settings."""
    return SourceSettings(
        delimiter=settings.csv_delimiter,
        source_tz=settings.source_tz,
        default_currency=settings.default_currency,
    )


def load_sources(settings: Settings) -> Sources:
    """The validated settings file (`SourcesError` names the file, key and allowed values)."""
    return load(settings.sources_path, defaults=defaults(settings))


def relative_name(entity: str, source_file: str) -> str:
    """A landing file's path under its entity's folder (what the `files` globs match):
    `/landing/transactions/2025/pos_1.csv` and `gs://bucket/transactions/2025/pos_1.csv` both give
    `2025/pos_1.csv`."""
    parts = PurePosixPath(source_file.replace("\\", "/")).parts
    if entity in parts:
        at = len(parts) - 1 - parts[::-1].index(entity)
        if at < len(parts) - 1:
            return "/".join(parts[at + 1 :])
    return parts[-1] if parts else source_file


def settings_for(sources: Sources, entity: str, source_file: str) -> SourceSettings:
    return sources.for_file(entity, relative_name(entity, source_file))

"""Claiming and archiving landing objects on GCS: the gcp twin of `pipeline.claim`.

A claimed object is moved out of the landing bucket into the run's prefix of the archive bucket,
`gs://<archive>/runs/<run_key>/<entity>/<name>`, before anything reads it:

- a file is processed once: after the move it is no longer in landing, so a second run (the daily
  schedule and the file-arrival event both firing) finds nothing to claim; runs never overlap
  (max_active_runs=1), and the move is guarded by generation preconditions besides;
- a rerun of a run reprocesses exactly its own files: when the run's prefix already holds files, the
  claim returns those and leaves newer arrivals in landing for the next run;
- a crash between copy and delete loses nothing: the copy exists, and the landing object is removed
  on the next claim of the same run.

`archive_files` marks the run's files processed with a manifest beside them (`_manifest.json`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pipeline.config import ENTITIES

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"


def split_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/a/b` -> (`bucket`, `a/b`)."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, name = uri[len("gs://") :].partition("/")
    return bucket, name


def run_prefix(run_key: str) -> str:
    return f"runs/{run_key}/"


def _claim(
    entity: str, landing_bucket: str, name: str, archive_bucket: str, archived: str, blob: Any
) -> dict[str, Any]:
    return {
        "entity": entity,
        "source_file": f"gs://{landing_bucket}/{name}",
        "archive_path": f"gs://{archive_bucket}/{archived}",
        "content_md5": blob.md5_hash or "",
        "size_bytes": int(blob.size or 0),
    }


def _is_data_object(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return bool(base) and not base.startswith((".", "_"))


def claim_objects(
    client: Any, *, landing_bucket: str, archive_bucket: str, run_key: str
) -> list[dict[str, Any]]:
    """Move every new landing object into the run's archive prefix (or return the run's earlier claims).

    `client` is a `google.cloud.storage.Client` (from `GCSHook.get_conn()`).
    """
    from google.api_core.exceptions import NotFound, PreconditionFailed

    prefix = run_prefix(run_key)
    landing = client.bucket(landing_bucket)
    archive = client.bucket(archive_bucket)
    mine = [b for b in client.list_blobs(archive_bucket, prefix=prefix) if _is_data_object(b.name)]
    if mine:
        claims = []
        for blob in sorted(mine, key=lambda b: b.name):
            name = blob.name[len(prefix) :]
            entity = name.split("/", 1)[0]
            if entity in ENTITIES:
                claims.append(_claim(entity, landing_bucket, name, archive_bucket, blob.name, blob))
                # A crash between copy and delete left the landing object: remove it now.
                leftover = landing.get_blob(name)
                if leftover is not None and leftover.md5_hash == blob.md5_hash:
                    leftover.delete(if_generation_match=leftover.generation)
        log.info(
            "rerun of %s: its %d claimed file(s), new arrivals wait for the next run", run_key, len(claims)
        )
        return claims
    claims = []
    for entity in ENTITIES:
        for blob in sorted(client.list_blobs(landing_bucket, prefix=f"{entity}/"), key=lambda b: b.name):
            if not _is_data_object(blob.name):
                continue
            target = prefix + blob.name
            try:
                copied = landing.copy_blob(
                    blob,
                    archive,
                    target,
                    if_generation_match=0,
                    if_source_generation_match=blob.generation,
                )
            except PreconditionFailed:
                log.info("%s already claimed or replaced meanwhile: left for the next run", blob.name)
                continue
            try:
                blob.delete(if_generation_match=blob.generation)
            except (NotFound, PreconditionFailed):
                # Someone else took or replaced it after our copy: give the copy back up.
                archive.blob(target).delete()
                continue
            claims.append(_claim(entity, landing_bucket, blob.name, archive_bucket, target, copied))
    return claims


def write_manifest(
    client: Any, *, archive_bucket: str, run_key: str, run_id: str, claims: list[dict[str, Any]]
) -> int:
    """Mark the run's claimed files processed: `runs/<run_key>/_manifest.json`."""
    body = {"run_id": run_id, "status": "processed", "files": claims}
    blob = client.bucket(archive_bucket).blob(run_prefix(run_key) + MANIFEST)
    blob.upload_from_string(json.dumps(body, indent=2, sort_keys=True), content_type="application/json")
    return len(claims)


def upload_json(client: Any, uri: str, body: Any) -> str:
    bucket, name = split_uri(uri)
    client.bucket(bucket).blob(name).upload_from_string(
        json.dumps(body, indent=2, sort_keys=True, default=str), content_type="application/json"
    )
    return uri

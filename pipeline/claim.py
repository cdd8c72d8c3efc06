"""Claiming landing files for a run on the local target.

The landing folder is the user's and is never modified: a claimed file is copied into
`OUTPUT/archive/<run>/<entity>/...` and remembered in `audit.processed_files` by path and content
hash, so one landing folder can feed several outputs, a file is processed once per output, and a
rerun of a run reprocesses exactly the files it claimed.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipeline.config import ENTITIES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    entity: str
    source_file: str
    """The landing path as the user gave it (lineage in silver and quarantine)."""
    archive_path: str
    """The immutable copy the run reads."""
    content_sha256: str
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def landing_files(landing: Path) -> list[tuple[str, Path]]:
    """Every file under `landing/<entity>/`, in a stable order (entity, then path)."""
    found: list[tuple[str, Path]] = []
    for entity in ENTITIES:
        folder = landing / entity
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.name.startswith("."):
                log.info("ignoring hidden file %s", path)
                continue
            found.append((entity, path))
    return found


def claim_files(
    con: duckdb.DuckDBPyConnection, *, landing: Path, archive_dir: Path, run_id: str, run_key: str
) -> list[Claim]:
    """Claim every landed file not yet processed into this run (or return this run's claims on a rerun)."""
    rows = con.execute(
        "SELECT source_file, content_sha256, status, run_id FROM audit.processed_files"
    ).fetchall()
    status = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    mine = [key for key, (_, owner) in status.items() if owner == run_id]
    claims: list[Claim] = []
    for entity, path in landing_files(landing):
        source_file = str(path.resolve())
        digest = sha256_file(path)
        previous = status.get((source_file, digest))
        if previous is not None and previous[0] == "processed" and previous[1] != run_id:
            continue
        if mine and previous is None:
            # A rerun reprocesses exactly its own files; newer arrivals wait for the next run.
            continue
        target = archive_dir / run_key / entity / path.relative_to(landing / entity)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or sha256_file(target) != digest:
            shutil.copy2(path, target)
        claims.append(Claim(entity, source_file, str(target), digest, path.stat().st_size))
    con.execute("BEGIN TRANSACTION")
    for claim in claims:
        previous = status.get((claim.source_file, claim.content_sha256))
        if previous is not None and previous[1] != run_id:
            # Taken over from a run that died before archiving: forget what it recorded for the
            # file, so the figures count the file once (its MERGE into silver is keyed, so silver
            # needs nothing).
            for qualified in ("audit.quarantine", "audit.file_stats"):
                con.execute(
                    f"DELETE FROM {qualified} WHERE run_id = ? AND source_file = ?",
                    [previous[1], claim.source_file],
                )
        con.execute(
            "DELETE FROM audit.processed_files WHERE source_file = ? AND content_sha256 = ?",
            [claim.source_file, claim.content_sha256],
        )
        con.execute(
            "INSERT INTO audit.processed_files VALUES (?, ?, ?, ?, ?, ?, 'claimed')",
            [
                claim.source_file,
                claim.content_sha256,
                claim.entity,
                claim.size_bytes,
                run_id,
                claim.archive_path,
            ],
        )
    con.execute("COMMIT")
    return claims


def mark_processed(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    con.execute("UPDATE audit.processed_files SET status = 'processed' WHERE run_id = ?", [run_id])
    row = con.execute(
        "SELECT count(*) FROM audit.processed_files WHERE run_id = ? AND status = 'processed'", [run_id]
    ).fetchone()
    return int(row[0]) if row else 0

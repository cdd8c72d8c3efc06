"""Claiming landing files for a run on the local target, and claiming them again.

The landing folder is the user's and is never modified: a claimed file is copied into
`OUTPUT/archive/<run>/<entity>/...` and remembered in `audit.processed_files` by path and content
hash, so one landing folder can feed several outputs, a file is processed once per output, and a
rerun of a run reprocesses exactly the files it claimed.

A file rejected whole (unreadable, or lacking a required column) is rarely fixed by editing the
file: the usual fix is the source settings file (`sources.yaml`: a column mapping, an encoding).
So its attempt ends `rejected`, not `processed`, and remembers the sha256 of the settings file it
was read with; a later run claims it again by itself once that file changed, and not before (an
unchanged bad file would fail every daily run again). `cdi reprocess` (`pipeline.reprocess`)
claims files again on request, from their archive copies. Either way the new attempt is a claim of
the new run, and audit.processed_files keeps one row per attempt (file, hash and run). When the
new attempt's rows load, what earlier attempts of the file left in silver and quarantine gives way
to them in the same transaction (`withdraw_earlier_attempts`), so every raw row is once in silver
or quarantine; audit.processed_files and audit.file_stats keep every attempt.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipeline import plan, warehouse
from pipeline.config import ENTITIES
from pipeline.landing import landing_files
from pipeline.runs import run_key as key_of

log = logging.getLogger(__name__)

CLAIMED, PROCESSED, REJECTED = "claimed", "processed", "rejected"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
"""The settings fingerprint of a run without a source settings file."""


@dataclass(frozen=True)
class Claim:
    entity: str
    source_file: str
    """The landing path as the user gave it (lineage in silver and quarantine)."""
    archive_path: str
    """The immutable copy the run reads."""
    content_sha256: str
    size_bytes: int
    attempt: int = 1
    """1 for the first claim of `source_file`, one more for each later one."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Attempt:
    """One row of audit.processed_files: one claim of a file (path and bytes) by one run."""

    source_file: str
    content_sha256: str
    entity: str
    size_bytes: int
    run_id: str
    archive_path: str
    status: str
    settings_sha256: str | None
    attempt: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def settings_sha256(path: Path) -> str:
    """sha256 of the source settings file's bytes, or of nothing when there is none: what a claim
    remembers, so that a rejected file is claimed again once the settings changed."""
    return sha256_file(path) if path.is_file() else EMPTY_SHA256


def attempts(con: duckdb.DuckDBPyConnection) -> list[Attempt]:
    """Every claim recorded (an OUTPUT from before attempts were counted reads as attempt 1)."""
    return [Attempt(**row) for row in warehouse.fetch_dicts(con, "claims/attempts.sql")]


def _order(a: Attempt) -> tuple[int, str]:
    # Attempt numbers order the claims of one path; the run id only breaks the tie of two contents
    # of one path claimed before attempts were counted (both 1).
    return (a.attempt, a.run_id)


def latest_by_file(found: Iterable[Attempt]) -> dict[str, Attempt]:
    """The latest attempt of each source file (whatever its content)."""
    latest: dict[str, Attempt] = {}
    for a in sorted(found, key=_order):
        latest[a.source_file] = a
    return latest


def rejected_files(con: duckdb.DuckDBPyConnection) -> list[Attempt]:
    """The files whose latest attempt was rejected whole: they wait for a settings change (or a
    `cdi reprocess`), and are reported until then."""
    latest = latest_by_file(attempts(con)).values()
    return sorted((a for a in latest if a.status == REJECTED), key=lambda a: a.source_file)


@dataclass(frozen=True)
class _Planned:
    entity: str
    source_file: str
    content_sha256: str
    size_bytes: int
    attempt: int
    origin: Path | Attempt
    """Where the bytes are copied from: the landing file, or an earlier attempt, whose copies are
    looked for (and hashed) only when the target lacks them (`_origin`)."""
    target: Path
    abandoned: Attempt | None = None
    """The claim of the same file a run that died left behind, which this one takes over."""


def _relative(a: Attempt, landing: Path, archive_dir: Path) -> Path:
    """The path of a claimed file under its entity folder (the archive keeps the landing layout)."""
    for root in (landing / a.entity, archive_dir / key_of(a.run_id) / a.entity):
        for path in (Path(a.source_file), Path(a.archive_path)):
            if path.is_relative_to(root):
                return path.relative_to(root)
    return Path(Path(a.source_file).name)


def _origin(a: Attempt) -> Path:
    """A copy of the attempt's bytes: its archive copy, else the landing file if unchanged."""
    for path in (Path(a.archive_path), Path(a.source_file)):
        if path.is_file() and sha256_file(path) == a.content_sha256:
            return path
    raise FileNotFoundError(
        f"{a.source_file}: neither its archive copy {a.archive_path} (run {a.run_id}) nor the "
        "landing file holds the bytes that run claimed any more; land the file again and run "
        "`cdi run`"
    )


def _rerun(mine: list[Attempt]) -> list[_Planned]:
    """A rerun reads exactly what the run claimed before (copied again only if the copy is gone)."""
    return [
        _Planned(
            a.entity,
            a.source_file,
            a.content_sha256,
            a.size_bytes,
            a.attempt,
            a,
            Path(a.archive_path),
        )
        for a in sorted(mine, key=lambda a: (ENTITIES.index(a.entity), a.source_file))
    ]


def _next_attempts(known: Iterable[Attempt]) -> dict[str, int]:
    return {f: a.attempt + 1 for f, a in latest_by_file(known).items()}


def _reprocess(
    known: list[Attempt], source_files: Sequence[str], *, landing: Path, archive_dir: Path, run_dir: Path
) -> list[_Planned]:
    """The named files again, from the bytes of their latest attempt (`cdi reprocess`)."""
    latest = latest_by_file(known)
    next_attempt = _next_attempts(known)
    unknown = [f for f in source_files if f not in latest]
    if unknown:
        raise ValueError(
            f"reprocess: {', '.join(unknown)}: not claimed by any run of this output (see "
            "audit.processed_files.source_file)"
        )
    planned = []
    for source_file in dict.fromkeys(source_files):
        a = latest[source_file]
        abandoned = a if a.status == CLAIMED else None
        planned.append(
            _Planned(
                a.entity,
                a.source_file,
                a.content_sha256,
                a.size_bytes,
                a.attempt if abandoned else next_attempt[source_file],
                a,
                run_dir / a.entity / _relative(a, landing, archive_dir),
                abandoned,
            )
        )
    return planned


def _landed(
    known: list[Attempt], *, landing: Path, run_dir: Path, settings_sha256: str, settle_seconds: float
) -> list[_Planned]:
    """Every landed file this output has not processed: new paths and new contents, claims a run
    that died left behind, and files rejected whole under other source settings."""
    by_version: dict[tuple[str, str], Attempt] = {}
    for a in sorted(known, key=_order):
        by_version[(a.source_file, a.content_sha256)] = a
    next_attempt = _next_attempts(known)
    planned = []
    for entity, path in landing_files(landing, settle_seconds):
        source_file = str(path.resolve())
        digest = sha256_file(path)
        previous = by_version.get((source_file, digest))
        abandoned = None
        if previous is None:
            attempt = next_attempt.get(source_file, 1)
        elif previous.status == CLAIMED:
            abandoned, attempt = previous, previous.attempt
        elif previous.status == REJECTED and previous.settings_sha256 != settings_sha256:
            log.info("%s: rejected under other source settings; claimed again", source_file)
            attempt = next_attempt[source_file]
        else:
            continue
        target = run_dir / entity / path.relative_to(landing / entity)
        planned.append(
            _Planned(entity, source_file, digest, path.stat().st_size, attempt, path, target, abandoned)
        )
    return planned


# What a run that died recorded for a file the next run takes over.
_ABANDONED = (
    "claims/abandoned_quarantine_delete.sql",
    "claims/abandoned_file_stats_delete.sql",
    "claims/attempt_delete.sql",
)


def claim_files(
    con: duckdb.DuckDBPyConnection,
    *,
    landing: Path,
    archive_dir: Path,
    run_id: str,
    run_key: str,
    settings_sha256: str = EMPTY_SHA256,
    reprocess: Sequence[str] = (),
    settle_seconds: float = 0.0,
) -> list[Claim]:
    """Copy the files this run reads into its archive folder and record them as its claims.

    A rerun of the run reads exactly what it claimed before. A run given `reprocess` (source files,
    from `dag_run.conf`) claims those files again from the bytes of their latest attempt, and
    nothing else. Any other run claims every landed file not processed yet (`_landed`).
    `settings_sha256` is the fingerprint of the source settings file in force (`settings_sha256()`);
    a landed file modified within `settle_seconds` is left for a later run (`settled`).
    """
    known = attempts(con)
    mine = [a for a in known if a.run_id == run_id]
    run_dir = archive_dir / run_key
    if mine:
        planned = _rerun(mine)
    elif reprocess:
        planned = _reprocess(known, reprocess, landing=landing, archive_dir=archive_dir, run_dir=run_dir)
    else:
        planned = _landed(
            known,
            landing=landing,
            run_dir=run_dir,
            settings_sha256=settings_sha256,
            settle_seconds=settle_seconds,
        )
    for p in planned:
        if p.target.exists() and sha256_file(p.target) == p.content_sha256:
            continue
        p.target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p.origin if isinstance(p.origin, Path) else _origin(p.origin), p.target)
    warehouse.execute_file(con, plan.BEGIN_SQL)
    for p in planned:
        file = {"source_file": p.source_file, "content_sha256": p.content_sha256}
        if p.abandoned is not None:
            # Taken over from a run that died before archiving: forget what it recorded for the
            # file, so the figures count the file once (its MERGE into silver is keyed, so silver
            # needs nothing).
            for relative in _ABANDONED:
                warehouse.execute_file(con, relative, {**file, "run_id": p.abandoned.run_id})
        claimed = {
            **file,
            "run_id": run_id,
            "entity": p.entity,
            "size_bytes": p.size_bytes,
            "archive_path": str(p.target),
            "settings_sha256": settings_sha256,
            "attempt": p.attempt,
        }
        warehouse.execute_file(con, "claims/attempt_delete.sql", claimed)
        warehouse.execute_file(con, "claims/attempt_insert.sql", claimed)  # status CLAIMED
    warehouse.execute_file(con, plan.COMMIT_SQL)
    return [
        Claim(p.entity, p.source_file, str(p.target), p.content_sha256, p.size_bytes, p.attempt)
        for p in planned
    ]


def mark_processed(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """End the run's claims: `rejected` for a file rejected whole (an `error` in its file stats of
    this run), else `processed`. Returns how many files the run ended."""
    params = {"run_id": run_id}
    warehouse.execute_file(con, "claims/run_attempts_end.sql", params)
    (ended,) = warehouse.fetch_dicts(con, "claims/run_attempts_ended.sql", params)
    return int(ended["ended_files"])


# --- an attempt's rows give way to the next attempt's ---------------------------------------------


def _retried(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, set[str]]:
    """The files this run claims again (same path and bytes as an earlier run's claim), each with
    the runs that claimed other bytes at its path: another version's rows, which stay."""
    kept: dict[str, set[str]] = {}
    for row in warehouse.fetch_dicts(con, "claims/retried_files.sql", {"run_id": run_id}):
        runs = kept.setdefault(row["source_file"], set())
        if row["kept_run"] is not None:
            runs.add(row["kept_run"])
    return kept


def retried_files(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """The files this run claims again (same path and bytes as an earlier run's claim)."""
    return sorted(_retried(con, run_id))


def _earlier_attempts(run_id: str, kept: dict[str, set[str]]) -> list[dict[str, Any]]:
    """The rows earlier attempts of the retried files left (or a run that died reading one), as
    parameters of the claims/earlier_*.sql files: every row of those files (`source_files`) but
    those of the runs that claimed other bytes at the path (`kept_runs`: another version's rows).
    Files whose rows stay for the same runs share one set, so the usual withdrawal (no other
    version of any file) runs each statement once."""
    sets: dict[frozenset[str], list[str]] = {}
    for source_file, runs in sorted(kept.items()):
        sets.setdefault(frozenset(runs), []).append(source_file)
    return [
        {"run_id": run_id, "source_files": files, "kept_runs": sorted(runs)} for runs, files in sets.items()
    ]


def withdrawn_days(con: duckdb.DuckDBPyConnection, run_id: str) -> list[date]:
    """UTC days of the silver transactions `withdraw_earlier_attempts` takes out: the load rebuilds
    them too (a row the new attempt quarantines leaves its day)."""
    kept = _retried(con, run_id)
    if not kept:
        return []
    days = {
        r["day"]
        for params in _earlier_attempts(run_id, kept)
        for r in warehouse.fetch_dicts(con, "claims/withdrawn_days.sql", params)
    }
    return sorted(days)


def withdraw_earlier_attempts(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """In the load's transaction, after the run's quarantine rows are loaded and before its MERGE:
    take out of silver and audit.quarantine every row earlier attempts of the files this run claims
    again left there (the key -> day index follows), so that each raw row of those files is once in
    silver or quarantine, as this attempt decided. A key another file's row holds in silver now is
    decided by the MERGE, this attempt being the latest file. Returns rows taken out per table."""
    kept = _retried(con, run_id)
    if not kept:
        return {}
    earlier = _earlier_attempts(run_id, kept)

    def run(relative: str) -> int:
        """Run the statement on every set of rows; the rows it changed."""
        return sum(_changed(warehouse.execute_file(con, relative, params)) for params in earlier)

    taken: dict[str, int] = {}
    taken["audit.quarantine"] = run("claims/earlier_quarantine_delete.sql")
    run("claims/earlier_transaction_keys_update.sql")
    warehouse.execute_file(con, "claims/emptied_transaction_keys_delete.sql")
    for entity in ENTITIES:
        taken[f"silver.{entity}"] = run(f"claims/earlier_{entity}_delete.sql")
    log.info("earlier attempts of %s withdrawn: %s", ", ".join(sorted(kept)), taken)
    return taken


def _changed(cursor: duckdb.DuckDBPyConnection) -> int:
    """The row count DuckDB returns for a DELETE or UPDATE (fetchall: see `warehouse._count`)."""
    rows = cursor.fetchall()
    return int(rows[0][0]) if rows else 0

"""Which folder a `cdi run` writes (OUTPUT), and the guards that keep runs from writing over
each other's output.

- The demo (`cdi run` without --input) writes to `var/`; a run on the user's landing folder
  (`--input DIR`) without --output writes to `out/<DIR's name>`, both under the current directory:
  a run on real data never lands in the demo's folder, which every demo clears.
- `OUTPUT/.cdi-output.json` records the INPUT the folder was built from. An OUTPUT remembers the
  files it processed (path and hash, in `audit`), so a run from another INPUT would mix two
  landing areas in one warehouse: it is refused unless --force.
- The demo records in the same file the entries it created, and deletes only those when it starts
  again: anything else in the folder is left alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings
from pipeline.usage_error import UsageError

if TYPE_CHECKING:
    import duckdb

MARKER = ".cdi-output.json"
LEGACY_DEMO_MARKER = ".cdi-demo"
"""What the demo left before `.cdi-output.json`: a marker without the list of what it created."""
DEMO_OUTPUT = Path("var")
INPUT_OUTPUTS = Path("out")


def run_entries() -> frozenset[str]:
    """The names a local run creates at the top of its OUTPUT (the `Settings` layout, DuckDB's
    write-ahead log, the demo's landing/ and the logs): what an old demo is cleared of, and what
    the demo refuses to start on when it did not create it."""
    s = Settings(output_dir=Path("/"))
    layout = (
        s.warehouse_path,
        s.archive_dir,
        s.quarantine_dir,
        s.staging_dir,
        s.reports_dir,
        s.report_path,
        s.dashboard_dir,
        s.airflow_home,
    )
    return frozenset({p.name for p in layout} | {f"{s.warehouse_path.name}.wal", "landing", "logs"})


def default_output(landing: Path | None, cwd: Path) -> Path:
    """var/ for the demo, out/<name of the landing folder> for a run on one."""
    if landing is None:
        return cwd / DEMO_OUTPUT
    return cwd / INPUT_OUTPUTS / (landing.name or "landing")


def read_marker(output: Path) -> dict[str, Any] | None:
    path = output / MARKER
    if path.is_file():
        marker: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return marker
    if (output / LEGACY_DEMO_MARKER).is_file():
        return {"input": str(output / "landing"), "demo": True, "created": sorted(run_entries())}
    return None


def write_marker(output: Path, marker: dict[str, Any]) -> None:
    output.mkdir(parents=True, exist_ok=True)
    partial = output / f"{MARKER}.tmp"
    partial.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    partial.replace(output / MARKER)


def check_input_run(landing: Path, output: Path, *, force: bool) -> None:
    """Refuse a landing folder without transactions/, an OUTPUT inside it, and an OUTPUT built
    from another landing folder (unless `force`); then record the landing folder in OUTPUT."""
    if not (landing / "transactions").is_dir():
        raise UsageError(
            f"{landing} has no transactions/ folder: the landing folder holds transactions/ "
            "(required), customers/ and agents/ (optional)"
        )
    if output == landing or landing in output.parents:
        raise UsageError(f"--output {output} must not be inside the input folder {landing}")
    marker = read_marker(output)
    if marker is not None and Path(marker["input"]) == landing:
        return
    if marker is not None and not force:
        raise UsageError(
            f"{output} was built from {marker['input']}, not from {landing}: a run from another "
            "landing folder would mix both in one warehouse. Choose another --output, or add "
            "--force to run anyway"
        )
    previous = [*marker.get("previous_inputs", []), marker["input"]] if marker else []
    write_marker(output, {"input": str(landing), "demo": False, "previous_inputs": previous})


def _entry(output: Path, name: str) -> Path:
    """`output/name` for a bare name only: a marker naming `../x` deletes nothing outside."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise UsageError(f"{output / MARKER} lists {name!r}, which is not an entry of the folder")
    return output / name


def delete_demo_entries(output: Path) -> list[Path]:
    """Delete what the previous demo recorded it created in `output` (nothing else); the paths
    deleted. An output without a demo marker is left as it is."""
    marker = read_marker(output)
    if marker is None or not marker.get("demo"):
        return []
    deleted = []
    for name in marker.get("created", []):
        path = _entry(output, name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        deleted.append(path)
    (output / LEGACY_DEMO_MARKER).unlink(missing_ok=True)
    (output / MARKER).unlink(missing_ok=True)
    return deleted


def prepare_demo(output: Path) -> frozenset[str]:
    """Make `output` ready for the demo: delete what the previous demo created, refuse a folder
    holding another run's output, and record up front what the demo is about to create (so that a
    demo killed halfway is cleared too). Returns the names that were there before: not the demo's."""
    marker = read_marker(output)
    if marker is not None and not marker.get("demo"):
        raise UsageError(
            f"{output} holds the output of a run on {marker['input']}: the demo needs a folder of "
            "its own; choose another --output"
        )
    delete_demo_entries(output)
    present = frozenset(p.name for p in output.iterdir()) if output.is_dir() else frozenset()
    foreign = present & run_entries()
    if foreign:
        raise UsageError(
            f"{output} holds {', '.join(sorted(foreign))}, which the demo did not create: choose "
            "another --output (the demo deletes only what it created itself)"
        )
    write_marker(output, {"input": str(output / "landing"), "demo": True, "created": sorted(run_entries())})
    return present


def record_demo_entries(output: Path, present_before: frozenset[str]) -> None:
    """After the demo: everything new at the top of `output` is the demo's (what it predicted and
    what else it made), so that the next demo deletes exactly that."""
    marker = read_marker(output) or {"input": str(output / "landing"), "demo": True}
    made = {p.name for p in output.iterdir()} - present_before - {MARKER}
    marker["created"] = sorted(set(marker.get("created", [])) | made)
    write_marker(output, marker)


def outputs_under(cwd: Path) -> list[Path]:
    """The folders under `cwd` where `cdi run` writes by default and a warehouse is: var/, out/*."""
    found = [cwd / DEMO_OUTPUT, *sorted((cwd / INPUT_OUTPUTS).glob("*"))]
    return [p for p in found if (p / Settings(output_dir=p).warehouse_path.name).is_file()]


def open_warehouse(output: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse of `output`, read-only (a run may be writing it), or a UsageError saying why
    there is none to read."""
    import duckdb

    from pipeline import warehouse

    path = Settings(output_dir=output).warehouse_path
    if not path.is_file():
        others = [str(p) for p in outputs_under(Path.cwd()) if p != output]
        hint = f"; outputs with a warehouse here: {', '.join(others)}" if others else ""
        raise UsageError(
            f"{output} has no warehouse ({path.name}): no run wrote there yet. Name the output of a "
            f"run with --output{hint}"
        )
    try:
        return warehouse.connect(path, read_only=True)
    except duckdb.IOException as err:
        raise UsageError(f"cannot read {path} now (a run may be writing it): {err}") from err

"""Package the cleaning job for Dataproc Serverless: `python spark/package.py [--dist DIR]`.

Writes `<dist>/spark/job.py` (the batch's main file) and `<dist>/spark/cdi_spark.zip` (for
`--py-files`): the `spark/` and `sql/` packages with the schema JSON files, plus the pure-Python
dependencies the job imports that the runtime may lack (phonenumbers without its geocoding,
carrier and time zone data; pycountry). The zip is byte-for-byte reproducible: entries sorted,
fixed timestamps and permissions, no bytecode.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO_ROOT))

from spark import runtime  # noqa: E402

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__"}
# phonenumbers data the job never reads (geocoder, carrier names, time zones): most of its size.
_SKIP_PHONENUMBERS = frozenset({"geodata", "carrierdata", "tzdata"})


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{name} is not installed: run `uv sync` first")
    return Path(spec.origin).parent


def _files(
    root: Path, prefix: str, suffixes: tuple[str, ...], skip: frozenset[str] = frozenset()
) -> Iterator[tuple[str, Path]]:
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if not path.is_file() or path.suffix not in suffixes:
            continue
        if _SKIP_DIRS & set(relative.parts) or (relative.parts and relative.parts[0] in skip):
            continue
        yield f"{prefix}/{relative.as_posix()}", path


def zip_entries() -> list[tuple[str, Path]]:
    """(name in the zip, source file), sorted by name."""
    entries = [
        *_files(REPO_ROOT / "spark", "spark", (".py",)),
        *_files(REPO_ROOT / "sql", "sql", (".py", ".json")),
        *_files(_package_dir("phonenumbers"), "phonenumbers", (".py",), _SKIP_PHONENUMBERS),
        *_files(_package_dir("pycountry"), "pycountry", (".py", ".json")),
    ]
    return sorted(entries)


def write_zip(target: Path, entries: Sequence[tuple[str, Path]]) -> None:
    """Write a reproducible zip: fixed timestamps and modes, entries in the given order."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for name, source in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, source.read_bytes(), compresslevel=9)


def build(out_dir: Path = REPO_ROOT / Path(runtime.ENTRY_FILE).parent) -> tuple[Path, Path]:
    """Write the entry file and the zip into `out_dir` (default `dist/spark/`); returns their paths."""
    entry = out_dir / Path(runtime.ENTRY_FILE).name
    bundle = out_dir / Path(runtime.PY_FILES_ZIP).name
    out_dir.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed: a plan or a deploy reading `out_dir` meanwhile (or a second
    # build) never sees half a zip.
    partial = f".{os.getpid()}.partial"
    shutil.copyfile(REPO_ROOT / "spark" / "job.py", entry.with_name(entry.name + partial))
    write_zip(bundle.with_name(bundle.name + partial), zip_entries())
    entry.with_name(entry.name + partial).replace(entry)
    bundle.with_name(bundle.name + partial).replace(bundle)
    return entry, bundle


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="spark/package.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--out",
        default=str(REPO_ROOT / Path(runtime.ENTRY_FILE).parent),
        help="folder for job.py and cdi_spark.zip (default: dist/spark/ of the repository)",
    )
    args = parser.parse_args(argv)
    entry, bundle = build(Path(args.out))
    print(f"{entry}\n{bundle} (Dataproc runtime {runtime.DATAPROC_RUNTIME_VERSION})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`spark/package.py`: the Dataproc artifacts are complete and byte-for-byte reproducible."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from spark import package, runtime


def test_the_zip_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    _, first = package.build(tmp_path / "a")
    _, second = package.build(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    assert first == tmp_path / "a" / Path(runtime.PY_FILES_ZIP).name


def test_the_zip_holds_the_job_the_schemas_and_the_pure_python_dependencies(tmp_path: Path) -> None:
    entry, bundle = package.build(tmp_path)
    names = zipfile.ZipFile(bundle).namelist()
    assert names == sorted(names)
    for required in (
        "spark/job.py",
        "spark/transform.py",
        "sql/catalog.py",
        "sql/schemas/tables.json",
        "sql/schemas/silver/transactions.json",
        "sql/schemas/audit/quarantine.json",
        "phonenumbers/__init__.py",
        "pycountry/databases/iso4217.json",
    ):
        assert required in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/geodata/" in n]
    assert {i.date_time for i in zipfile.ZipFile(bundle).infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert entry.read_bytes() == (package.REPO_ROOT / "spark" / "job.py").read_bytes()


def test_the_entry_file_starts_from_the_zip_alone(tmp_path: Path) -> None:
    entry, bundle = package.build(tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(bundle), "TMPDIR": str(temp)}
    code = (
        "import runpy, sys; sys.argv = ['job.py', '--help']\n"
        "import spark, sql; assert spark.__file__.startswith(sys.argv[0]) or '.zip' in spark.__file__, spark.__file__\n"
        f"runpy.run_path({str(entry)!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--input ENTITY=URI" in result.stdout
    # The schemas were extracted from the zip to a temporary folder, removed at exit.
    assert "schemas extracted" in result.stdout + result.stderr
    assert not list(temp.iterdir())

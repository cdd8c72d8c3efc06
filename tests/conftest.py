"""Test-wide setup: a throwaway AIRFLOW_HOME before anything imports Airflow."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cdi-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)  # one per pytest run, not left behind
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault(
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{Path(_AIRFLOW_HOME) / 'airflow.db'}"
)

# The heaviest folders first. `make test` runs two xdist workers that take a file at a time
# (--dist loadfile) in collection order (--no-loadscope-reorder: xdist's default hands out the
# files with the most tests first, which left the long few-test end-to-end files for last, one
# worker running them alone). Long files first leave the many short ones to even out the end. The
# order within a folder is kept (the sort is stable).
_HEAVY_FIRST = ("e2e", "gcp", "spark", "bench")
_TESTS = Path(__file__).resolve().parent


def _weight(item: pytest.Item) -> int:
    folder = item.path.resolve().relative_to(_TESTS).parts[0]
    return _HEAVY_FIRST.index(folder) if folder in _HEAVY_FIRST else len(_HEAVY_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_weight)

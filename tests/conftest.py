"""Test-wide setup: a throwaway AIRFLOW_HOME before anything imports Airflow."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cdi-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)  # one per pytest run, not left behind
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault(
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{Path(_AIRFLOW_HOME) / 'airflow.db'}"
)

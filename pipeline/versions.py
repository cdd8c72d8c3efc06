"""The version matrix (`versions.toml` at the repository root), read once into typed values.

What runs in the cloud is written in that one file: the Composer image with the Airflow, Python and
package versions it ships, and the Dataproc Serverless runtime with its Spark, Java and Python. The
code reads it here (`spark/runtime.py`, `infra/config.py`) and `tests/test_versions.py` holds the
lock, the pins, the constraints file and the stack configs to it. Stdlib only: the DAG imports this
on Composer, where `versions.toml` is uploaded beside it (`infra/artifacts.py`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

MATRIX_FILE = Path(__file__).resolve().parent.parent / "versions.toml"


@dataclass(frozen=True)
class ComposerImage:
    """A Composer 3 image: its name, Airflow, Python (major.minor) and the packages the DAG imports."""

    image: str
    airflow: str
    python: str
    packages: Mapping[str, str]
    """Distribution name (as PyPI normalizes it) -> the version the image ships."""


@dataclass(frozen=True)
class DataprocRuntime:
    """A Dataproc Serverless runtime (`RuntimeConfig.version`) and what it runs the job with."""

    runtime: str
    spark: str
    java: str
    python: str


@dataclass(frozen=True)
class Matrix:
    composer: ComposerImage
    dataproc: DataprocRuntime


def load(path: Path = MATRIX_FILE) -> Matrix:
    """Read and check the matrix; a missing key raises `KeyError` naming it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    composer, dataproc = data["composer"], data["dataproc"]
    packages = {str(name): str(version) for name, version in composer["packages"].items()}
    if packages.get("apache-airflow") != composer["airflow"]:
        raise ValueError(f"{path}: [composer.packages] apache-airflow differs from composer.airflow")
    if f"-airflow-{composer['airflow']}-" not in composer["image"]:
        raise ValueError(f"{path}: image {composer['image']!r} does not run Airflow {composer['airflow']}")
    return Matrix(
        composer=ComposerImage(
            image=str(composer["image"]),
            airflow=str(composer["airflow"]),
            python=str(composer["python"]),
            packages=MappingProxyType(packages),
        ),
        dataproc=DataprocRuntime(
            runtime=str(dataproc["runtime"]),
            spark=str(dataproc["spark"]),
            java=str(dataproc["java"]),
            python=str(dataproc["python"]),
        ),
    )


MATRIX = load()

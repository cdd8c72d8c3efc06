"""The version matrix (versions.toml) against every place that repeats a version: the lock, the
pyproject pins, the Composer constraints file, the stack configs and what the DAG sends Dataproc.
Each test reads the other file itself (uv.lock and pyproject with tomllib, Pulumi.*.yaml with yaml),
so changing a version in one place and not the others fails here."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from pipeline.config import REPO_ROOT
from pipeline.versions import MATRIX, MATRIX_FILE, load

STACKS = sorted(p.name.split(".")[1] for p in REPO_ROOT.glob("Pulumi.*.yaml"))
CONSTRAINTS = REPO_ROOT / "pipeline" / "composer" / "constraints.txt"


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def locked() -> dict[str, str]:
    """Package -> version in uv.lock."""
    return {canonicalize_name(p["name"]): p["version"] for p in _toml(REPO_ROOT / "uv.lock")["package"]}


def _pins(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        found[canonicalize_name(requirement.name)] = (
            specs[0].version if len(specs) == 1 and specs[0].operator == "==" else str(requirement.specifier)
        )
    return found


def test_the_matrix_names_an_airflow_3_composer_3_image_and_its_packages() -> None:
    assert MATRIX_FILE == REPO_ROOT / "versions.toml"
    assert MATRIX.composer.image.startswith(f"composer-3-airflow-{MATRIX.composer.airflow}-build.")
    assert MATRIX.composer.packages["apache-airflow"] == MATRIX.composer.airflow
    assert all(name == canonicalize_name(name) for name in MATRIX.composer.packages)


def test_the_matrix_refuses_an_image_of_another_airflow(tmp_path: Path) -> None:
    text = MATRIX_FILE.read_text(encoding="utf-8")
    broken = tmp_path / "versions.toml"
    broken.write_text(text.replace(f'airflow = "{MATRIX.composer.airflow}"', 'airflow = "3.0.0"', 1))
    with pytest.raises(ValueError, match="apache-airflow differs"):
        load(broken)


@pytest.mark.parametrize(("name", "image_version"), sorted(MATRIX.composer.packages.items()))
def test_the_lock_installs_the_image_versions(name: str, image_version: str) -> None:
    assert locked().get(name) == image_version, (
        f"uv.lock has {name} {locked().get(name)}, image {image_version}"
    )


def test_the_lock_installs_the_runtime_spark() -> None:
    assert locked()["pyspark"] == MATRIX.dataproc.spark


def test_pyproject_pins_what_the_dag_imports_at_the_image_versions() -> None:
    project = _toml(REPO_ROOT / "pyproject.toml")
    dependencies = _pins(project["project"]["dependencies"])
    for name, pinned in dependencies.items():
        assert name in MATRIX.composer.packages, f"{name}: a Composer dependency the matrix does not list"
        assert pinned == MATRIX.composer.packages[name], f"pyproject pins {name} {pinned}"
    local = _pins(project["dependency-groups"]["local"])
    assert local["apache-airflow"] == MATRIX.composer.airflow
    assert local["pyspark"] == MATRIX.dataproc.spark


def test_local_python_is_the_composer_python() -> None:
    requires = SpecifierSet(_toml(REPO_ROOT / "pyproject.toml")["project"]["requires-python"])
    major, minor = (int(part) for part in MATRIX.composer.python.split("."))
    assert requires.contains(f"{major}.{minor}.0")
    assert not requires.contains(f"{major}.{minor + 1}.0")
    assert sys.version_info[:2] == (major, minor)


def test_the_constraints_file_states_the_image_versions() -> None:
    lines = [
        line.split("#", 1)[0].strip()
        for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert _pins(lines) == dict(MATRIX.composer.packages)
    assert MATRIX.composer.image in CONSTRAINTS.read_text(encoding="utf-8")


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_runs_the_matrix_image(stack: str) -> None:
    config = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    assert config["cdi:composer"]["imageVersion"] == MATRIX.composer.image


def test_both_stacks_are_checked() -> None:
    assert {"dev", "prod"} <= set(STACKS)


def test_batches_ask_dataproc_for_the_matrix_runtime() -> None:
    from pipeline.config import Settings
    from pipeline.gcp import dataproc
    from spark import runtime

    body = dataproc.batch(Settings(target="gcp"))
    assert body["runtime_config"]["version"] == MATRIX.dataproc.runtime
    assert (
        MATRIX.dataproc.spark,
        MATRIX.dataproc.python,
        MATRIX.dataproc.java,
    ) == (runtime.RUNTIME_SPARK_VERSION, runtime.RUNTIME_PYTHON_VERSION, runtime.RUNTIME_JAVA_VERSION)


def test_the_spark_the_tests_run_is_the_runtime_spark() -> None:
    import pyspark

    assert pyspark.__version__ == MATRIX.dataproc.spark

"""The Composer pin: the constraints file names what the image runs; the environment the tests run in
(where the DAG integrity tests import the gcp DAG) satisfies it, and so do the project's own
Composer dependencies (pyproject `dependencies`, the list Composer installs)."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.config import REPO_ROOT

CONSTRAINTS = REPO_ROOT / "pipeline" / "composer" / "constraints.txt"


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line}: pin one exact version"
        found[canonicalize_name(requirement.name)] = spec.version
    return found


def test_airflow_and_the_providers_are_pinned() -> None:
    pinned = pins()
    for name in ("apache-airflow", "apache-airflow-providers-google", "apache-airflow-providers-http"):
        assert name in pinned


@pytest.mark.parametrize(("name", "pinned"), sorted(pins().items()))
def test_the_test_environment_runs_the_composer_versions(name: str, pinned: str) -> None:
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is pinned for Composer but not installed here")
    assert installed == pinned, f"{name}: Composer image has {pinned}, tests run {installed}"


def test_the_composer_dependencies_accept_the_pinned_versions() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = pins()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is a Composer dependency without a pin"
        assert requirement.specifier.contains(pinned[name]), f"{line} excludes the pinned {pinned[name]}"

"""The Composer image: the environment the tests run in has the versions the image ships
(constraints.txt, from versions.toml), and every third-party module the gcp DAG's code imports comes
from a package of the image at those versions, so Composer installs nothing from PyPI (item 5 of
issue 15: a prod environment with private builds only cannot reach PyPI)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.config import REPO_ROOT
from pipeline.versions import MATRIX

CONSTRAINTS = REPO_ROOT / "pipeline" / "composer" / "constraints.txt"
DAG_MODULE = "pipeline.dags.customer_analytics"
FIRST_PARTY = ("pipeline", "spark", "sql")
# The local target's modules (DuckDB in place of BigQuery): imported only when CDI_TARGET=local.
LOCAL_ONLY = frozenset({"pipeline.targets.local", "pipeline.warehouse", "pipeline.local_pages"})


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


def _imported_names(path: Path, package: str) -> Iterator[str]:
    """Every module name an import statement of `path` may name (`from m import x`: `m` and `m.x`),
    function-level imports included, `if TYPE_CHECKING:` blocks left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _spec_origin(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, AttributeError, ValueError):  # `from m import attribute`: not a module
        return None
    if spec is None or spec.origin in (None, "namespace", "built-in", "frozen"):
        return None
    return spec.origin


def gcp_dag_third_party_imports() -> dict[str, set[str]]:
    """Third-party module -> the first-party modules importing it, over every first-party module the
    gcp DAG can reach from its entry file (the local target's modules aside)."""
    third: dict[str, set[str]] = {}
    seen: set[str] = set()
    todo = [DAG_MODULE]
    while todo:
        name = todo.pop()
        if name in seen or name in LOCAL_ONLY:
            continue
        seen.add(name)
        origin = _spec_origin(name)
        assert origin is not None, name
        package = name if origin.endswith("__init__.py") else name.rpartition(".")[0]
        for imported in _imported_names(Path(origin), package):
            top = imported.split(".")[0]
            if top in FIRST_PARTY:
                if (found := _spec_origin(imported)) is not None and found.endswith(".py"):
                    todo.append(imported)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.setdefault(imported, set()).add(name)
    return third


def test_every_package_the_gcp_dag_imports_is_in_the_image_at_its_version() -> None:
    imports = gcp_dag_third_party_imports()
    origins = {module: origin for module in imports if (origin := _spec_origin(module)) is not None}
    # Only the files named like an imported module's file are located (a path each): all ~100,000
    # installed files cost half a minute.
    names = {Path(origin).name for origin in origins.values()}
    owner = {
        str(dist.locate_file(file)): canonicalize_name(dist.metadata["Name"])
        for dist in distributions()
        for file in dist.files or ()
        if file.name in names
    }
    needed: dict[str, set[str]] = {}
    for module, origin in origins.items():
        assert origin in owner, f"{module} ({origin}) belongs to no installed distribution"
        needed.setdefault(owner[origin], set()).update(imports[module])
    assert "apache-airflow-providers-google" in needed, needed  # the walk reached the gcp modules
    image = MATRIX.composer.packages
    missing = {dist: sorted(users) for dist, users in needed.items() if dist not in image}
    assert not missing, f"imported by the gcp DAG, not in the Composer image (versions.toml): {missing}"
    for dist in needed:
        assert version(dist) == image[dist], f"{dist}: tests run {version(dist)}, the image has {image[dist]}"

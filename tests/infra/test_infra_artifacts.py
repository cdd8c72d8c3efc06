"""Code deployment artefacts: stable names, same bytes on every build, so a second `up` changes nothing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from infra import artifacts
from infra.artifacts import ArtifactError
from infra.config import REPO_ROOT
from infra.mocks import StackRun
from pipeline.config import SOURCES_FILE
from pipeline.versions import MATRIX_FILE
from spark.runtime import DATAPROC_RUNTIME_VERSION


def test_dag_folder_mirrors_pipeline_and_sql() -> None:
    dag = artifacts.dag_artifacts()
    names = [a.object_name for a in dag]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    code = sorted(
        p.relative_to(REPO_ROOT / "pipeline").as_posix()
        for pattern in ("*.py", "*.js")
        for p in (REPO_ROOT / "pipeline").rglob(pattern)
        if "__pycache__" not in p.parts
    )
    assert [n.removeprefix("dags/pipeline/") for n in names if n.startswith("dags/pipeline/")] == code
    assert "dags/pipeline/dashboard.js" in names  # the dashboard's script, inlined by `publish`
    assert "dags/sql/schemas/tables.json" in names
    assert "dags/sql/catalog.py" in names
    assert all(not n.endswith(".pyc") and "__pycache__" not in n for n in names)
    for artifact in dag:
        assert artifact.path.is_file(), artifact.object_name
        assert artifact.path.is_relative_to(REPO_ROOT), artifact.object_name


def test_object_names_are_repository_paths(spark_dist: Path) -> None:
    """No timestamp, build id or local path in a name: the name is the file's place in the repo."""
    for artifact in artifacts.dag_artifacts():
        relative = artifact.object_name.removeprefix("dags/")
        top = relative.split("/")[0]
        assert top in ("pipeline", "spark", "sql", SOURCES_FILE, MATRIX_FILE.name), artifact.object_name
        assert artifact.path == REPO_ROOT / relative, artifact.object_name
    for artifact in artifacts.spark_artifacts(spark_dist, build=False):
        assert artifact.object_name == f"spark/{artifact.path.name}"


def test_the_uploaded_dag_folder_reads_the_version_matrix_it_carries(tmp_path: Path) -> None:
    """On Composer the DAG asks Dataproc for the runtime in `versions.toml`: the file travels with it."""
    for artifact in artifacts.dag_artifacts():
        target = tmp_path / artifact.object_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact.path, target)
    code = (
        "import pipeline.versions as v, spark.runtime as r; print(v.MATRIX_FILE, r.DATAPROC_RUNTIME_VERSION)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "dags")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "dags" / MATRIX_FILE.name), DATAPROC_RUNTIME_VERSION]


def test_airflowignore_leaves_only_the_dag_entry_files_to_parse() -> None:
    dag = artifacts.dag_artifacts()
    ignore = artifacts.airflowignore(dag).splitlines()
    assert "sql/" in ignore
    assert "spark/" in ignore
    assert "dags/spark/runtime.py" in {a.object_name for a in dag}
    entry = [a.object_name for a in dag if a.object_name.startswith(f"dags/{artifacts.DAG_ENTRY_DIR}/")]
    assert entry, "the DAG entry file(s) under pipeline/dags/ are uploaded"
    for name in entry:
        assert name.removeprefix("dags/") not in ignore
    assert "pipeline/dag.py" in ignore
    assert artifacts.airflowignore(dag) == artifacts.airflowignore(artifacts.dag_artifacts())


def test_two_builds_give_the_same_names_and_hashes(
    tmp_path: Path, make_spark_dist: Callable[[Path], None]
) -> None:
    """The property behind "a second pulumi up plans no change", for the DAG folder and the job."""
    assert artifacts.manifest(artifacts.dag_artifacts()) == artifacts.manifest(artifacts.dag_artifacts())
    first, second = tmp_path / "a", tmp_path / "b"
    if importlib.util.find_spec("spark.package") is not None:
        artifacts.build_spark_dist(first)
        artifacts.build_spark_dist(second)
    else:
        make_spark_dist(first)
        make_spark_dist(second)
    one = artifacts.manifest(artifacts.spark_artifacts(first, build=False))
    two = artifacts.manifest(artifacts.spark_artifacts(second, build=False))
    assert list(one) == ["spark/job.py", "spark/cdi_spark.zip"]
    assert one == two


@pytest.mark.skipif(
    importlib.util.find_spec("spark.package") is None, reason="spark/package.py is not there yet"
)
def test_the_real_spark_package_is_reproducible(tmp_path: Path) -> None:
    artifacts.build_spark_dist(tmp_path / "a")
    artifacts.build_spark_dist(tmp_path / "b")
    a = artifacts.manifest(artifacts.spark_artifacts(tmp_path / "a", build=False))
    b = artifacts.manifest(artifacts.spark_artifacts(tmp_path / "b", build=False))
    assert a == b


def test_missing_spark_dist_is_built_by_the_real_packaging_or_fails_clearly(tmp_path: Path) -> None:
    built = artifacts.spark_artifacts(tmp_path / "dist")
    assert [a.object_name for a in built] == ["spark/job.py", "spark/cdi_spark.zip"]
    assert all(a.path.is_file() for a in built)
    with pytest.raises(ArtifactError, match="lacks"):
        artifacts.spark_artifacts(tmp_path / "missing", build=False)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_uploads_every_artefact_from_file_assets(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    objects = {r.inputs["name"]: r.inputs for r in run.of_type("gcp:storage/bucketObject:BucketObject")}
    for artifact in [*artifacts.dag_artifacts(), *artifacts.page_assets()]:
        assert objects[artifact.object_name]["bucket"] == f"cdi-{stack}-composer"
        assert objects[artifact.object_name]["source"] == {"asset": "file", "path": str(artifact.path)}
    for name in ("spark/job.py", "spark/cdi_spark.zip"):
        assert objects[name]["bucket"] == f"cdi-{stack}-artifacts"


def _run_in(dags: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`script` run by a fresh Python in the DAG folder `dags`, as Composer's workers import it: no
    CDI_ variable of this process leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDI_")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=dags, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_dag_folder_reads_the_source_settings_uploaded_with_it(tmp_path: Path) -> None:
    """On Composer the DAG resolves each file's settings from the uploaded `sources.yaml`, with only
    the uploaded modules: copy the DAG folder as `pulumi up` lays it out and resolve one there."""
    for artifact in artifacts.dag_artifacts():
        target = tmp_path / artifact.object_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact.path, target)
    dags = tmp_path / "dags"
    (dags / SOURCES_FILE).write_text("transactions:\n  files:\n    'pos_*.csv': {delimiter: ';'}\n")
    script = (
        "import sys; sys.path.insert(0, '.')\n"
        "from pipeline import source_settings\n"
        "from pipeline.config import Settings\n"
        "sources = source_settings.load_sources(Settings.from_env())\n"
        "print(source_settings.__file__)\n"
        "print(sources.origin)\n"
        "print(source_settings.settings_for(sources, 'transactions', 'gs://b/transactions/pos_1.csv').delimiter)\n"
    )
    done = _run_in(dags, script)
    module, origin, delimiter = done.stdout.split()
    assert Path(module).is_relative_to(dags)
    assert (Path(origin), delimiter) == (dags / SOURCES_FILE, ";")


def test_the_page_assets_are_plotly_s_locked_bundle_and_the_data_docs() -> None:
    """What `publish` reads on Composer, whose image has neither plotly nor sqlglot: the bundle of the
    plotly the lock installs, and every data docs page, under the DAG folder's `PAGE_ASSETS_DIR`."""
    from plotly.offline import get_plotlyjs

    from pipeline import data_docs
    from pipeline.config import PAGE_ASSETS_DIR

    assets = {a.object_name: a for a in artifacts.page_assets()}
    prefix = f"dags/{PAGE_ASSETS_DIR}"
    bundle = assets.pop(f"{prefix}/plotly.min.js")
    assert bundle.path.read_text(encoding="utf-8") == get_plotlyjs()
    assert bundle.content_type == "text/javascript"
    docs = sorted(data_docs.rendered().glob("*.html"))
    assert sorted(assets) == [f"{prefix}/docs/{p.name}" for p in docs]
    assert f"{prefix}/docs/index.html" in assets
    assert all(a.content_type == "text/html" for a in assets.values())
    assert artifacts.manifest(artifacts.page_assets()) == artifacts.manifest(artifacts.page_assets())


def test_the_uploaded_dag_folder_builds_the_pages_without_plotly_or_sqlglot(tmp_path: Path) -> None:
    """Lay the DAG folder out as `pulumi up` does and build the pages there, in a process where plotly,
    sqlglot and DuckDB cannot be imported (as on Composer), from canned rows."""
    for artifact in [*artifacts.dag_artifacts(), *artifacts.page_assets()]:
        target = tmp_path / artifact.object_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact.path, target)
    dags = tmp_path / "dags"
    script = (
        "import sys\n"
        "sys.path.insert(0, '.')\n"
        "for name in ('plotly', 'sqlglot', 'duckdb'):\n"
        "    sys.modules[name] = None\n"
        "from datetime import UTC, date, datetime\n"
        "from pipeline.config import Settings\n"
        "from pipeline.gcp import pages\n"
        "rows = {'health/freshness.sql': [{'latest_transaction': None, 'days_with_transactions': 0}]}\n"
        "fetch = lambda relative, params: rows.get(relative, [])\n"
        "built = pages.build(fetch, Settings.from_env().page_assets, run_id='r1', run_date=date(2025, 1, 5),\n"
        "    currency='EUR', reporting_tz='Europe/Paris', generated_at=datetime(2025, 1, 6, tzinfo=UTC))\n"
        "print(pages.dashboard.__file__)\n"
        "print(' '.join(sorted(built)))\n"
        "print(b'plotly.js v' in built['dashboard/index.html'])\n"
    )
    done = _run_in(dags, script)
    module, names, inlined = done.stdout.splitlines()
    assert Path(module).is_relative_to(dags)
    assert {"dashboard/index.html", "dashboard/health.html", "dashboard/docs/index.html"} <= set(
        names.split()
    )
    assert inlined == "True"

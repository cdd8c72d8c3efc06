"""The files `pulumi up` uploads, with stable object names and byte-for-byte reproducible content.

- DAG folder: `pipeline/**/*.py` and `pipeline/**/*.js` (the dashboard's script) -> `dags/pipeline/...`
  and `sql/**` -> `dags/sql/...` in the Composer bucket (the DAG imports `pipeline` and reads its SQL
  from `dags/sql`), plus a generated `dags/.airflowignore` so Airflow parses only `pipeline/dags/` for
  DAGs.
- Page assets: what `publish` needs on Composer and cannot make there, its image having neither
  plotly nor sqlglot (`pipeline.gcp.pages`): Plotly's bundle from the locked `plotly` package and
  the data docs (`pipeline.data_docs.rendered()`, made from the code alone) -> `dags/pipeline/static/`.
- Spark job: `dist/spark/job.py` and `dist/spark/cdi_spark.zip` -> `spark/...` in the artifacts bucket,
  built by `spark/package.py` when `dist/spark` is missing.

A second `pulumi up` plans no change because object names carry no timestamp and the engine
diffs a file asset by the hash of its bytes; `tests/infra` builds everything twice to prove it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.config import REPO_ROOT
from pipeline.config import PAGE_ASSETS_DIR, SOURCES_FILE
from pipeline.names import JOB_MAIN, JOB_ZIP
from pipeline.versions import MATRIX_FILE

DAG_PREFIX = "dags"
DAG_ENTRY_DIR = "pipeline/dags"
SPARK_OBJECTS = (JOB_MAIN, JOB_ZIP)
"""Where the batch reads the packaged job (`pipeline.names`), each named after its file in `dist/spark`."""
SPARK_FILES = tuple(name.rsplit("/", 1)[-1] for name in SPARK_OBJECTS)
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_CONTENT_TYPES = {
    ".py": "text/x-python",
    ".sql": "application/sql",
    ".json": "application/json",
    ".zip": "application/zip",
    ".md": "text/markdown",
    ".yml": "text/yaml",
    ".yaml": "text/yaml",
    ".toml": "application/toml",
    ".js": "text/javascript",
    ".html": "text/html",
}


class ArtifactError(RuntimeError):
    """An artefact is missing and cannot be built."""


@dataclass(frozen=True)
class Artifact:
    """One object to upload: `object_name` in the bucket, from the file at `path`."""

    object_name: str
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES.get(self.path.suffix, "application/octet-stream")


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(
        p
        for p in root.glob(pattern)
        if p.is_file()
        and not _SKIP_PARTS.intersection(p.relative_to(root).parts)
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.suffix != ".pyc"
    )


def dag_artifacts(repo_root: Path = REPO_ROOT) -> list[Artifact]:
    """The DAG folder: every Python and JavaScript file of `pipeline/`, `spark/runtime.py`,
    `versions.toml` and every file of `sql/`, sorted by name (the page assets: `page_assets()`)."""
    artifacts = [
        Artifact(f"{DAG_PREFIX}/pipeline/{p.relative_to(repo_root / 'pipeline').as_posix()}", p)
        for pattern in ("**/*.py", "**/*.js")
        for p in _files(repo_root / "pipeline", pattern)
    ]
    # The Dataproc runtime pin (spark/runtime.py, stdlib only) is read by the DAG too, and so are the
    # source settings (spark/sources.py, which reads the contract: no Spark) and their file.
    artifacts += [
        Artifact(f"{DAG_PREFIX}/spark/{name}", repo_root / "spark" / name)
        for name in ("__init__.py", "runtime.py", "contract.py", "sources.py")
    ]
    if (repo_root / SOURCES_FILE).is_file():
        artifacts.append(Artifact(f"{DAG_PREFIX}/{SOURCES_FILE}", repo_root / SOURCES_FILE))
    # The version matrix, read by `pipeline/versions.py` (the Dataproc runtime the DAG asks for).
    artifacts.append(Artifact(f"{DAG_PREFIX}/{MATRIX_FILE.name}", repo_root / MATRIX_FILE.name))
    artifacts += [
        Artifact(f"{DAG_PREFIX}/sql/{p.relative_to(repo_root / 'sql').as_posix()}", p)
        for p in _files(repo_root / "sql", "**/*")
    ]
    if not artifacts:
        raise ArtifactError(f"no DAG files under {repo_root / 'pipeline'}")
    return sorted(artifacts, key=lambda a: a.object_name)


def page_assets() -> list[Artifact]:
    """Plotly's bundle and the data docs, under `dags/<PAGE_ASSETS_DIR>/` (`pipeline.gcp.pages`
    reads `plotly.min.js` and `docs/*.html` there), sorted by name. Made, not kept in the
    repository: the bundle is the installed plotly's (uv.lock), the docs the cached pages of the
    code's fingerprint, the same bytes on every build."""
    from pipeline import data_docs
    from pipeline.gcp import pages
    from pipeline.local_pages import PLOTLY_BUNDLE

    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise ArtifactError("no plotly package: its bundle is a page asset (uv sync installs it)")
    bundle = Path(spec.origin).parent / PLOTLY_BUNDLE
    prefix = f"{DAG_PREFIX}/{PAGE_ASSETS_DIR}"
    return [
        Artifact(f"{prefix}/{pages.PLOTLY_FILE}", bundle),
        *(
            Artifact(f"{prefix}/{pages.DOCS_ASSETS}/{p.name}", p)
            for p in sorted(data_docs.rendered().glob("*.html"))
        ),
    ]


def airflowignore(artifacts: Iterable[Artifact]) -> str:
    """`.airflowignore` listing every uploaded Python module outside `pipeline/dags/`, and `sql/`.

    Airflow then parses only the DAG entry files; the helper modules are imported, not parsed.
    """
    prefix = f"{DAG_PREFIX}/"
    lines = ["# Generated by infra/artifacts.py: only pipeline/dags/ holds DAG files.", "sql/", "spark/"]
    for artifact in artifacts:
        relative = artifact.object_name.removeprefix(prefix)
        is_module = relative.startswith("pipeline/") and relative.endswith(".py")
        if is_module and not relative.startswith(f"{DAG_ENTRY_DIR}/"):
            lines.append(relative)
    return "\n".join(lines) + "\n"


def build_spark_dist(dist_dir: Path) -> None:
    """Build the packaged Spark job (`spark/package.py`) into `dist_dir`."""
    from spark import package

    package.build(dist_dir)


def spark_artifacts(dist_dir: Path, build: bool = True) -> list[Artifact]:
    """The packaged Spark job; builds `dist_dir` first when it is missing and `build` is true."""
    missing = [name for name in SPARK_FILES if not (dist_dir / name).is_file()]
    if missing and build:
        build_spark_dist(dist_dir)
        missing = [name for name in SPARK_FILES if not (dist_dir / name).is_file()]
    if missing:
        raise ArtifactError(f"{dist_dir} lacks {missing}: run python -m spark.package to build the Spark job")
    return [Artifact(name, dist_dir / file) for name, file in zip(SPARK_OBJECTS, SPARK_FILES, strict=True)]


def manifest(artifacts: Iterable[Artifact]) -> dict[str, str]:
    """Object name -> sha256 of the content: equal manifests mean a second `up` changes nothing."""
    return {a.object_name: a.sha256 for a in artifacts}

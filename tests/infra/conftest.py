"""Fixtures of the infra tests: fake Spark artefacts and the two mocked stacks, run once each.

Everything runs offline under `pulumi.runtime.set_mocks` (see `infra/mocks.py`); no Pulumi CLI,
provider plugin or GCP credentials are needed.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra import mocks

ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@pytest.fixture(scope="session")
def _infra_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The infra tests' own event loop, for the whole session: the mocked stacks are session
    fixtures whose outputs stay bound to the loop they were built on."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(autouse=True)
def _event_loop(_infra_loop: asyncio.AbstractEventLoop) -> None:
    """Pulumi's runtime uses the current event loop. A test of another concern that ran on the
    same xdist worker in between (`asyncio.run` in an SMTP or Airflow test) leaves the thread
    with no current loop at all, so every infra test makes the infra loop current again; setting
    it once per session failed one CI run in `test_opting_out_takes_a_reason`."""
    asyncio.set_event_loop(_infra_loop)


def write_spark_dist(out_dir: Path) -> None:
    """A stand-in for `spark/package.py`'s output, byte-for-byte reproducible like the real one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "job.py").write_text('"""Spark job entry point (test stand-in)."""\n', encoding="utf-8")
    with zipfile.ZipFile(out_dir / "cdi_spark.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("spark/__init__.py", date_time=ZIP_DATE)
        zf.writestr(info, "")


@pytest.fixture(scope="session")
def make_spark_dist() -> Callable[[Path], None]:
    """`write_spark_dist`, for tests that build the artefacts themselves."""
    return write_spark_dist


@pytest.fixture(scope="session")
def spark_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spark-dist")
    write_spark_dist(out)
    return out


@pytest.fixture(scope="session")
def dev_run(spark_dist: Path) -> mocks.StackRun:
    return mocks.run_stack("dev", {"cdi:sparkDistDir": str(spark_dist)})


@pytest.fixture(scope="session")
def prod_run(spark_dist: Path) -> mocks.StackRun:
    return mocks.run_stack("prod", {"cdi:sparkDistDir": str(spark_dist)})


@pytest.fixture(scope="session")
def stack_runs(dev_run: mocks.StackRun, prod_run: mocks.StackRun) -> dict[str, mocks.StackRun]:
    return {"dev": dev_run, "prod": prod_run}

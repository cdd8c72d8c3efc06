"""The local session's JVM class archive: named after what it is valid for, and really mapped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import spark_session


def _fake_java(folder: Path, body: str) -> Path:
    java = folder / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(body)
    java.chmod(0o755)
    return folder


def test_the_archive_is_named_after_the_java_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk-a", "#!/bin/sh\n")))
    first = spark_session.class_archive()
    assert first is not None
    assert first.parent == tmp_path / "cache" / "cdi"
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk-b", "#!/bin/sh\n# another build\n")))
    assert spark_session.class_archive() not in (None, first)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk-a"))
    assert spark_session.class_archive() == first
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "another-venv"))
    assert spark_session.class_archive() != first


def test_no_java_no_archive_and_no_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    assert spark_session.class_archive() is None
    assert spark_session.class_archive_options() == ""


def test_the_option_names_an_existing_archive_unless_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk", "#!/bin/sh\n")))
    assert spark_session.class_archive_options() == ""  # not written yet
    archive = spark_session.class_archive()
    assert archive is not None
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    assert spark_session.class_archive_options() == f"-XX:SharedArchiveFile={archive}"
    monkeypatch.setenv(spark_session.ARCHIVE_ENV, "off")
    assert spark_session.class_archive_options() == ""


_MAPPED = """
from pipeline import spark_session
path = spark_session.prepare_class_archive()
assert path is not None and path.is_file(), path
# -Xshare:on: the JVM refuses to start unless it maps the archive (class path, JVM build).
spark = spark_session._session(spark_session.class_archive_options() + " -Xshare:on", small_input=True)
print("rows", spark.range(3).count())
jvm = spark.sparkContext._jvm
bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
    jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
)
print("tier", bean.getVMOption("TieredStopAtLevel").getValue())
"""


def test_a_fresh_jvm_maps_the_archive_make_setup_writes() -> None:
    """The archive `make setup` writes (written here when missing) is used by a new session's JVM:
    with -Xshare:on a JVM that cannot map it does not start at all."""
    done = subprocess.run(
        [sys.executable, "-c", _MAPPED],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "rows 3" in done.stdout
    # A small run's JVM (`SMALL_INPUT_BYTES`) compiles with the first JIT tier only.
    assert "tier 1" in done.stdout


@pytest.mark.parametrize(
    ("input_bytes", "env", "small"),
    [
        (3 << 20, None, True),  # the demo's 31 files
        (spark_session.SMALL_INPUT_BYTES, None, False),
        (1 << 30, None, False),
        (None, None, False),  # unknown: as for a large input
        (3 << 20, "off", False),
    ],
)
def test_the_input_size_decides_the_jit_of_a_new_session(
    monkeypatch: pytest.MonkeyPatch, input_bytes: int | None, env: str | None, small: bool
) -> None:
    started: list[str] = []
    monkeypatch.setattr(
        spark_session,
        "_session",
        lambda archive, *, small_input: started.append(
            spark_session.jvm_options(archive, small_input=small_input)
        ),
    )
    if env is not None:
        monkeypatch.setenv(spark_session.FIRST_TIER_ENV, env)
    spark_session.get_spark(input_bytes)
    assert ("-XX:TieredStopAtLevel=1" in started[0]) is small

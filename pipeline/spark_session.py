"""The one local SparkSession of a process: started once per run, shared by every task.

`dag.test()` runs all tasks in one process, so the JVM starts once per `make run`, not per task.

A fresh JVM loads and verifies thousands of classes of Spark before its first row; a class-data
sharing archive of them (JDK AppCDS, `-XX:SharedArchiveFile`) maps them in ready-made instead.
`make setup` writes one per virtual environment and Java (`python -m pipeline.spark_session`: a
small run of the cleaning job on sample data, whose classes the JVM dumps when it exits), under
`~/.cache/cdi/`; without it the session starts as before. `make bench-daily` measures a one-file
run with and without it (bench/README.md).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import threading
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import cache_dir

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ARCHIVE_ENV = "CDI_SPARK_CLASS_ARCHIVE"
"""`off`: start the JVM without the class archive (how the benchmark measures what it saves)."""


SMALL_INPUT_BYTES = 32 << 20
"""Input below which the driver's JIT compiler stops at its first tier (C1,
`-XX:TieredStopAtLevel=1`). A run over a few megabytes is over before HotSpot's optimizing
compiler (C2) pays for itself: it spends more CPU compiling Spark's generated code than that code
then saves. Measured side by side (bench/README.md): one day's file (1,000 rows) 36 against
50 CPU-seconds; the demo's 31 files (32,000 rows) 47 against 71 and 37 against 43 s of wall
time; 100,000 and 200,000 rows (8.6 and 17 MB) 15 against 18-21 s and 17-18 against 23-25 s. At
1M rows (86 MB) C2 wins: 30-35 s against 39 s."""

FIRST_TIER_ENV = "CDI_SPARK_FIRST_TIER"
"""`off`: never stop the JIT at its first tier (how `make bench-daily` measures what it saves)."""


def get_spark(input_bytes: int | None = None) -> SparkSession:
    """The process's session, started with JVM options for a run over `input_bytes` of files
    (None: unknown) unless a session is already up (`start_in_background`)."""
    small = input_bytes is not None and input_bytes < SMALL_INPUT_BYTES
    return _session(class_archive_options(), small_input=small and os.environ.get(FIRST_TIER_ENV) != "off")


def jvm_options(archive_options: str, *, small_input: bool = False) -> str:
    """The driver's JVM options: the job's own (`spark.runtime.JVM_OPTIONS`), the archive's, and
    the first JIT tier only for a small input (`SMALL_INPUT_BYTES`)."""
    from spark.runtime import JVM_OPTIONS

    first_tier = "-XX:TieredStopAtLevel=1" if small_input else ""
    return " ".join(o for o in (JVM_OPTIONS, archive_options, first_tier) if o)


def _session(archive_options: str, *, small_input: bool = False) -> SparkSession:
    from pyspark.sql import SparkSession

    cores = os.cpu_count() or 2
    spark = (
        SparkSession.builder.master(os.environ.get("CDI_SPARK_MASTER", "local[*]"))
        .appName("cdi-clean")
        .config("spark.driver.memory", os.environ.get("CDI_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.driver.extraJavaOptions", jvm_options(archive_options, small_input=small_input))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
        .config("spark.ui.enabled", "false")
        # The call site of every DataFrame call, sent to the JVM for error messages in notebooks:
        # about half of the job's Py4J calls (a static setting, hence here and not in the job).
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def start_in_background(input_bytes: int | None = None) -> None:
    """Start the session on a daemon thread; `get_spark` then returns it (the builder's lock makes
    a caller that comes early wait for this start instead of starting a second one)."""
    threading.Thread(target=get_spark, args=(input_bytes,), name="spark-start", daemon=True).start()


# The class-data sharing archive -------------------------------------------------------------------


def _java() -> Path | None:
    """The `java` Spark's launcher runs: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def class_archive() -> Path | None:
    """Where the archive of this environment's Spark and this Java lives (None: no Java found).

    An archive is valid only for the JVM build and the class path it was written with, so both are
    in its name: the environment's pyspark (its jars) and the java binary (path, size, time).
    """
    java = _java()
    if java is None:
        return None
    stat = java.stat()
    jdk = hashlib.sha256(f"{java}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / f"spark-{version('pyspark')}-{_venv_key()}-{jdk}.jsa"


def _venv_key() -> str:
    """The environment's part of an archive's name: its jars are on the JVM's class path."""
    return hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]


def class_archive_options() -> str:
    """The JVM option that maps the archive in, when there is one and it is not turned off."""
    path = class_archive()
    if os.environ.get(ARCHIVE_ENV) == "off" or path is None or not path.is_file():
        return ""
    return f"-XX:SharedArchiveFile={path}"


def prepare_class_archive() -> Path | None:
    """Write the archive unless it exists: a small run of the cleaning job on sample data in every
    format, in a JVM that dumps the classes it loaded when it exits (about a minute, once).

    :returns: the archive, or None when there is no Java to write it for.
    """
    path = class_archive()
    if path is None or path.is_file():
        return path
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        raise RuntimeError("the class archive is written by a JVM of its own: call this before any session")

    from pipeline import sample_data
    from spark.job import LOG, InputFile, JobConfig, run_job

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    # -Xlog: the dump notes every class it leaves out (generated code, signed jars): a thousand lines.
    spark = _session(f"-XX:ArchiveClassesAtExit={partial} -Xlog:cds*=off")
    with tempfile.TemporaryDirectory(prefix="cdi-class-archive-") as work:
        landing = Path(work) / "landing"
        spec = sample_data.SampleSpec(days=30, customers=60, agents=5, orders_per_day=20)
        files = sample_data.generate(landing, spec)
        inputs = tuple(
            InputFile(p.relative_to(landing).parts[0], str(p), str(p.relative_to(landing))) for p in files
        )
        end = datetime.combine(spec.start, datetime.min.time(), UTC).replace(year=spec.start.year + 1)
        LOG.disabled = True  # its step log is not news during `make setup`
        try:
            config = JobConfig(run_id="class-archive", inputs=inputs, output=f"{work}/out", logical_end=end)
            run_job(spark, config)
        finally:
            LOG.disabled = False
        spark.stop()
    # The JVM writes the archive as it exits; it exits when its stdin (our pipe) closes.
    process = SparkContext._gateway.proc  # type: ignore[union-attr]
    process.stdin.close()
    process.wait(timeout=300)
    SparkContext._gateway = None
    SparkContext._jvm = None
    if not partial.is_file():
        return None
    for stale in path.parent.glob(f"spark-*-{_venv_key()}-*.jsa"):
        stale.unlink()  # the same environment's archive of an older pyspark or Java
    partial.replace(path)
    return path


def main() -> int:
    """`python -m pipeline.spark_session`: prepare the archive (`make setup`), quiet when it exists."""
    path = class_archive()
    if path is not None and not path.is_file():
        print(f"spark: writing the JVM class archive {path} (once, about a minute)", flush=True)
        try:
            written = prepare_class_archive()
        except Exception as error:  # an optimization only: Spark starts without it, a little slower
            print(f"spark: no class archive ({type(error).__name__}: {error}); Spark starts without it")
            return 0
        size = f"{written.stat().st_size >> 20} MiB" if written else "not written"
        print(f"spark: class archive {size}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The one local SparkSession of a process: started once per run, shared by every task.

`dag.test()` runs all tasks in one process, so the JVM starts once per `make run`, not per task.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def get_spark() -> SparkSession:
    from pyspark.sql import SparkSession

    from spark.runtime import JVM_OPTIONS

    cores = os.cpu_count() or 2
    spark = (
        SparkSession.builder.master(os.environ.get("CDI_SPARK_MASTER", "local[*]"))
        .appName("cdi-clean")
        .config("spark.driver.memory", os.environ.get("CDI_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.driver.extraJavaOptions", JVM_OPTIONS)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def start_in_background() -> None:
    """Start the session on a daemon thread; `get_spark` then returns it (the builder's lock makes
    a caller that comes early wait for this start instead of starting a second one)."""
    threading.Thread(target=get_spark, name="spark-start", daemon=True).start()

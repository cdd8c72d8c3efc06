"""One local SparkSession for the whole tests/spark run (starting Spark is most of the cost)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T  # noqa: N812

from pipeline.spark_session import class_archive_options, jvm_options
from spark import contract, read, transform


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # Python workers (the customers phone formatter) must run this venv's interpreter.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cdi-spark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.extraJavaOptions", jvm_options(class_archive_options()))
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Tiny frames: compiling generated code costs more than it saves, so interpret.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()


CanonicalFactory = Callable[..., DataFrame]

# The per-file reading columns `transform.to_canonical` adds, as a file with default settings has them.
READING_DEFAULTS: dict[str, str | None] = {
    transform.DATE_ISSUE: None,
    transform.DATE_ORDER: "ymd",
    transform.DECIMAL: ".",
    transform.SOURCE_TZ: "UTC",
    transform.DEFAULT_CURRENCY: "USD",
}


@pytest.fixture(scope="session")
def canonical(spark: SparkSession) -> CanonicalFactory:
    """Build a canonical frame (what `transform.to_canonical` yields) from dicts of raw strings.

    `canonical("transactions", [{"transaction_id": "T1", ...}, ...])`: row i gets record number
    i + 1 of file 0 unless `_record_number` / `_file_idx` are given; absent columns are null.
    """

    def build(entity: str, rows: list[dict[str, Any]], source_file: str = "landing/f.csv") -> DataFrame:
        columns = list(contract.ENTITIES[entity].source_columns)
        schema = T.StructType(
            [
                T.StructField(transform.FILE_INDEX, T.IntegerType()),
                T.StructField(transform.SOURCE_FILE, T.StringType()),
                T.StructField(read.RECORD_NUMBER, T.LongType()),
                T.StructField(read.CORRUPT, T.StringType()),
                T.StructField(transform.MISSING_COLUMN, T.StringType()),
                *[T.StructField(c, T.StringType()) for c in columns],
                T.StructField(transform.EXTRA, T.StringType()),
                *[T.StructField(c, T.StringType()) for c in READING_DEFAULTS],
                T.StructField(transform.SHAPE, T.IntegerType()),
            ]
        )
        data = [
            (
                row.get(transform.FILE_INDEX, 0),
                row.get(transform.SOURCE_FILE, source_file),
                row.get(read.RECORD_NUMBER, i + 1),
                row.get(read.CORRUPT),
                row.get(transform.MISSING_COLUMN),
                *[row.get(c) for c in columns],
                row.get(transform.EXTRA),
                *[row.get(c, default) for c, default in READING_DEFAULTS.items()],
                row.get(transform.SHAPE, 0),
            )
            for i, row in enumerate(rows)
        ]
        return spark.createDataFrame(data, schema).transform(transform.with_key(entity))

    return build

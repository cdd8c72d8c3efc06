"""Spark schemas built from the table schemas in `sql/schemas/` (the one source of truth).

BigQuery type -> Spark type: STRING and JSON (JSON text) -> string, INTEGER -> long,
NUMERIC(p, s) -> decimal(p, s), TIMESTAMP -> timestamp (UTC), DATE -> date, BOOLEAN -> boolean,
FLOAT -> double.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

from sql import catalog

# BigQuery NUMERIC without an explicit precision is NUMERIC(38, 9).
_DEFAULT_NUMERIC = (38, 9)

_SIMPLE_TYPES: dict[str, T.DataType] = {
    "STRING": T.StringType(),
    "JSON": T.StringType(),
    "INTEGER": T.LongType(),
    "INT64": T.LongType(),
    "TIMESTAMP": T.TimestampType(),
    "DATE": T.DateType(),
    "BOOLEAN": T.BooleanType(),
    "BOOL": T.BooleanType(),
    "FLOAT": T.DoubleType(),
    "FLOAT64": T.DoubleType(),
}


def spark_type(field: catalog.Field) -> T.DataType:
    """Spark type of one BigQuery schema field.

    :param field: a field of `catalog.table(...)`.
    :returns: the matching Spark `DataType`.
    :raises ValueError: for a type the pipeline does not use.
    """
    if field.type in ("NUMERIC", "DECIMAL"):
        precision, scale = _DEFAULT_NUMERIC
        if field.precision is not None:
            precision, scale = field.precision, field.scale or 0
        return T.DecimalType(precision, scale)
    if field.type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[field.type]
    raise ValueError(f"column {field.name!r}: no Spark type for BigQuery type {field.type!r}")


def struct_type(table: str) -> T.StructType:
    """Spark schema of a table, e.g. `struct_type("silver.transactions")`.

    :param table: qualified table name (`dataset.name`).
    :returns: a `StructType` with the table's columns in order; REQUIRED columns are not nullable.
    """
    return T.StructType(
        [T.StructField(f.name, spark_type(f), nullable=not f.required) for f in catalog.table(table).fields]
    )


def conform(table: str) -> Callable[[DataFrame], DataFrame]:
    """Select exactly the table's columns, in order, cast to the table's types.

    :param table: qualified table name.
    :returns: a transform `DataFrame -> DataFrame`.
    """
    schema = struct_type(table)

    def _(df: DataFrame) -> DataFrame:
        # Cast by type name: a DataType object crosses Py4J as JSON the JVM parses, through a few
        # calls per column, which a small run pays for every column of every output.
        return df.select(
            *[F.col(f.name).cast(f.dataType.simpleString()).alias(f.name) for f in schema.fields]
        )

    return _


def empty_frame(spark: SparkSession, table: str) -> DataFrame:
    """An empty DataFrame with the table's schema."""
    return spark.createDataFrame([], struct_type(table))

"""BigQuery job bodies of the gcp target, as the REST `JobConfiguration` the API documents.

Pure functions: they read the SQL files and schema files under `sql/` and return dicts; the operators
in `pipeline.gcp.operators` send them. The statements are the files themselves, the same the local
target runs; where a step needs more than one statement in one transaction, the script is the files'
texts in order (`script`), the transaction itself two files (`transaction/begin.sql`,
`transaction/commit.sql`), and run-time values are named query parameters.

How each write is made idempotent (the BigQuery twin of `pipeline.warehouse`):
- silver staging: load jobs of the Spark job's Parquet into `<table>_staging` (or `<table>_load`,
  then `staging/*_parse_json.sql`), WRITE_TRUNCATE, with the schema from `sql/schemas/`; an empty
  staging table (`staging/*_empty.sql`) for what the run did not carry; then the affected days
  (`silver/affected_days.sql`), then one script: in one transaction the run's quarantine and file
  stats replaced, displaced rows quarantined, the MERGE files and the days queued.
- gold `partitions` steps: one MERGE that deletes the affected day partitions (`@days`) and inserts
  the file's rows, atomically (a single DML statement; DELETE of whole partitions is pruned to them).
  A rerun gives the same rows; days outside `@days` are never touched.
- gold `table` steps: a query job into the table with WRITE_TRUNCATE_DATA (replace the rows, keep the
  table's schema, descriptions, partitioning and clustering).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pipeline import plan
from sql import catalog

_COMMENTS_AND_STRINGS = re.compile(
    r"--[^\n]*|#[^\n]*|/\*.*?\*/|[rR]?'''.*?'''|[rR]?\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|`[^`]*`",
    re.DOTALL,
)
_PARAMETER = re.compile(r"@(\w+)")


def used_parameters(sql_text: str) -> set[str]:
    """Named parameters (`@name`) a statement or script uses, outside comments and literals."""
    return set(_PARAMETER.findall(_COMMENTS_AND_STRINGS.sub(" ", sql_text)))


def statement(sql_text: str) -> str:
    """A file's single statement, without the trailing semicolon, for embedding in a script."""
    return sql_text.strip().rstrip(";").rstrip()


def _scalar_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, Decimal):
        return "NUMERIC"
    if isinstance(value, datetime):
        return "TIMESTAMP"
    if isinstance(value, date):
        return "DATE"
    if isinstance(value, str):
        return "STRING"
    raise TypeError(f"no BigQuery parameter type for {type(value).__name__}")


def _scalar_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def query_parameter(name: str, value: Any) -> dict[str, Any]:
    """One REST `QueryParameter` (scalar or array of scalars)."""
    if isinstance(value, list | tuple):
        element = _scalar_type(value[0]) if value else plan.ARRAY_PARAMETER_TYPES.get(name, "STRING")
        return {
            "name": name,
            "parameterType": {"type": "ARRAY", "arrayType": {"type": element}},
            "parameterValue": {"arrayValues": [{"value": _scalar_value(v)} for v in value]},
        }
    if value is None:
        raise ValueError(f"query parameter @{name} is None")
    return {
        "name": name,
        "parameterType": {"type": _scalar_type(value)},
        "parameterValue": {"value": _scalar_value(value)},
    }


def query_parameters(sql_text: str, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parameters a statement uses, bound from `values`; a missing one is an error naming it."""
    needed = used_parameters(sql_text)
    missing = sorted(needed - values.keys())
    if missing:
        raise KeyError(f"query parameters not bound: {', '.join('@' + m for m in missing)}")
    return [query_parameter(name, values[name]) for name in sorted(needed)]


def table_reference(project: str, qualified_name: str) -> dict[str, str]:
    dataset, table = qualified_name.split(".", 1)
    return {"projectId": project, "datasetId": dataset, "tableId": table}


def staging_table(qualified_name: str) -> str:
    return f"{qualified_name}_staging"


def query_job(
    sql_text: str,
    values: Mapping[str, Any] | None = None,
    *,
    destination: dict[str, str] | None = None,
    write_disposition: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A GoogleSQL query job with its named parameters bound."""
    query: dict[str, Any] = {
        "query": sql_text,
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": query_parameters(sql_text, values or {}),
    }
    if destination is not None:
        query["destinationTable"] = destination
        query["writeDisposition"] = write_disposition or "WRITE_TRUNCATE_DATA"
        query["createDisposition"] = "CREATE_NEVER"
    job: dict[str, Any] = {"query": query}
    if labels:
        job["labels"] = dict(labels)
    return job


def json_columns(qualified_name: str) -> tuple[str, ...]:
    """The table's JSON columns."""
    return tuple(f.name for f in catalog.table(qualified_name).fields if f.type == "JSON")


def parquet_load_schema(qualified_name: str) -> list[dict[str, Any]]:
    """The table's schema for a Parquet load job: its JSON columns as STRING.

    A load job fills a JSON column only from CSV, Avro or JSON files (BigQuery's JSON documentation,
    "Limitations"); from Parquet, the JSON text lands as STRING and `parse_json_file` types it.
    """
    return [
        {**field, "type": "STRING"} if field["type"] == "JSON" else field
        for field in catalog.table(qualified_name).schema_json()
    ]


def load_parquet_job(
    project: str, source_uris: Sequence[str], qualified_destination: str, schema_of: str
) -> dict[str, Any]:
    """Load Parquet into a table, replacing it (WRITE_TRUNCATE), with the schema of `schema_of`
    (`parquet_load_schema`: its JSON columns as STRING)."""
    return {
        "load": {
            "sourceUris": list(source_uris),
            "sourceFormat": "PARQUET",
            "destinationTable": table_reference(project, qualified_destination),
            "schema": {"fields": parquet_load_schema(schema_of)},
            "writeDisposition": "WRITE_TRUNCATE",
            "createDisposition": "CREATE_IF_NEEDED",
            "decimalTargetTypes": ["NUMERIC", "BIGNUMERIC"],
            "parquetOptions": {"enableListInference": True},
        }
    }


def script(*texts: str) -> str:
    """A BigQuery script of statements, each the text of one SQL file, in order. It adds no SQL of
    its own: the transaction around the statements is itself two files (`transaction/*.sql`).

    A transaction lives in one query (outside sessions) and rolls back when the script fails before
    COMMIT; it may hold DML and queries but no DDL on permanent tables, which is why the staging
    tables are made by jobs of their own (https://cloud.google.com/bigquery/docs/transactions)."""
    return "".join(f"{statement(text)};\n" for text in texts)


def file_job(relative: str, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A query job running `sql/<relative>` with its named parameters bound."""
    return query_job(catalog.read_sql(relative), values)


# --- silver ---------------------------------------------------------------------------------------


def load_table(qualified_name: str) -> str:
    """The table a Parquet load job of `qualified_name`'s staged rows writes: the staging table, or
    for a table with JSON columns `<table>_load` (its JSON as STRING), from which
    `staging/<dataset>_<table>_parse_json.sql` makes the staging table."""
    return f"{qualified_name}_load" if json_columns(qualified_name) else staging_table(qualified_name)


def parse_json_file(qualified_name: str) -> str | None:
    """`staging/<dataset>_<table>_parse_json.sql` for a table with JSON columns, else None."""
    return (
        f"staging/{qualified_name.replace('.', '_')}_parse_json.sql" if json_columns(qualified_name) else None
    )


def empty_staging_file(qualified_name: str) -> str:
    """`staging/<dataset>_<table>_empty.sql`: an empty staging table (the run carried no such rows)."""
    return f"staging/{qualified_name.replace('.', '_')}_empty.sql"


def silver_script() -> str:
    """The silver load's transaction, then the days pending a gold build (the script's result).

    The twin of the local `load_silver` (`pipeline.silver_load.load_run`): the same files, in the
    same order, bound to the same parameters (the run id, and the affected days the job before it
    read from the staged rows, with their bounds, `plan.day_bounds`). A failing statement rolls the
    whole transaction back, and a rerun of the run gives the same tables.
    """
    files = (plan.BEGIN_SQL, *plan.SILVER_AUDIT_FILES, *plan.SILVER_MERGE_FILES, plan.COMMIT_SQL)
    return script(*(catalog.read_sql(f) for f in (*files, plan.PENDING_DAYS_SQL)))


# --- gold ------------------------------------------------------------------------------------------


def gold_include(step: plan.GoldStep) -> str:
    """The templated query of a gold step: the file itself, through the DAG's template_searchpath."""
    return f"{{% include '{step.sql}' %}}"


def replace_days_merge(qualified_table: str, select_text: str) -> str:
    """One MERGE that replaces the `@days` partitions of a table with the rows of a SELECT.

    `ON FALSE` makes every target row "not matched by source" (deleted when its day is in @days) and
    every source row "not matched" (inserted by column name): the atomic twin of
    `warehouse.overwrite_partitions`.
    """
    table = catalog.table(qualified_table)
    if table.partition_field is None:
        raise ValueError(f"{qualified_table} is not partitioned")
    column = table.partition_field
    day = f"DATE(target.{column})" if table.field(column).type == "TIMESTAMP" else f"target.{column}"
    cols = ", ".join(table.column_names)
    values = ", ".join(f"source.{c}" for c in table.column_names)
    return (
        f"MERGE {qualified_table} AS target\n"
        f"USING (\n{statement(select_text)}\n) AS source\n"
        "ON FALSE\n"
        f"WHEN NOT MATCHED BY SOURCE AND {day} IN UNNEST(@days) THEN DELETE\n"
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})"
    )


def gold_configuration(step: plan.GoldStep, project: str) -> dict[str, Any]:
    """The templated configuration of a gold step (query = the file, parameters bound at render)."""
    query: dict[str, Any] = {
        "query": gold_include(step),
        "useLegacySql": False,
        "parameterMode": "NAMED",
    }
    if step.mode == "table":
        query["destinationTable"] = table_reference(project, step.table)
        query["writeDisposition"] = "WRITE_TRUNCATE_DATA"
        query["createDisposition"] = "CREATE_NEVER"
    return {"query": query, "labels": {"pipeline": "customer-analytics", "layer": "gold"}}


def finalize_gold(step: plan.GoldStep, configuration: dict[str, Any], values: Mapping[str, Any]) -> None:
    """After rendering: wrap a `partitions` step in its MERGE and bind the run's parameters."""
    query = configuration["query"]
    if step.mode == "partitions":
        query["query"] = replace_days_merge(step.table, query["query"])
    query["queryParameters"] = query_parameters(query["query"], values)

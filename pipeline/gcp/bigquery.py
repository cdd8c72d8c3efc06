"""BigQuery job bodies of the gcp target, as the REST `JobConfiguration` the API documents.

Pure functions: they read the SQL files and schema files under `sql/` and return dicts; the operators
in `pipeline.gcp.operators` send them. The statements are the files themselves; where a step needs
more than one statement (stage, check, merge in one transaction) the file text is embedded verbatim
in a script whose glue names only tables, never run-time values (those are named query parameters).

How each write is made idempotent (the BigQuery twin of `pipeline.warehouse`):
- silver staging: load jobs of the Spark job's Parquet into `silver.<entity>_staging`, WRITE_TRUNCATE,
  with the schema from `sql/schemas/`; then one script: affected days, then in one transaction the
  run's quarantine and file stats replaced, displaced rows quarantined, and the MERGE files.
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
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


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
    "Limitations"); from Parquet, the JSON text lands as STRING and `parse_json_job` types it.
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


def parse_json_job(qualified_staging: str, schema_of: str) -> dict[str, Any] | None:
    """After a Parquet load: the staging table with its JSON columns parsed from their text, so that it
    has the schema of `schema_of`, the table it is merged into (None: no JSON column)."""
    columns = json_columns(schema_of)
    if not columns:
        return None
    parsed = ", ".join(f"PARSE_JSON({c}) AS {c}" for c in columns)
    return query_job(
        f"CREATE OR REPLACE TABLE {qualified_staging} AS\n"
        f"SELECT * REPLACE ({parsed})\nFROM {qualified_staging}"
    )


def empty_staging_job(qualified_name: str) -> dict[str, Any]:
    """Replace a staging table by an empty one (an entity the run's files did not carry).

    The filter is on the partition column when there is one, so it satisfies
    require_partition_filter and reads no partition.
    """
    table = catalog.table(qualified_name)
    where = "FALSE"
    if table.partition_field is not None:
        kind = table.field(table.partition_field).type
        bound = "TIMESTAMP '0001-01-01 00:00:00+00'" if kind == "TIMESTAMP" else f"{kind} '0001-01-01'"
        where = f"{table.partition_field} < {bound}"
    sql_text = (
        f"CREATE OR REPLACE TABLE {staging_table(qualified_name)} AS\n"
        f"SELECT * FROM {qualified_name} WHERE {where}"
    )
    return query_job(sql_text)


# --- silver ---------------------------------------------------------------------------------------

STAGED_AUDIT_TABLES = ("audit.quarantine", "audit.file_stats")


def _columns(qualified_name: str) -> str:
    return ", ".join(catalog.table(qualified_name).column_names)


PENDING_DAYS_SQL = "SELECT DISTINCT day FROM audit.run_days WHERE status = 'pending' ORDER BY day;"
BUILT_DAYS_SQL = (
    "UPDATE audit.run_days SET status = 'built' WHERE status = 'pending' AND day IN UNNEST(@days);"
)


# Script variables holding the affected days, bound to the day parameters of the silver files.
SILVER_DAY_VARIABLES = {
    "days": "affected_day_list",
    "first_day": "first_affected_day",
    "last_day": "last_affected_day",
}


def _with_day_parameters(sql_text: str) -> str:
    """A statement of a silver file that takes the affected days, run with `EXECUTE IMMEDIATE` so that
    its `@days`, `@first_day` and `@last_day` are bound from the script's variables (a query
    parameter cannot be set inside a script). The file text is embedded verbatim in a raw string."""
    if '"""' in sql_text or sql_text.rstrip().endswith('"'):
        raise ValueError("a statement run with EXECUTE IMMEDIATE cannot hold triple double quotes")
    used = used_parameters(sql_text)
    bindings = [f"{SILVER_DAY_VARIABLES[n]} AS {n}" for n in SILVER_DAY_VARIABLES if n in used]
    bindings += [f"@{n} AS {n}" for n in sorted(used - SILVER_DAY_VARIABLES.keys())]
    using = f"\nUSING {', '.join(bindings)}" if bindings else ""
    return f'EXECUTE IMMEDIATE r"""\n{sql_text}\n"""{using};'


def silver_script() -> str:
    """Affected days, then the silver MERGEs and the run's audit rows in one transaction.

    The twin of the local `load_silver` (`pipeline.silver_load.load_run`): days are read before the
    MERGE (from the staged rows), the displaced rows are quarantined before the MERGE replaces them,
    and the run's quarantine and file stats rows are replaced, so a rerun of the run gives the same
    tables. The displaced query and the transactions MERGE read only the affected days: their day
    parameters are bound from script variables set from the affected days (`plan.day_bounds`: an
    empty range when there are none). The last statement returns the days pending a gold build.
    """
    quarantine = _columns("audit.quarantine")
    variables = SILVER_DAY_VARIABLES
    no_first, no_last = (plan.NO_DAYS_BOUNDS[k].isoformat() for k in ("first_day", "last_day"))
    parts = [
        f"DECLARE {variables['days']} ARRAY<DATE>;",
        f"DECLARE {variables['first_day']} DATE;",
        f"DECLARE {variables['last_day']} DATE;",
        "CREATE TEMP TABLE affected_days AS\n"
        + statement(catalog.read_sql("silver/affected_days.sql"))
        + ";",
        f"SET ({variables['days']}, {variables['first_day']}, {variables['last_day']}) = (\n"
        "    SELECT AS STRUCT\n"
        "        IFNULL(ARRAY_AGG(day ORDER BY day), []),\n"
        f"        IFNULL(MIN(day), DATE '{no_first}'),\n"
        f"        IFNULL(MAX(day), DATE '{no_last}')\n"
        "    FROM affected_days\n"
        ");",
        "BEGIN TRANSACTION;",
    ]
    # The run's own quarantine rows are replaced; the DUPLICATE_KEY rows it displaced from earlier
    # files stay (after a committed MERGE a rerun cannot find them again).
    run_files = f"(SELECT source_file FROM {staging_table('audit.file_stats')})"
    for qualified in STAGED_AUDIT_TABLES:
        only_run_files = f" AND source_file IN {run_files}" if qualified == "audit.quarantine" else ""
        parts.append(f"DELETE FROM {qualified} WHERE run_id = @run_id{only_run_files};")
    for qualified in STAGED_AUDIT_TABLES:
        cols = _columns(qualified)
        parts.append(f"INSERT INTO {qualified} ({cols})\nSELECT {cols} FROM {staging_table(qualified)};")
    parts.append(
        _with_day_parameters(
            f"INSERT INTO audit.quarantine ({quarantine})\nSELECT {quarantine} FROM (\n"
            + statement(catalog.read_sql("silver/transactions_displaced.sql"))
            + "\n) AS displaced"
        )
    )
    # The key -> day index, before the transactions MERGE (it reads the rows that MERGE replaces).
    parts.append(_with_day_parameters(statement(catalog.read_sql("silver/transaction_keys_merge.sql"))))
    for entity in plan.SILVER_ENTITIES:
        text = statement(catalog.read_sql(f"silver/{entity}_merge.sql"))
        day_bound = used_parameters(text) & SILVER_DAY_VARIABLES.keys()
        parts.append(_with_day_parameters(text) if day_bound else text + ";")
    # Queue the days for the gold build; a run that dies leaves them pending for the next one. A rerun
    # queues again every day the run recorded before (a committed MERGE hides the old day of a moved
    # row from a recomputation), as `silver_load.record_days` does locally.
    parts.append("UPDATE audit.run_days SET status = 'pending' WHERE run_id = @run_id;")
    parts.append(
        "INSERT INTO audit.run_days (run_id, day, status)\n"
        "SELECT @run_id, day, 'pending' FROM affected_days\n"
        "WHERE day NOT IN (SELECT day FROM audit.run_days WHERE run_id = @run_id);"
    )
    parts.append("COMMIT TRANSACTION;")
    parts.append(PENDING_DAYS_SQL)
    return "\n".join(parts) + "\n"


# --- data-quality checks -----------------------------------------------------------------------------


def checks_script(checks: Sequence[plan.Check]) -> str:
    """Run the checks of a stage, record each in audit.dq_results (replacing the run's earlier result),
    and return them. Each check file returns one row (`failures`, `detail`)."""
    selects = []
    for check in checks:
        for literal in (check.name, check.severity):
            if not _IDENTIFIER.match(literal):
                raise ValueError(f"unsafe check name or severity {literal!r} (sql/{check.sql})")
        selects.append(
            f"SELECT @run_id AS run_id, '{check.name}' AS check_name, '{check.severity}' AS severity,\n"
            "    COALESCE(CAST(failures AS INT64), 0) = 0 AS passed,\n"
            "    COALESCE(CAST(failures AS INT64), 0) AS failures,\n"
            "    CAST(detail AS STRING) AS detail\n"
            f"FROM (\n{statement(catalog.read_sql(check.sql))}\n) AS check_result"
        )
    cols = _columns("audit.dq_results")
    return (
        "BEGIN TRANSACTION;\n"
        "DELETE FROM audit.dq_results WHERE run_id = @run_id AND check_name IN UNNEST(@check_names);\n"
        f"INSERT INTO audit.dq_results ({cols})\n"
        + "\nUNION ALL\n".join(selects)
        + ";\nCOMMIT TRANSACTION;\n"
        f"SELECT {cols} FROM audit.dq_results\n"
        "WHERE run_id = @run_id AND check_name IN UNNEST(@check_names)\nORDER BY check_name;\n"
    )


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


# --- report ----------------------------------------------------------------------------------------


def report_figures_sql() -> str:
    """The run's figures for the report, one row per figure (file stats, reasons, checks, gold counts,
    the previous runs); parameters `@run_id` and `@logical_date`."""
    gold_counts = "\n    UNION ALL ".join(
        f"SELECT '{s.table}' AS table_name, COUNT(*) AS row_count FROM {s.table}" for s in plan.GOLD_STEPS
    )
    return (
        "SELECT 'file' AS kind, source_file AS name, rows_read AS a, rows_valid AS b, rows_quarantined AS c,\n"
        "    error AS detail\nFROM audit.file_stats WHERE run_id = @run_id\n"
        "UNION ALL\n"
        "SELECT 'reason', reason, COUNT(*), 0, 0, CAST(NULL AS STRING)\n"
        "FROM audit.quarantine WHERE run_id = @run_id GROUP BY reason\n"
        "UNION ALL\n"
        "SELECT 'check', check_name, failures, IF(passed, 1, 0), 0, severity\n"
        "FROM audit.dq_results WHERE run_id = @run_id\n"
        "UNION ALL\n"
        "SELECT 'gold', table_name, row_count, 0, 0, CAST(NULL AS STRING) FROM (\n    "
        + gold_counts
        + "\n)\n"
        "UNION ALL\n"
        "SELECT 'displaced', 'silver.transactions', COUNT(*), 0, 0, CAST(NULL AS STRING)\n"
        "FROM audit.quarantine WHERE run_id = @run_id AND reason = 'DUPLICATE_KEY'\n"
        "    AND source_file NOT IN (SELECT source_file FROM audit.file_stats WHERE run_id = @run_id)\n"
        + "".join(
            # The run before this one and the latest that claimed a file (`report.PREVIOUS_RUNS_SQL`).
            f"UNION ALL\nSELECT '{kind}', run_id, files, 0, 0, CAST(NULL AS STRING) FROM (\n"
            "    SELECT run_id, files FROM audit.pipeline_runs\n"
            f"    WHERE run_id != @run_id AND logical_date <= @logical_date{condition}\n"
            "    ORDER BY logical_date DESC, run_id DESC LIMIT 1\n)\n"
            for kind, condition in (("previous_run", ""), ("last_file_run", " AND files > 0"))
        )
    )


def pipeline_run_script() -> str:
    """Replace the run's row of audit.pipeline_runs."""
    cols = _columns("audit.pipeline_runs")
    values = ", ".join(f"@{c}" for c in catalog.table("audit.pipeline_runs").column_names)
    return (
        "BEGIN TRANSACTION;\n"
        "DELETE FROM audit.pipeline_runs WHERE run_id = @run_id;\n"
        f"INSERT INTO audit.pipeline_runs ({cols}) VALUES ({values});\n"
        "COMMIT TRANSACTION;\n"
    )

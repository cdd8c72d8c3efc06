"""The GoogleSQL analyzer (ZetaSQL, the front end of BigQuery's dialect) run over the SQL files.

The catalog comes from the schema files (`sql.catalog`): one sub-catalog per dataset (`silver`,
`gold`, `audit`), so `silver.transactions` resolves as BigQuery resolves it, plus the
`silver.<t>_staging` twins the load jobs write. Named query parameters are declared with their
types (`QUERY_PARAMETER_TYPES`), so an unknown `@name` is an error too. Analysis resolves every
name, type, function and grouping the way BigQuery does: a misspelled column, a DuckDB-only
function or an ungrouped column fails here, offline, instead of in production.

ZetaSQL runs as WebAssembly (PyPI `zetasql`). Compiling the module takes ~25 s on this machine, so
it is compiled once per machine into wasmtime's on-disk cache and then loads in about a second.
`python -m pipeline.sql_analyzer [relative.sql ...]` analyzes files (default: every file under
sql/silver, sql/gold, sql/checks and sql/restate), prints each rejection, and exits 1 if any file
was rejected.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from sql import catalog

log = logging.getLogger(__name__)

# Every run-time value a SQL file may take, with its BigQuery type; the runners bind these names.
QUERY_PARAMETER_TYPES: dict[str, str] = {
    "run_id": "STRING",
    "run_date": "DATE",
    "days": "ARRAY<DATE>",
    "first_day": "DATE",
    "last_day": "DATE",
    "rows_valid": "INT64",
    "reporting_tz": "STRING",
    "reporting_currency": "STRING",
    "fx_max_gap_days": "INT64",
    # The gold tables a run records as built, and their SQL fingerprints (pipeline/restate.py).
    "table_names": "ARRAY<STRING>",
    "fingerprints": "ARRAY<STRING>",
    # The run's row of audit.pipeline_runs (runs/pipeline_run_merge.sql, the report task).
    "logical_date": "DATE",
    "target": "STRING",
    "files": "INT64",
    "rows_read": "INT64",
    "rows_quarantined": "INT64",
    "affected_days": "STRING",
    "step_seconds": "STRING",
    "outcome": "STRING",
    # The filters of `cdi quarantine` (runs/quarantined_rows.sql, with run_id): null filters nothing.
    "reason": "STRING",
    "file": "STRING",
    # The check results a run records (dq/results_merge.sql, `plan.check_result_parameters`).
    "check_names": "ARRAY<STRING>",
    "severities": "ARRAY<STRING>",
    "failures": "ARRAY<INT64>",
    "details": "ARRAY<STRING>",
    # The claim ledger audit.processed_files: one claim of a file's bytes by a run (sql/claims/).
    "source_file": "STRING",
    "content_sha256": "STRING",
    "entity": "STRING",
    "size_bytes": "INT64",
    "archive_path": "STRING",
    "settings_sha256": "STRING",
    "attempt": "INT64",
    # What earlier attempts of the files a run claims again left (claims/earlier_*.sql): the
    # files, and the runs whose rows of them stay (they claimed other bytes at the path).
    "source_files": "ARRAY<STRING>",
    "kept_runs": "ARRAY<STRING>",
}

# Folders under sql/ that hold statements (schemas/ holds the table definitions). Every folder of
# sql/ but schemas/ must be listed here (tests/sql/test_sql_files.py), so a new one is analyzed.
STATEMENT_FOLDERS = (
    "silver",
    "gold",
    "checks",
    "restate",
    "runs",
    "dq",
    "staging",
    "transaction",
    "health",
    "dashboard",
    "claims",
)

_TYPE_KINDS = {
    "STRING": "TYPE_STRING",
    "INTEGER": "TYPE_INT64",
    "INT64": "TYPE_INT64",
    "FLOAT": "TYPE_DOUBLE",
    "FLOAT64": "TYPE_DOUBLE",
    "NUMERIC": "TYPE_NUMERIC",
    "BIGNUMERIC": "TYPE_BIGNUMERIC",
    "BOOLEAN": "TYPE_BOOL",
    "BOOL": "TYPE_BOOL",
    "TIMESTAMP": "TYPE_TIMESTAMP",
    "DATE": "TYPE_DATE",
    "DATETIME": "TYPE_DATETIME",
    "TIME": "TYPE_TIME",
    "JSON": "TYPE_JSON",
    "BYTES": "TYPE_BYTES",
}

# Statement kinds the runners send to BigQuery: queries, the MERGEs, the DML of the silver load and
# the run-days queue, the DELETE that resets a merge step's state before it is restated
# (gold/<step>_reset.sql), the staging tables of the BigQuery load (staging/*.sql) and the
# transaction around the silver load (transaction/*.sql).
_STATEMENT_KINDS = (
    "RESOLVED_QUERY_STMT",
    "RESOLVED_MERGE_STMT",
    "RESOLVED_DELETE_STMT",
    "RESOLVED_INSERT_STMT",
    "RESOLVED_UPDATE_STMT",
    "RESOLVED_CREATE_TABLE_AS_SELECT_STMT",
    "RESOLVED_BEGIN_STMT",
    "RESOLVED_COMMIT_STMT",
)


class SqlAnalysisError(ValueError):
    """A statement the GoogleSQL analyzer rejects; the message names the file and the position."""


def zetasql_type(bigquery_type: str) -> Any:
    """The ZetaSQL `Type` of a BigQuery type name: `STRING`, `NUMERIC`, `ARRAY<DATE>`, ..."""
    from zetasql.api import TypeFactory
    from zetasql.types import TypeKind

    name = bigquery_type.strip().upper()
    if name.startswith("ARRAY<") and name.endswith(">"):
        return TypeFactory.create_array_type(zetasql_type(name[len("ARRAY<") : -1]))
    try:
        kind = _TYPE_KINDS[name]
    except KeyError:
        raise ValueError(f"BigQuery type {bigquery_type!r} has no ZetaSQL mapping here") from None
    return TypeFactory.create_simple_type(TypeKind[kind])


def _field_type(field: catalog.Field) -> Any:
    if field.type in ("RECORD", "STRUCT"):
        raise ValueError(f"{field.name}: nested fields are not mapped (no schema uses them)")
    return zetasql_type(f"ARRAY<{field.type}>" if field.mode == "REPEATED" else field.type)


def _simple_table(table: catalog.Table, name: str, *, json_as: str = "JSON") -> Any:
    from dataclasses import replace

    from zetasql.types import SimpleColumn, SimpleTable

    fields = [replace(f, type=json_as) if f.type == "JSON" else f for f in table.fields]
    return SimpleTable(
        name=name,
        full_name=f"{table.dataset}.{name}",
        column=[SimpleColumn(name=f.name, type=_field_type(f), is_writable_column=True) for f in fields],
    )


def build_catalog(language_options: Any) -> Any:
    """The root catalog: a sub-catalog per dataset with every table of `sql/schemas/tables.json`.

    Silver tables and the other staged tables (`plan.STAGED_TABLES`) also get their `_staging` twin
    (same columns), which the load task fills; a staged table with a JSON column also gets the
    `_load` twin the BigQuery load job writes, its JSON columns as STRING (staging/*_parse_json.sql).
    """
    from zetasql.types import SimpleCatalog, ZetaSQLBuiltinFunctionOptions

    from pipeline import plan

    datasets: dict[str, list[Any]] = {dataset: [] for dataset in catalog.DATASETS}
    for table in catalog.tables():
        datasets[table.dataset].append(_simple_table(table, table.name))
        if table.dataset == "silver" or table.qualified_name in plan.STAGED_TABLES:
            datasets[table.dataset].append(_simple_table(table, f"{table.name}_staging"))
        if table.qualified_name in plan.STAGED_TABLES and any(f.type == "JSON" for f in table.fields):
            datasets[table.dataset].append(_simple_table(table, f"{table.name}_load", json_as="STRING"))
    return SimpleCatalog(
        name="warehouse",
        catalog=[SimpleCatalog(name=dataset, table=tables) for dataset, tables in datasets.items()],
        builtin_function_options=ZetaSQLBuiltinFunctionOptions(language_options=language_options),
    )


def _cached_service() -> Any:
    """A ZetaSQL service whose compiled WebAssembly module lives in wasmtime's on-disk cache.

    The package compiles the module on every start (~25 s); this is the package's own client with
    only the engine's compilation cache switched on. Any failure falls back to the package default.
    """
    import wasmtime
    from zetasql.core import wasm_client
    from zetasql.core.local_service import ZetaSqlLocalService
    from zetasql.wasi import get_wasm_path

    class CachedWasmClient(wasm_client.WasmClient):
        def __init__(self, wasm_path: str) -> None:
            wasi = wasmtime.WasiConfig()
            wasi.inherit_stdout()
            wasi.inherit_stderr()
            if tzinfo_dir := wasm_client.get_tzinfo_dir():
                wasi.preopen_dir(tzinfo_dir, "/usr/share/zoneinfo")
            config = wasmtime.Config()
            config.cache = True
            with contextlib.suppress(AttributeError):
                config.shared_memory = True
            self.store = wasmtime.Store(wasmtime.Engine(config))
            self.store.set_wasi(wasi)
            self.module = wasmtime.Module.from_file(self.store.engine, wasm_path)
            linker = wasmtime.Linker(self.store.engine)
            linker.define_wasi()
            self.instance = linker.instantiate(self.store, self.module)
            self.exports = self.instance.exports(self.store)
            try:
                initialize = self.exports["_initialize"]
            except KeyError:
                initialize = None
            if isinstance(initialize, wasmtime.Func):
                initialize(self.store)
            self.memory = self.exports["memory"]

    try:
        service = ZetaSqlLocalService.__new__(ZetaSqlLocalService)
        service.wasm_client = CachedWasmClient(str(get_wasm_path()))
    except Exception:  # the cache is only an optimization
        log.warning("wasmtime compilation cache unavailable; compiling ZetaSQL without it", exc_info=True)
        return ZetaSqlLocalService.get_instance()
    return service


@cache
def _analyzer_parts() -> tuple[Any, Any, Any]:
    """(service, language options, catalog), built once per process."""
    from zetasql.types import LanguageOptions, NameResolutionMode, ProductMode, ResolvedNodeKind

    service = _cached_service()
    language = LanguageOptions(
        name_resolution_mode=NameResolutionMode.NAME_RESOLUTION_DEFAULT,
        # BigQuery is ZetaSQL's external product mode (FLOAT64, no INT32/UINT types).
        product_mode=ProductMode.PRODUCT_EXTERNAL,
        enabled_language_features=list(
            service.get_language_options(maximum_features=True).enabled_language_features
        ),
        supported_statement_kinds=[ResolvedNodeKind[kind] for kind in _STATEMENT_KINDS],
    )
    return service, language, build_catalog(language)


def analyze(
    sql_text: str,
    parameter_types: Mapping[str, str] | None = None,
    *,
    name: str = "<statement>",
) -> Any:
    """Analyze one BigQuery statement; return ZetaSQL's resolved statement or raise SqlAnalysisError.

    `parameter_types` (default `QUERY_PARAMETER_TYPES`) declares the named parameters, e.g.
    `{"days": "ARRAY<DATE>"}`; a parameter the statement uses but that is not declared is an error.
    """
    from zetasql.api import Analyzer
    from zetasql.core.exceptions import ZetaSQLError
    from zetasql.types import AnalyzerOptions, ErrorMessageMode, ParameterMode

    service, language, root = _analyzer_parts()
    declared = QUERY_PARAMETER_TYPES if parameter_types is None else parameter_types
    options = AnalyzerOptions(
        language_options=language,
        parameter_mode=ParameterMode.PARAMETER_NAMED,
        query_parameters=[
            AnalyzerOptions.QueryParameter(name=param, type=zetasql_type(kind))
            for param, kind in declared.items()
        ],
        default_timezone="UTC",
        error_message_mode=ErrorMessageMode.ERROR_MESSAGE_MULTI_LINE_WITH_CARET,
    )
    try:
        return Analyzer(options, root, service=service).analyze_statement(sql_text)
    except ZetaSQLError as err:
        raise SqlAnalysisError(f"{name}: {err}") from err


def analyze_file(relative: str, parameter_types: Mapping[str, str] | None = None) -> Any:
    """Analyze `sql/<relative>`, e.g. `analyze_file("gold/aov_daily.sql")`."""
    return analyze(catalog.read_sql(relative), parameter_types, name=f"sql/{relative}")


def statement_files() -> list[str]:
    """Every statement file under sql/, relative to it (`gold/aov_daily.sql`, ...), sorted."""
    return sorted(
        path.relative_to(catalog.SQL_DIR).as_posix()
        for folder in STATEMENT_FOLDERS
        for path in (catalog.SQL_DIR / folder).glob("*.sql")
    )


def main(argv: Sequence[str] | None = None) -> int:
    files = list(argv if argv is not None else sys.argv[1:]) or statement_files()
    failed = 0
    for relative in files:
        try:
            analyze_file(Path(relative).as_posix().removeprefix("sql/"))
        except SqlAnalysisError as err:
            failed += 1
            print(err, file=sys.stderr)
    print(f"GoogleSQL analyzer: {len(files) - failed} of {len(files)} files accepted")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

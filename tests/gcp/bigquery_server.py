"""A loopback stand-in for the BigQuery v2 REST API: just the job calls the gcp target makes.

`google-cloud-bigquery` honours `BIGQUERY_EMULATOR_HOST` (its `Client` takes it as the API endpoint),
and the provider's `BigQueryHook` builds that client, so the operators, hooks and triggers run
unchanged against this server. It answers `jobs.insert`, `jobs.get`, `jobs.getQueryResults` and
`jobs.cancel`; any other call is refused and recorded.

What it checks, as BigQuery would:
- every request: the method's path and query parameters, and a `jobs.insert` body validated against
  the discovery document (`tests/gcp/discovery.py`), with GoogleSQL parameter types;
- a query on a table with `require_partition_filter` (from `sql/schemas/tables.json`) needs a filter
  on the partition column, which DuckDB would never ask for;
- load jobs: the Parquet objects (read from the emulated GCS) must fit the job's schema by name and
  type, following BigQuery's Parquet conversions; a JSON column is not loadable from Parquet
  ("the source data must be in CSV, Avro, or JSON format", BigQuery's JSON documentation);
- write and create dispositions, and a destination table's own schema for WRITE_TRUNCATE_DATA.

How it runs jobs: one worker thread runs them in order on a DuckDB file holding the tables infra
provisions (`warehouse.ensure_tables`). Every statement goes through `pipeline.warehouse`'s
`transpile` and `bind`, the code the local target runs; only the script statements DuckDB has no
twin of (DECLARE, SET, EXECUTE IMMEDIATE ... USING) are interpreted here. A job reports RUNNING to
the first `jobs.get` after its insert, as a real job does: that is what makes the deferrable
operators defer, as they do on BigQuery.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from pipeline import warehouse
from sql import catalog

from .api_calls import COMPOSER, CallLog
from .discovery import document, parameter_type_errors, validate_bigquery_job

_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/bigquery/v2/projects/([^/]+)/jobs$"), "insert"),
    ("GET", re.compile(r"^/bigquery/v2/projects/([^/]+)/jobs/([^/]+)$"), "get"),
    ("GET", re.compile(r"^/bigquery/v2/projects/([^/]+)/queries/([^/]+)$"), "getQueryResults"),
    ("POST", re.compile(r"^/bigquery/v2/projects/([^/]+)/jobs/([^/]+)/cancel$"), "cancel"),
)

# Query parameters the client sends that the API accepts though the discovery document lists them
# only for another method (google-cloud-bigquery asks jobs.get for `projection=full`).
_UNLISTED_PARAMETERS = {"get": {"projection"}}

# Options of a job body this stand-in implements; any other changes semantics it would ignore.
_QUERY_OPTIONS = {
    "query",
    "useLegacySql",
    "parameterMode",
    "queryParameters",
    "destinationTable",
    "writeDisposition",
    "createDisposition",
}
_LOAD_OPTIONS = {
    "sourceUris",
    "sourceFormat",
    "destinationTable",
    "schema",
    "writeDisposition",
    "createDisposition",
    "decimalTargetTypes",
    "parquetOptions",
}

# BigQuery types a Parquet column (as DuckDB reads its physical and logical type) loads into.
_PARQUET_LOADS_INTO = {
    "VARCHAR": {"STRING"},
    "BLOB": {"BYTES"},
    "BOOLEAN": {"BOOLEAN", "BOOL"},
    "TINYINT": {"INTEGER", "INT64"},
    "SMALLINT": {"INTEGER", "INT64"},
    "INTEGER": {"INTEGER", "INT64"},
    "BIGINT": {"INTEGER", "INT64"},
    "FLOAT": {"FLOAT", "FLOAT64"},
    "DOUBLE": {"FLOAT", "FLOAT64"},
    "DATE": {"DATE"},
    "TIMESTAMP WITH TIME ZONE": {"TIMESTAMP"},
    "TIMESTAMP": {"DATETIME"},
    "TIME": {"TIME"},
}


class JobError(Exception):
    """A job that ends DONE with an errorResult (`reason` as BigQuery names it)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class HttpError(Exception):
    """An HTTP error answer: a request BigQuery refuses (`refused`: recorded as the caller's error),
    or the error of a failed job read back."""

    def __init__(self, code: int, reason: str, message: str, *, refused: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.refused = refused


# --- values --------------------------------------------------------------------------------------


def parameter_value(parameter_type: Mapping[str, Any], value: Mapping[str, Any] | None) -> Any:
    """A REST `QueryParameterValue` as the Python value DuckDB binds."""
    kind = parameter_type["type"]
    if kind == "ARRAY":
        items = (value or {}).get("arrayValues", [])
        return [parameter_value(parameter_type["arrayType"], item) for item in items]
    if kind in ("STRUCT", "RANGE"):
        raise JobError("invalidQuery", f"the stand-in binds no {kind} parameter")
    raw = (value or {}).get("value")
    if raw is None:
        return None
    converters: dict[str, Callable[[str], Any]] = {
        "STRING": str,
        "INT64": int,
        "FLOAT64": float,
        "NUMERIC": Decimal,
        "BIGNUMERIC": Decimal,
        "BOOL": lambda v: v.lower() == "true",
        "DATE": date.fromisoformat,
        "DATETIME": datetime.fromisoformat,
        "TIMESTAMP": lambda v: datetime.fromisoformat(v.replace(" ", "T")),
    }
    if kind not in converters:
        raise JobError("invalidQuery", f"the stand-in binds no {kind} parameter")
    try:
        return converters[kind](raw)
    except ValueError as err:
        raise JobError("invalidQuery", f"Invalid {kind} value for a query parameter: {raw!r}") from err


def parameters(query: Mapping[str, Any]) -> dict[str, Any]:
    return {
        p["name"]: parameter_value(p["parameterType"], p.get("parameterValue"))
        for p in query.get("queryParameters", [])
    }


def bigquery_field(name: str, duck_type: Any) -> dict[str, Any]:
    """The REST schema field of a result column, from DuckDB's type of it."""
    text = str(duck_type).upper()
    if text.endswith("[]"):
        element = bigquery_field(name, text[:-2])
        return {**element, "mode": "REPEATED"}
    if text.startswith("DECIMAL"):
        precision, scale = (int(n) for n in re.findall(r"\d+", text)[:2])
        kind = "NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"
    else:
        kind = {
            "VARCHAR": "STRING",
            "BOOLEAN": "BOOLEAN",
            "TINYINT": "INTEGER",
            "SMALLINT": "INTEGER",
            "INTEGER": "INTEGER",
            "BIGINT": "INTEGER",
            "HUGEINT": "INTEGER",
            "UTINYINT": "INTEGER",
            "USMALLINT": "INTEGER",
            "UINTEGER": "INTEGER",
            "FLOAT": "FLOAT",
            "DOUBLE": "FLOAT",
            "DATE": "DATE",
            "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
            "TIMESTAMP": "DATETIME",
            "TIME": "TIME",
            "JSON": "JSON",
            "BLOB": "BYTES",
            '"NULL"': "STRING",
            "NULL": "STRING",
        }.get(text)
        if kind is None:
            raise JobError("invalidQuery", f"result column {name}: no BigQuery type for DuckDB {text}")
    return {"name": name, "type": kind, "mode": "NULLABLE"}


def cell(value: Any, field: Mapping[str, Any], int64_timestamps: bool) -> Any:
    """One value as `tabledata` / `getQueryResults` encode it (strings, nested `v`)."""
    if value is None:
        return None
    if field.get("mode") == "REPEATED":
        scalar = {**field, "mode": "NULLABLE"}
        return [{"v": cell(item, scalar, int64_timestamps)} for item in value]
    kind = field["type"]
    if kind == "TIMESTAMP":
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        micros = round(stamp.timestamp() * 1_000_000)
        return str(micros) if int64_timestamps else f"{micros / 1_000_000:.6f}"
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind in ("DATE", "DATETIME", "TIME"):
        return value.isoformat()
    if kind == "FLOAT":
        return repr(float(value))
    return str(value)


# --- scripts --------------------------------------------------------------------------------------


def split_script(text: str) -> list[str]:
    """The statements of a GoogleSQL script, split on the semicolons the BigQuery tokenizer sees."""
    statements = []
    start = 0
    for token in sqlglot.Dialect.get_or_raise("bigquery").tokenize(text):
        if token.token_type == TokenType.SEMICOLON:
            statements.append(text[start : token.start])
            start = token.end + 1
    statements.append(text[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(text: str) -> bool:
    return bool(re.sub(r"--[^\n]*|#[^\n]*|/\*.*?\*/", "", text, flags=re.DOTALL).strip())


_EXECUTE = re.compile(r'^EXECUTE\s+IMMEDIATE\s+[rR]("""|\'\'\')(.*?)\1\s*(?:USING\s+(.*))?$', re.DOTALL)
_USING_ITEM = re.compile(r"^(@?\w+)\s+AS\s+(\w+)$", re.IGNORECASE)
_STATEMENT_TYPES: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Insert, "INSERT"),
    (exp.Update, "UPDATE"),
    (exp.Delete, "DELETE"),
    (exp.Merge, "MERGE"),
    (exp.Create, "CREATE_TABLE_AS_SELECT"),
    (exp.Query, "SELECT"),
)


def statement_type(tree: exp.Expression) -> str:
    for kind, name in _STATEMENT_TYPES:
        if isinstance(tree, kind):
            return name
    return "SCRIPT"


def _names(node: exp.Expression) -> set[str]:
    return {c.name.lower() for c in node.find_all(exp.Column)}


def _filters_on(condition: exp.Expression | None, column: str, qualifiers: set[str]) -> bool:
    """A predicate of `condition` compares the partition column with constants or parameters."""
    if condition is None:
        return False
    predicates = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Between)
    for predicate in condition.find_all(*predicates):
        sides = [v for v in predicate.args.values() if isinstance(v, exp.Expression)]
        sides += [e for v in predicate.args.values() if isinstance(v, list) for e in v]

        def on_partition(side: exp.Expression) -> bool:
            return any(
                c.name.lower() == column and (not c.table or c.table.lower() in qualifiers)
                for c in side.find_all(exp.Column)
            )

        on_column = [s for s in sides if on_partition(s)]
        others = [s for s in sides if s not in on_column]
        if on_column and all(not _names(s) for s in others):
            return True
    return False


def partition_filter_errors(tree: exp.Expression, required: Mapping[str, str]) -> list[str]:
    """BigQuery refuses a query reading a `require_partition_filter` table without a filter on its
    partition column (in the WHERE of the reading SELECT, DELETE or UPDATE; in the ON or WHEN of a
    MERGE into it)."""
    errors = []
    for table in tree.find_all(exp.Table):
        name = f"{table.db}.{table.name}".lower()
        column = required.get(name)
        if column is None:
            continue
        qualifiers = {table.name.lower(), table.alias_or_name.lower()}
        scope = table.find_ancestor(exp.Select, exp.Merge, exp.Delete, exp.Update)
        conditions: list[exp.Expression | None] = []
        if isinstance(scope, exp.Merge) and scope.this is table:
            conditions = [scope.args.get("on")]
            whens = scope.args.get("whens")
            for when in whens.expressions if whens is not None else []:
                conditions.append(when.args.get("condition"))
        elif scope is not None and not isinstance(scope, exp.Merge):
            conditions = [scope.args.get("where")]
        if not any(_filters_on(c, column, qualifiers) for c in conditions):
            errors.append(
                f"Cannot query over table '{name}' without a filter over column(s) '{column}' "
                "that can be used for partition elimination"
            )
    return errors


def table_access(tree: exp.Expression) -> list[tuple[str, str, str]]:
    """(`read` or `write`, dataset, table) of every dataset-qualified table a statement names: the
    target of a DML or CREATE statement is written (created too by CREATE; read too by UPDATE, DELETE
    and MERGE), every other table read. Unqualified names (CTEs, temporary tables) are not tables of a dataset."""
    target = (
        tree.this if isinstance(tree, exp.Insert | exp.Merge | exp.Update | exp.Delete | exp.Create) else None
    )
    if isinstance(target, exp.Schema):
        target = target.this
    accessed = []
    for table in tree.find_all(exp.Table):
        if not table.db:
            continue
        if table is target:
            if isinstance(tree, exp.Create):
                accessed.append(("create", table.db, table.name))
            accessed.append(("write", table.db, table.name))
            if isinstance(tree, exp.Merge | exp.Update | exp.Delete):
                accessed.append(("read", table.db, table.name))
        else:
            accessed.append(("read", table.db, table.name))
    return accessed


@dataclass
class Result:
    """What a query job leaves: its statement type, result rows (of its last statement) and counts."""

    statement_type: str
    fields: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    dml_rows: int | None = None
    statements: int = 1


class Script:
    """Runs one query job's text, statement by statement, on the worker's DuckDB connection."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, params: Mapping[str, Any], required: Mapping[str, str]
    ) -> None:
        self.con = con
        self.params = dict(params)
        self.required = required
        self.variables: dict[str, Any] = {}
        self.in_transaction = False
        self.accessed: list[tuple[str, str, str]] = []
        """(`read`/`write`, dataset, table) of each statement run, as `table_access` names them."""

    def run(self, text: str) -> Result:
        statements = split_script(text)
        result = Result("SCRIPT")
        for index, statement in enumerate(statements, start=1):
            try:
                last = self.statement(statement, self.params)
            except JobError as err:
                where = f" at [{index}]" if len(statements) > 1 else ""
                raise JobError(err.reason, f"{err.message}{where}") from err
            if last is not None:
                result = last
        if self.in_transaction:
            raise JobError("invalidQuery", "Transaction is not committed at the end of the script")
        if len(statements) > 1:
            result.statement_type = "SCRIPT"
            result.statements = len(statements)
        return result

    def statement(self, text: str, params: Mapping[str, Any]) -> Result | None:
        execute = _EXECUTE.match(text)
        if execute:
            return self.execute_immediate(execute.group(2), execute.group(3))
        try:
            tree = sqlglot.parse_one(text, read="bigquery")
        except sqlglot.errors.ParseError as err:
            raise JobError("invalidQuery", f"Syntax error: {err}") from err
        if isinstance(tree, exp.Declare):
            for item in tree.expressions:
                default = item.args.get("default")
                value = (
                    self.evaluate(default.sql("bigquery")) if isinstance(default, exp.Expression) else None
                )
                for name in item.this if isinstance(item.this, list) else [item.this]:
                    self.variables[name.name.lower()] = value
            return None
        if isinstance(tree, exp.Set):
            self.assign(tree)
            return None
        if isinstance(tree, exp.Transaction):
            self.con.execute("BEGIN TRANSACTION")
            self.in_transaction = True
            return None
        if isinstance(tree, exp.Commit):
            self.con.execute("COMMIT")
            self.in_transaction = False
            return None
        if isinstance(tree, exp.Rollback):
            self.con.execute("ROLLBACK")
            self.in_transaction = False
            return None
        if isinstance(tree, exp.Command):
            raise JobError("invalidQuery", f"the stand-in does not run {text.split()[0]} statements")
        errors = partition_filter_errors(tree, self.required)
        if errors:
            raise JobError("invalidQuery", "; ".join(errors))
        return self.query(text, tree, params)

    def query(self, text: str, tree: exp.Expression, params: Mapping[str, Any]) -> Result:
        """One statement through the local target's transpile and parameter binding."""
        self.accessed += table_access(tree)
        try:
            bound = warehouse.bind(text, params)
        except KeyError as err:
            raise JobError("invalidQuery", f"Query parameter not found: {err.args[0]}") from err
        try:
            cursor = self.con.execute(warehouse.transpile(text), bound)
            kind = statement_type(tree)
            if kind == "SELECT":
                description = cursor.description or []
                fields = [bigquery_field(d[0], d[1]) for d in description]
                return Result(kind, fields, cursor.fetchall())
            rows = cursor.fetchall() if cursor.description else []
            affected = int(rows[0][0]) if rows and kind != "CREATE_TABLE_AS_SELECT" else None
            return Result(kind, dml_rows=affected)
        except duckdb.Error as err:
            raise JobError("invalidQuery", f"Query error: {err}") from err

    def evaluate(self, bigquery_expression: str) -> Any:
        return self.select_row(f"SELECT {bigquery_expression}", {})[0]

    def select_row(self, bigquery_select: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
        result = self.query(bigquery_select, sqlglot.parse_one(bigquery_select, read="bigquery"), params)
        if len(result.rows) != 1:
            raise JobError("invalidQuery", f"expected one row, got {len(result.rows)}: {bigquery_select}")
        return result.rows[0]

    def assign(self, tree: exp.Set) -> None:
        """`SET x = expr` and `SET (a, b) = (SELECT AS STRUCT ...)`."""
        for item in tree.expressions:
            equation = item.this
            if not isinstance(equation, exp.EQ):
                raise JobError("invalidQuery", f"the stand-in does not run SET {item.sql('bigquery')}")
            targets = equation.this.expressions if isinstance(equation.this, exp.Tuple) else [equation.this]
            names = [t.name.lower() for t in targets]
            unknown = [n for n in names if n not in self.variables]
            if unknown:
                raise JobError("invalidQuery", f"Unrecognized name: {unknown[0]}")
            value = equation.expression
            select = value.this if isinstance(value, exp.Subquery) else None
            if isinstance(select, exp.Select) and select.args.get("kind") == "STRUCT" and len(names) > 1:
                select = select.copy()
                select.set("kind", None)
                row = self.select_row(select.sql("bigquery"), {})
            elif len(names) == 1:
                row = (self.evaluate(value.sql("bigquery")),)
            else:
                raise JobError("invalidQuery", "SET of several variables needs a SELECT AS STRUCT")
            if len(row) != len(names):
                raise JobError("invalidQuery", f"SET of {len(names)} variables from {len(row)} values")
            self.variables.update(zip(names, row, strict=True))

    def execute_immediate(self, sql_text: str, using: str | None) -> Result | None:
        """EXECUTE IMMEDIATE: the statement sees only the USING bindings, never the job's parameters."""
        bound: dict[str, Any] = {}
        for item in [i.strip() for i in (using or "").split(",") if i.strip()]:
            match = _USING_ITEM.match(item)
            if not match:
                raise JobError("invalidQuery", f"the stand-in binds no USING item {item!r}")
            source, name = match.group(1), match.group(2)
            if source.startswith("@"):
                if source[1:] not in self.params:
                    raise JobError("invalidQuery", f"Query parameter '{source[1:]}' not found")
                bound[name] = self.params[source[1:]]
            elif source.lower() in self.variables:
                bound[name] = self.variables[source.lower()]
            else:
                raise JobError("invalidQuery", f"Unrecognized name: {source}")
        statements = split_script(sql_text)
        if len(statements) != 1:
            raise JobError("invalidQuery", "EXECUTE IMMEDIATE runs exactly one statement")
        return self.statement(statements[0], bound)


# --- the service ----------------------------------------------------------------------------------


@dataclass
class Job:
    project: str
    job_id: str
    location: str | None
    configuration: dict[str, Any]
    created: float = field(default_factory=time.time)
    state: str = "PENDING"
    gets: int = 0
    started: float | None = None
    ended: float | None = None
    error: JobError | None = None
    result: Result | None = None
    output_rows: int | None = None
    input_files: int = 0
    finished: threading.Event = field(default_factory=threading.Event)
    accessed: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    """What the job read and wrote: (call, resource kind, resource path), recorded when it ends."""

    @property
    def kind(self) -> str:
        return "LOAD" if "load" in self.configuration else "QUERY"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class BigQueryServer:
    """The stand-in: `with BigQueryServer(db, storage, project=...) as server:` ... `server.url`."""

    def __init__(
        self,
        database: Path,
        storage_client: Any,
        *,
        project: str,
        location: str,
        work_dir: Path,
        api_calls: CallLog | None = None,
    ) -> None:
        self.database = database
        self.api_calls = api_calls if api_calls is not None else CallLog()
        """Every call, and each table and object a job read or wrote, as the Composer environment
        (the only client of this stand-in is the DAG's process: `tests/gcp/api_calls.py`)."""
        self.storage = storage_client
        self.project = project
        self.location = location
        self.work_dir = work_dir
        self.requests: list[Request] = []
        self.errors: list[str] = []
        """Every request refused as invalid or unsupported (a real run must leave this empty)."""
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._work: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._con: duckdb.DuckDBPyConnection | None = None
        self.required_filters = {
            t.qualified_name: t.partition_field
            for t in catalog.tables()
            if t.require_partition_filter and t.partition_field is not None
        }
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._threads = [
            threading.Thread(target=self._http.serve_forever, name="bigquery-http", daemon=True),
            threading.Thread(target=self._worker, name="bigquery-jobs", daemon=True),
        ]

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BigQueryServer:
        for thread in self._threads:
            thread.start()
        self.call(lambda con: None)  # the tables exist before the first request
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._work.put(None)
        self._threads[1].join(timeout=30)

    # -- the worker: one DuckDB connection, jobs in arrival order --

    def _worker(self) -> None:
        self._con = warehouse.connect(self.database)
        while (task := self._work.get()) is not None:
            task()
        self._con.close()

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Run `fn(connection)` on the worker, after every job inserted before; return its value."""
        done = threading.Event()
        out: dict[str, Any] = {}

        def task() -> None:
            assert self._con is not None
            try:
                out["value"] = fn(self._con)
            except BaseException as err:
                out["error"] = err
            done.set()

        self._work.put(task)
        done.wait()
        if "error" in out:
            raise out["error"]
        return out.get("value")

    def rows(self, sql_text: str) -> list[tuple[Any, ...]]:
        """Rows of a DuckDB query on the warehouse, for the test's assertions."""
        return self.call(lambda con: con.execute(sql_text).fetchall())  # type: ignore[no-any-return]

    def _run(self, job: Job) -> None:
        con = self._con
        assert con is not None
        job.state, job.started = "RUNNING", time.time()
        try:
            if job.kind == "LOAD":
                self._load(con, job, job.configuration["load"])
            else:
                self._query(con, job, job.configuration["query"])
        except JobError as err:
            job.error = err
        except Exception as err:  # a bug of the stand-in: the job fails (not retried) and is recorded
            job.error = JobError("invalid", f"stand-in error: {type(err).__name__}: {err}")
            self.errors.append(f"job {job.job_id}: {job.error.message}")
        finally:
            _end_session(con)
            for call, kind, path in job.accessed:
                self.api_calls.record(call, kind, path, COMPOSER)
            job.state, job.ended = "DONE", time.time()
            job.finished.set()

    # -- query jobs --

    def _table(self, reference: Mapping[str, str]) -> str:
        if reference.get("projectId") != self.project:
            raise JobError("accessDenied", f"Access Denied: project {reference.get('projectId')}")
        if "$" in reference["tableId"]:
            raise JobError("invalid", "the stand-in writes no partition decorator")
        return f"{reference['datasetId']}.{reference['tableId']}"

    def _query(self, con: duckdb.DuckDBPyConnection, job: Job, query: Mapping[str, Any]) -> None:
        if query.get("useLegacySql", True):
            raise JobError("invalid", "legacy SQL: the gcp target sends GoogleSQL only")
        if query.get("queryParameters") and query.get("parameterMode") != "NAMED":
            raise JobError("invalid", "query parameters without parameterMode NAMED")
        destination = query.get("destinationTable")
        script = Script(con, parameters(query), self.required_filters)
        if destination is None:
            try:
                job.result = script.run(query["query"])
            finally:
                job.accessed += [
                    (f"bigquery.jobs.insert[{access}]", "table", (job.project, dataset, name))
                    for access, dataset, name in script.accessed
                ]
            return
        table = self._table(destination)
        job.accessed.append(
            (
                "bigquery.jobs.insert[write]",
                "table",
                (job.project, destination["datasetId"], destination["tableId"]),
            )
        )
        statements = split_script(query["query"])
        tree = sqlglot.parse_one(statements[0], read="bigquery") if len(statements) == 1 else None
        if not isinstance(tree, exp.Query):
            raise JobError("invalid", "a destination table takes one SELECT statement")
        job.accessed += [
            (f"bigquery.jobs.insert[{access}]", "table", (job.project, dataset, name))
            for access, dataset, name in table_access(tree)
        ]
        exists = _exists(con, table)
        if not exists and query.get("createDisposition") == "CREATE_NEVER":
            raise JobError("notFound", f"Not found: Table {self.project}:{table}")
        if not exists:
            raise JobError("invalid", "the stand-in creates no table from a query result")
        disposition = query.get("writeDisposition", "WRITE_EMPTY")
        if disposition not in ("WRITE_TRUNCATE_DATA", "WRITE_APPEND", "WRITE_EMPTY"):
            raise JobError("invalid", f"the stand-in keeps the table schema: no {disposition}")
        errors = partition_filter_errors(tree, self.required_filters)
        if errors:
            raise JobError("invalidQuery", "; ".join(errors))
        try:
            bound = warehouse.bind(statements[0], script.params)
        except KeyError as err:
            raise JobError("invalidQuery", f"Query parameter not found: {err.args[0]}") from err
        try:
            con.execute(f"CREATE TEMP TABLE query_result AS {warehouse.transpile(statements[0])}", bound)
        except duckdb.Error as err:
            raise JobError("invalidQuery", f"Query error: {err}") from err
        cursor = con.execute("SELECT * FROM query_result")
        fields = [bigquery_field(d[0], d[1]) for d in cursor.description or []]
        rows = cursor.fetchall()
        columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
        names = [f["name"] for f in fields]
        if sorted(names) != sorted(columns):
            raise JobError("invalid", f"Query result columns {names} do not match {table} {columns}")
        con.execute("BEGIN TRANSACTION")
        if disposition == "WRITE_EMPTY" and con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]:
            raise JobError("duplicate", f"Already Exists: Table {self.project}:{table} is not empty")
        if disposition == "WRITE_TRUNCATE_DATA":
            con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM query_result")
        con.execute("COMMIT")
        job.result = Result("SELECT", fields, rows)

    # -- load jobs --

    def _objects(self, uri: str) -> list[Any]:
        if not uri.startswith("gs://"):
            raise JobError("invalid", f"not a Cloud Storage URI: {uri}")
        bucket, _, pattern = uri[len("gs://") :].partition("/")
        if pattern.count("*") > 1:
            raise JobError("invalid", f"at most one wildcard per URI: {uri}")
        prefix = pattern.split("*", 1)[0]
        found = [
            b for b in self.storage.list_blobs(bucket, prefix=prefix) if fnmatch.fnmatchcase(b.name, pattern)
        ]
        if not found:
            raise JobError("notFound", f"Not found: URI {uri}")
        return found

    def _load(self, con: duckdb.DuckDBPyConnection, job: Job, load: Mapping[str, Any]) -> None:
        if load.get("sourceFormat") != "PARQUET":
            raise JobError("invalid", "the stand-in loads PARQUET only")
        table = self._table(load["destinationTable"])
        reference = load["destinationTable"]
        job.accessed.append(
            (
                "bigquery.jobs.insert[write]",
                "table",
                (job.project, reference["datasetId"], reference["tableId"]),
            )
        )
        folder = self.work_dir / "loads" / job.job_id
        files = []
        for uri in load["sourceUris"]:
            bucket_name = uri[len("gs://") :].split("/", 1)[0]
            if "*" in uri:  # BigQuery lists the bucket to expand a wildcard
                job.accessed.append(("bigquery.jobs.insert[load-list]", "bucket", (bucket_name,)))
            for blob in self._objects(uri):
                job.accessed.append(("bigquery.jobs.insert[load]", "object", (blob.bucket.name, blob.name)))
                local = folder / blob.bucket.name / blob.name
                local.parent.mkdir(parents=True, exist_ok=True)
                blob.download_to_filename(str(local))
                files.append(str(local))
        job.input_files = len(files)
        fields = [
            catalog.Field(
                name=f["name"],
                type=f["type"],
                mode=f.get("mode", "NULLABLE"),
                description=f.get("description", ""),
                precision=int(f["precision"]) if "precision" in f else None,
                scale=int(f["scale"]) if "scale" in f else None,
            )
            for f in load["schema"]["fields"]
        ]
        source = "read_parquet($files, union_by_name = true)"
        found = {
            r[0]: str(r[1])
            for r in con.execute(f"DESCRIBE SELECT * FROM {source}", {"files": files}).fetchall()
        }
        wanted = {f.name: f for f in fields}
        problems = [f"no such field {name} in the schema" for name in found if name not in wanted]
        for f in fields:
            if f.name not in found:
                if f.required:
                    problems.append(f"required field {f.name} missing from the Parquet files")
                continue
            parquet = found[f.name]
            allowed = (
                {"NUMERIC", "BIGNUMERIC"}
                if parquet.startswith("DECIMAL")
                else _PARQUET_LOADS_INTO.get(parquet, set())
            )
            if f.type not in allowed:
                problems.append(f"field {f.name}: Parquet {parquet} does not load into {f.type}")
        if problems:
            raise JobError("invalid", f"Error while reading data: {'; '.join(problems)}")
        exists = _exists(con, table)
        if not exists and load.get("createDisposition") == "CREATE_NEVER":
            raise JobError("notFound", f"Not found: Table {self.project}:{table}")
        if not exists:  # CREATE_IF_NEEDED: the job creates the table
            job.accessed.append(
                (
                    "bigquery.jobs.insert[create]",
                    "table",
                    (job.project, reference["datasetId"], reference["tableId"]),
                )
            )
        disposition = load.get("writeDisposition", "WRITE_APPEND")
        columns = ",\n    ".join(f"{f.name} {warehouse.duckdb_type(f)}" for f in fields)
        con.execute("BEGIN TRANSACTION")
        if disposition == "WRITE_TRUNCATE" or not exists:
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"CREATE TABLE {table} (\n    {columns}\n)")
        elif disposition == "WRITE_TRUNCATE_DATA":
            con.execute(f"DELETE FROM {table}")
        elif disposition == "WRITE_EMPTY" and con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]:
            raise JobError("duplicate", f"Already Exists: Table {self.project}:{table} is not empty")
        selected = ", ".join(
            f"CAST({f.name} AS {warehouse.duckdb_type(f)}) AS {f.name}"
            if f.name in found
            else f"NULL AS {f.name}"
            for f in fields
        )
        cursor = con.execute(f"INSERT INTO {table} BY NAME SELECT {selected} FROM {source}", {"files": files})
        job.output_rows = int(cursor.fetchall()[0][0])
        con.execute("COMMIT")

    # -- REST resources --

    def resource(self, job: Job, *, count_get: bool = False) -> dict[str, Any]:
        """The `Job` resource; a finished job reads RUNNING until one jobs.get has seen it so."""
        state = job.state
        if count_get:
            job.gets += 1
            if job.gets == 1 and state == "DONE":
                state = "RUNNING"
        status: dict[str, Any] = {"state": state}
        statistics: dict[str, Any] = {"creationTime": str(int(job.created * 1000))}
        if job.started is not None:
            statistics["startTime"] = str(int(job.started * 1000))
        if state == "DONE":
            assert job.ended is not None
            statistics["endTime"] = str(int(job.ended * 1000))
            if job.error is not None:
                error = {"reason": job.error.reason, "message": job.error.message, "location": "query"}
                status["errorResult"] = error
                status["errors"] = [error]
            elif job.kind == "LOAD":
                statistics["load"] = {
                    "outputRows": str(job.output_rows or 0),
                    "inputFiles": str(job.input_files),
                }
            elif job.result is not None:
                query_stats: dict[str, Any] = {"statementType": job.result.statement_type}
                if job.result.dml_rows is not None:
                    query_stats["numDmlAffectedRows"] = str(job.result.dml_rows)
                statistics["query"] = query_stats
                if job.result.statement_type == "SCRIPT":
                    statistics["numChildJobs"] = str(job.result.statements)
        return {
            "kind": "bigquery#job",
            "id": f"{job.project}:{job.location}.{job.job_id}",
            "jobReference": {"projectId": job.project, "jobId": job.job_id, "location": job.location},
            "configuration": {**job.configuration, "jobType": job.kind},
            "status": status,
            "statistics": statistics,
            "user_email": "composer@cdi-test.iam.gserviceaccount.com",
        }

    def query_results(self, job: Job, query: Mapping[str, list[str]]) -> dict[str, Any]:
        timeout = int(query.get("timeoutMs", ["10000"])[0]) / 1000
        job.finished.wait(min(timeout, 10.0))
        reference = {"projectId": job.project, "jobId": job.job_id, "location": job.location}
        if not job.finished.is_set():
            return {
                "kind": "bigquery#getQueryResultsResponse",
                "jobReference": reference,
                "jobComplete": False,
            }
        if job.error is not None:
            raise HttpError(400, job.error.reason, job.error.message, refused=False)
        result = job.result or Result("SCRIPT")
        start = int(query.get("startIndex", query.get("pageToken", ["0"]))[0])
        size = int(query.get("maxResults", [str(len(result.rows) or 1)])[0])
        page = result.rows[start : start + size] if size > 0 else []
        int64 = query.get("formatOptions.useInt64Timestamp", ["false"])[0].lower() == "true"
        body: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": reference,
            "jobComplete": True,
            "totalRows": str(len(result.rows)),
        }
        if size > 0:  # maxResults=0 asks for the job's state and schema only: no rows key at all
            body["rows"] = [
                {"f": [{"v": cell(v, f, int64)} for v, f in zip(row, result.fields, strict=True)]}
                for row in page
            ]
        if result.fields:
            body["schema"] = {"fields": result.fields}
        if result.dml_rows is not None:
            body["numDmlAffectedRows"] = str(result.dml_rows)
        if size > 0 and start + size < len(result.rows):
            body["pageToken"] = str(start + size)
        return body

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, Any]]:
        self.requests.append(Request(method, path, query, body))
        route = next(
            ((name, m) for verb, pattern, name in _ROUTES if verb == method and (m := pattern.match(path))),
            None,
        )
        if route is None:
            raise HttpError(501, "notImplemented", f"the stand-in answers no {method} {path}")
        name, match = route
        method_doc = document("bigquery.v2")["resources"]["jobs"]["methods"][name]
        allowed = set(method_doc["parameters"]) | set(document("bigquery.v2")["parameters"])
        allowed |= _UNLISTED_PARAMETERS.get(name, set())
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise HttpError(400, "invalid", f"jobs.{name}: unknown query parameters {unknown}")
        project = match.group(1)
        if name == "insert":
            self.api_calls.record("bigquery.jobs.insert", "project", (project,), COMPOSER)
        else:
            self.api_calls.record(f"bigquery.jobs.{name}", "job", (project, match.group(2)), COMPOSER)
        if project != self.project:
            raise HttpError(403, "accessDenied", f"Access Denied: Project {project}")
        if name == "insert":
            return 200, self.insert(project, body)
        job = self._job(match.group(2), query)
        if name == "get":
            return 200, self.resource(job, count_get=True)
        if name == "getQueryResults":
            return 200, self.query_results(job, query)
        return 200, {"kind": "bigquery#jobCancelResponse", "job": self.resource(job)}

    def _job(self, job_id: str, query: Mapping[str, list[str]]) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        location = query.get("location", [None])[0]
        if job is None or (location is not None and location != job.location):
            raise HttpError(404, "notFound", f"Not found: Job {self.project}:{location}.{job_id}")
        return job

    def insert(self, project: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise HttpError(400, "invalid", "jobs.insert needs a Job body")
        errors = validate_bigquery_job(body)
        configuration = body.get("configuration", {})
        query = configuration.get("query")
        if query is not None:
            errors += parameter_type_errors(query.get("queryParameters", []))
            errors += [
                f"$.configuration.query.{k}: not implemented by the stand-in"
                for k in sorted(set(query) - _QUERY_OPTIONS)
            ]
        load = configuration.get("load")
        if load is not None:
            errors += [
                f"$.configuration.load.{k}: not implemented by the stand-in"
                for k in sorted(set(load) - _LOAD_OPTIONS)
            ]
        if (query is None) == (load is None):
            errors.append("$.configuration: exactly one of query or load")
        reference = body.get("jobReference", {})
        if reference.get("projectId") != project or not reference.get("jobId"):
            errors.append(f"$.jobReference: {reference} is not a job of project {project}")
        if errors:
            raise HttpError(400, "invalid", "; ".join(errors))
        location = reference.get("location") or self.location
        if location != self.location:
            raise HttpError(400, "invalid", f"the datasets are in {self.location}, not {location}")
        with self._lock:
            if reference["jobId"] in self.jobs:
                raise HttpError(
                    409, "duplicate", f"Already Exists: Job {project}:{location}.{reference['jobId']}"
                )
            job = Job(project, reference["jobId"], location, configuration)
            self.jobs[job.job_id] = job
        self._work.put(lambda: self._run(job))
        return self.resource(job)


def _end_session(con: duckdb.DuckDBPyConnection) -> None:
    """What BigQuery does at the end of a job: roll back what it left open, drop its temp tables."""
    with contextlib.suppress(duckdb.Error):  # no transaction open
        con.execute("ROLLBACK")
    temporary = "SELECT database_name, schema_name, table_name FROM duckdb_tables() WHERE temporary"
    for database, schema, table in con.execute(temporary).fetchall():
        con.execute(f'DROP TABLE "{database}"."{schema}"."{table}"')


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".", 1)
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(rows[0][0])


def _handler(server: BigQueryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
                code, payload = server.handle(method, parts.path, parse_qs(parts.query), body)
            except HttpError as err:
                if err.refused:
                    server.errors.append(f"{method} {parts.path}: {err.message}")
                code = err.code
                payload = {
                    "error": {
                        "code": err.code,
                        "message": err.message,
                        "errors": [{"message": err.message, "domain": "global", "reason": err.reason}],
                    }
                }
            except Exception as err:  # a bug of the stand-in: a 500 the client retries, and recorded
                server.errors.append(f"{method} {parts.path}: stand-in error {type(err).__name__}: {err}")
                code, payload = 500, {"error": {"code": 500, "message": str(err), "errors": []}}
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            return

    return Handler

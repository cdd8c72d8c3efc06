"""No SQL statement in a Python string under pipeline/ or spark/: a statement is a file under sql/,
linted, analyzed as GoogleSQL and run by both targets (`sql.catalog.read_sql`, `pipeline.warehouse`).

Every string literal and f-string is read from the syntax tree (docstrings excepted) and matched
against the shape of a statement (`SELECT ... FROM`, `INSERT INTO`, `DELETE FROM`, `UPDATE ... SET`,
`MERGE ... USING`, `CREATE TABLE`, `WITH x AS (`, a transaction keyword, ...). What remains is listed
in `ALLOWED` with the reason it is not a file; an entry that no longer matches anything fails too, so
the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("pipeline", "spark")

_STATEMENT = re.compile(
    r"""^\s*\(?\s*(?:
        select\s.+?\sfrom\s+(?:[\w{}]+\.[\w{}]+|\{\}|\()
      | insert\s+into\s
      | delete\s+from\s+(?:[\w{}]+\.[\w{}]+|\{\})
      | update\s+[\w.]+\s+(?:as\s+\w+\s+)?set\s
      | merge\s+(?:into\s+)?[\w.{}]+\s+(?:as\s+\w+\s+)?using\s
      | create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?(?:table|schema|view|macro)\s
      | with\s+\w+\s+as\s*\(
      | (?:drop|alter|truncate)\s+table\s
      | set\s+\w+\s*=
      | (?:begin|commit|rollback)\s+transaction\s*;?\s*$
      | (?-i:BEGIN|COMMIT|ROLLBACK)\s*;?\s*$
    )""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)

# (file, function) -> why the SQL there is not a file under sql/. None binds a value by string
# formatting: values are `?`/`$name` parameters, identifiers come from `sql.catalog` or are checked.
_WAREHOUSE = "DuckDB standing in for BigQuery (no statement of the pipeline): "
ALLOWED: dict[tuple[str, str], str] = {
    # The local warehouse: what BigQuery does as a job setting, an API call or a provisioned table.
    ("pipeline/warehouse.py", "create_table_sql"): _WAREHOUSE + "DDL from sql/schemas, as infra provisions",
    ("pipeline/warehouse.py", "ensure_tables"): _WAREHOUSE + "schemas and tables from sql/schemas",
    ("pipeline/warehouse.py", "<module>"): _WAREHOUSE + "a macro for BigQuery's FARM_FINGERPRINT",
    ("pipeline/warehouse.py", "connect"): _WAREHOUSE + "a UTC session, as BigQuery's",
    ("pipeline/warehouse.py", "_select_into"): _WAREHOUSE + "a query job's destinationTable",
    ("pipeline/warehouse.py", "overwrite_partitions"): _WAREHOUSE + "a partition overwrite (catalog names)",
    ("pipeline/warehouse.py", "replace_table"): _WAREHOUSE + "WRITE_TRUNCATE_DATA of a query job",
    ("pipeline/warehouse.py", "merge_table"): _WAREHOUSE + "the rows of a table (BigQuery: numRows)",
    ("pipeline/warehouse.py", "load_parquet"): _WAREHOUSE + "a Parquet load job (read_parquet)",
    ("pipeline/warehouse.py", "drop_table"): _WAREHOUSE + "a staging table dropped (checked name)",
    ("pipeline/warehouse.py", "table_rows"): _WAREHOUSE + "the rows of a table (checked name)",
    # The BigQuery twin of `warehouse.overwrite_partitions`: a gold `partitions` file wrapped in one
    # MERGE deleting the run's day partitions, the table's columns from the catalog.
    (
        "pipeline/gcp/bigquery.py",
        "replace_days_merge",
    ): "partition overwrite around a gold file (catalog names)",
}


@dataclass(frozen=True)
class Found:
    path: str
    function: str
    line: int
    text: str


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def statements_in(path: Path) -> list[Found]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    # Parts of an f-string are read with the f-string; a string concatenated at run time is read
    # as the whole expression when it is one (`"a" "b"` is one constant already).
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{function}.{child.name}" if function else child.name
            text = None if id(child) in skip else _text(child)
            if text is not None and _STATEMENT.match(text):
                relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
                found.append(Found(relative, name or "<module>", child.lineno, text.strip()[:80]))
            visit(child, name)

    visit(tree, "")
    return found


def all_statements() -> list[Found]:
    return [f for folder in SCANNED for p in sorted((ROOT / folder).rglob("*.py")) for f in statements_in(p)]


def test_no_sql_statement_in_a_python_string() -> None:
    stray = [f for f in all_statements() if (f.path, f.function) not in ALLOWED]
    assert not stray, "SQL in Python strings (move each to a file under sql/):\n" + "\n".join(
        f"  {f.path}:{f.line} {f.function}: {f.text!r}" for f in stray
    )


def test_every_allowed_place_still_holds_sql() -> None:
    places = {(f.path, f.function) for f in all_statements()}
    assert not set(ALLOWED) - places, "stale ALLOWED entries: remove them"


@pytest.mark.parametrize(
    "source",
    [
        'q = "SELECT day FROM audit.run_days"',
        'q = f"insert into {table} ({cols}) select {cols} from staging"',
        'q = "DELETE FROM audit.quarantine WHERE run_id = ?"',
        "q = \"UPDATE audit.run_days SET status = 'built'\"",
        'q = "MERGE silver.agents AS a USING silver.agents_staging AS s ON a.id = s.id"',
        'q = "CREATE OR REPLACE TABLE silver.x_staging AS SELECT 1"',
        'q = """\n    with recent as (select 1)\n    select * from recent"""',
        'con.execute("BEGIN TRANSACTION")',
        'con.execute("COMMIT")',
        "con.execute(\"SET TimeZone = 'UTC'\")",
    ],
)
def test_the_scan_finds_a_statement(tmp_path: Path, source: str) -> None:
    path = tmp_path / "probe.py"
    path.write_text(f"def f(con, table, cols):\n    {source}\n", encoding="utf-8")
    assert [f.function for f in statements_in(path)] == ["f"]


@pytest.mark.parametrize(
    "source",
    [
        '"""Select exactly the table\'s columns, then merge them."""',
        'step("commit")',
        'mode = "merge"',
        'log.info("delete from the landing bucket failed")',
        'log.info("select the rows from the file you want")',
        'msg = f"{n} tables with these settings under {root}"',
    ],
)
def test_the_scan_leaves_prose_alone(tmp_path: Path, source: str) -> None:
    path = tmp_path / "probe.py"
    path.write_text(f"def f(step, log, n, root):\n    {source}\n", encoding="utf-8")
    assert statements_in(path) == []

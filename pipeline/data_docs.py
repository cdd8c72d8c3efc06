"""Data docs: a page per warehouse table, and where each gold column comes from.

Written by `publish` under `dashboard/docs/` beside the dashboard, as self-contained HTML files
that open from `file://`. Everything on them is read from the sources of truth, never written by
hand: the schema files and layouts under `sql/schemas/` (`sql.catalog`), the SQL files that write
each table and the data-quality checks that read it (found by parsing every file under `sql/` with
sqlglot), and the column-level lineage of each gold column, computed by sqlglot's lineage module
from the gold SQL down to silver columns, then to the raw column names the landing contract maps
to them (`spark.contract.ALIASES`).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage

from pipeline.config import cache_dir
from pipeline.page_style import BASE_STYLE
from spark import contract
from sql import catalog

INDEX_FILE = "index.html"
CHECKS_DIR = "checks"
CLEANING_JOB = "spark/job.py"
"""What writes the staged silver rows before the merges: the PySpark cleaning job."""

_STYLE = BASE_STYLE + ".lineage text { font: 12px system-ui, sans-serif; }\n"


@dataclass
class TableDoc:
    table: catalog.Table
    written_by: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    summary: str = ""
    lineage: dict[str, set[str]] = field(default_factory=dict)
    """Gold tables: each column's silver sources, `dataset.table.column`."""

    @property
    def file_name(self) -> str:
        return f"{self.table.qualified_name}.html"


def _tables_of(statement: exp.Expr) -> tuple[set[str], set[str]]:
    """The warehouse tables a statement writes (MERGE, INSERT, DELETE target) and reads."""
    written: set[str] = set()
    target = statement.this if isinstance(statement, exp.Merge | exp.Insert | exp.Delete) else None
    if isinstance(target, exp.Schema):
        target = target.this
    if isinstance(target, exp.Table) and target.db:
        written.add(f"{target.db}.{target.name}")
    read = {f"{t.db}.{t.name}" for t in statement.find_all(exp.Table) if t.db}
    return written, read - written


@cache
def _parsed() -> dict[str, list[exp.Expr]]:
    """Every SQL file under `sql/` (relative path -> its statements); a file sqlglot cannot parse is
    left out of the docs rather than failing the run that publishes them."""
    found: dict[str, list[exp.Expr]] = {}
    for path in sorted(catalog.SQL_DIR.rglob("*.sql")):
        try:
            statements = sqlglot.parse(path.read_text(encoding="utf-8"), dialect="bigquery")
        except SqlglotError:
            continue
        found[path.relative_to(catalog.SQL_DIR).as_posix()] = [s for s in statements if s is not None]
    return found


def _summary(relative: str) -> str:
    """The leading `--` comment of a SQL file: what the file says its table holds."""
    lines = []
    for line in catalog.read_sql(relative).splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return " ".join(lines)


@cache
def _schema() -> dict[str, dict[str, dict[str, str]]]:
    """Every table's columns and types, as sqlglot's lineage wants them."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for t in catalog.tables():
        schema.setdefault(t.dataset, {})[t.name] = {f.name: f.type for f in t.fields}
    return schema


def _gold_select(table: catalog.Table) -> str | None:
    """The gold SELECT file a gold table's rows are the result of (`sql/gold/<name>.sql`)."""
    relative = f"gold/{table.name}.sql"
    statements = _parsed().get(relative)
    return relative if statements and isinstance(statements[-1], exp.Query) else None


@cache
def column_sources(qualified_column: str) -> frozenset[str]:
    """The silver columns (`silver.transactions.amount`) a gold column is computed from, through
    every CTE and every gold table it reads (sqlglot lineage). Empty for a column no select file
    computes (a MERGE-built table)."""
    dataset, name, column = qualified_column.split(".")
    relative = _gold_select(catalog.table(f"{dataset}.{name}"))
    if relative is None:
        return frozenset()
    node = lineage(column, catalog.read_sql(relative), schema=_schema(), dialect="bigquery")
    found: set[str] = set()
    for leaf in node.walk():
        source = leaf.source
        if not isinstance(source, exp.Table) or not source.db:
            continue
        upstream = f"{source.db}.{source.name}.{leaf.name.split('.')[-1]}"
        found |= column_sources(upstream) if source.db == "gold" else {upstream}
    return frozenset(found)


def raw_names(silver_column: str) -> list[str]:
    """The landing column names the contract reads into a silver column: its own name and every
    alias of it (after name normalization), or none for a column the cleaning job adds."""
    dataset, name, column = silver_column.split(".")
    entity = next((e for e in contract.ENTITIES.values() if e.table == f"{dataset}.{name}"), None)
    if entity is None:
        return []
    # A column the silver load derives reads what the contract reads into its source column.
    column = contract.DERIVED_COLUMNS.get(column, column)
    aliases = sorted(raw for raw, canonical in contract.ALIASES[entity.name].items() if canonical == column)
    return [column, *aliases] if column in entity.source_columns else aliases


def documents() -> list[TableDoc]:
    """Every table of `sql/schemas/tables.json` with what writes it, what checks it, and (gold) its
    lineage."""
    docs = {t.qualified_name: TableDoc(t) for t in catalog.tables()}
    for relative, statements in _parsed().items():
        for statement in statements:
            written, read = _tables_of(statement)
            for name in written & docs.keys():
                if relative not in docs[name].written_by:
                    docs[name].written_by.append(relative)
            if relative.startswith(f"{CHECKS_DIR}/"):
                for name in read & docs.keys():
                    if relative not in docs[name].checks:
                        docs[name].checks.append(relative)
    for doc in docs.values():
        t = doc.table
        if t.dataset == "silver" and any(e.table == t.qualified_name for e in contract.ENTITIES.values()):
            doc.written_by.insert(0, CLEANING_JOB)
        if t.dataset == "gold" and (select := _gold_select(t)) is not None:
            doc.written_by.insert(0, select)
            doc.summary = _summary(select)
            doc.lineage = {f.name: set(column_sources(f"{t.qualified_name}.{f.name}")) for f in t.fields}
    return list(docs.values())


def _page(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_STYLE}</style></head>",
            "<body>",
            '<p><a href="../index.html">Dashboard</a> · <a href="index.html">All tables</a></p>',
            f"<h1>{html.escape(title)}</h1>",
            *body,
            "</body></html>",
            "",
        ]
    )


def _lineage_svg(doc: TableDoc) -> str:
    """Raw names -> silver columns -> gold columns, as three columns of labels joined by lines."""
    gold = [c for c in doc.table.column_names if doc.lineage.get(c)]
    silver = sorted({s for c in gold for s in doc.lineage[c]})
    raw = [(r, s) for s in silver for r in raw_names(s)]  # grouped by the silver column they feed
    step, width = 18, 900
    height = step * (max(len(gold), len(silver), len(raw)) + 1)
    x = {"raw": 10, "silver": 330, "gold": 660}

    def y(index: int, count: int) -> float:
        return (height - step * count) / 2 + step * (index + 0.75)

    parts = [
        f'<svg class="lineage" width="{width}" height="{height}" role="img" aria-label="column lineage">'
    ]
    for i, (name, target) in enumerate(raw):
        j = silver.index(target)
        parts.append(
            f'<line x1="{x["raw"] + 150}" y1="{y(i, len(raw)) - 4}" x2="{x["silver"] - 5}" '
            f'y2="{y(j, len(silver)) - 4}" stroke="#bbb"/>'
        )
        parts.append(f'<text x="{x["raw"]}" y="{y(i, len(raw))}">{html.escape(name)}</text>')
    for j, column in enumerate(gold):
        for source in doc.lineage[column]:
            i = silver.index(source)
            parts.append(
                f'<line x1="{x["silver"] + 250}" y1="{y(i, len(silver)) - 4}" x2="{x["gold"] - 5}" '
                f'y2="{y(j, len(gold)) - 4}" stroke="#4a7bb7"/>'
            )
        parts.append(f'<text x="{x["gold"]}" y="{y(j, len(gold))}">{html.escape(column)}</text>')
    for i, source in enumerate(silver):
        parts.append(f'<text x="{x["silver"]}" y="{y(i, len(silver))}">{html.escape(source)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table_page(doc: TableDoc) -> str:
    t = doc.table
    layout = [
        ("partitioning", f"{t.partition_type} on {t.partition_field}" if t.partition_field else "none"),
        ("clustering", ", ".join(t.clustering) or "none"),
        ("key (one row per)", ", ".join(t.key)),
        ("schema file", f"sql/schemas/{t.dataset}/{t.schema_path.name}"),
    ]
    body = [f"<p>{html.escape(doc.summary)}</p>" if doc.summary else ""]
    body.append("<table>" + "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in layout))
    body.append("</table><h2>Columns</h2><table><tr><th>column</th><th>type</th><th>mode</th>")
    body.append("<th>description</th><th>computed from</th></tr>")
    for f in t.fields:
        sources = ", ".join(sorted(doc.lineage.get(f.name, ())))
        body.append(
            f'<tr id="{html.escape(f.name)}"><td><code>{html.escape(f.name)}</code></td><td>{f.type}</td>'
            f"<td>{f.mode}</td><td>{html.escape(f.description)}</td><td>{html.escape(sources)}</td></tr>"
        )
    body.append("</table><h2>Written by</h2><ul>")
    body += [f"<li><code>{html.escape(w)}</code></li>" for w in doc.written_by] or ["<li>-</li>"]
    body.append("</ul><h2>Data-quality checks that read it</h2><ul>")
    body += [f"<li><code>sql/{html.escape(c)}</code></li>" for c in doc.checks] or ["<li>none</li>"]
    body.append("</ul>")
    if any(doc.lineage.values()):
        body.append("<h2>Lineage: raw column names, silver columns, this table's columns</h2>")
        body.append(_lineage_svg(doc))
    return _page(t.qualified_name, body)


def _index(docs: list[TableDoc]) -> str:
    body = ["<p>Every table of the warehouse, from its schema file under <code>sql/schemas/</code>.</p>"]
    for dataset in catalog.DATASETS:
        body.append(f"<h2>{dataset}</h2><ul>")
        body += [
            f'<li><a href="{d.file_name}">{d.table.qualified_name}</a> {html.escape(d.summary)}</li>'
            for d in docs
            if d.table.dataset == dataset
        ]
        body.append("</ul>")
    return _page("Data docs", body)


def fingerprint() -> str:
    """What the pages are made of: every SQL and schema file, the contract and this module. Pages
    of the same fingerprint are the same bytes."""
    sources = [
        *sorted(catalog.SQL_DIR.rglob("*.sql")),
        *sorted(catalog.SCHEMAS_DIR.rglob("*.json")),
        Path(contract.__file__),
        Path(__file__),
    ]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _render(target: Path) -> None:
    docs = documents()
    target.mkdir(parents=True, exist_ok=True)
    pages = {INDEX_FILE: _index(docs), **{d.file_name: _table_page(d) for d in docs}}
    for name, text in pages.items():
        (target / name).write_text(text, encoding="utf-8")


def rendered() -> Path:
    """The folder holding the index and a page per table, made once per fingerprint and machine
    (`cache_dir()`, about a second of parsing and lineage).

    The pages depend on the code only, never on the data: every later publish copies them, and
    `pulumi up` uploads them into Composer's DAG folder for the gcp target's publish
    (`infra.artifacts`), as Composer has no sqlglot."""
    cached = cache_dir() / f"data-docs-{fingerprint()}"
    if not cached.is_dir():
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        _render(partial)
        with contextlib.suppress(OSError):  # another process made it first: theirs is the same
            partial.rename(cached)
        shutil.rmtree(partial, ignore_errors=True)
    return cached


def write(out_dir: Path) -> list[Path]:
    """Write the index and a page per table into `out_dir` (`dashboard/docs`), copies of
    `rendered()`; the paths written."""
    cached = rendered()
    out_dir.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(page, out_dir / page.name)) for page in sorted(cached.iterdir())]

"""Table schemas and SQL files, read from this folder and nowhere else.

`sql/schemas/<dataset>/<table>.json` is a BigQuery JSON schema (name, type, mode, description);
`sql/schemas/tables.json` holds, per table, its partitioning, clustering and key. Spark, DuckDB,
the BigQuery load jobs and Pulumi all build their view of a table from `table()`. Stdlib only, so
the Spark job can ship it to Dataproc.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = SQL_DIR / "schemas"
DATASETS = ("silver", "gold", "audit")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    mode: str
    description: str
    precision: int | None = None
    scale: int | None = None

    @property
    def required(self) -> bool:
        return self.mode == "REQUIRED"


@dataclass(frozen=True)
class Table:
    dataset: str
    name: str
    fields: tuple[Field, ...]
    partition_field: str | None
    partition_type: str | None
    clustering: tuple[str, ...]
    require_partition_filter: bool
    key: tuple[str, ...]
    schema_path: Path

    @property
    def qualified_name(self) -> str:
        return f"{self.dataset}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.qualified_name} has no column {name!r} ({self.schema_path})")

    def schema_json(self) -> list[dict[str, Any]]:
        """The BigQuery JSON schema exactly as stored, for load jobs and Pulumi."""
        schema: list[dict[str, Any]] = _read_json(self.schema_path)
        return schema


@cache
def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _field(raw: dict[str, Any]) -> Field:
    return Field(
        name=raw["name"],
        type=raw["type"],
        mode=raw.get("mode", "NULLABLE"),
        description=raw.get("description", ""),
        precision=int(raw["precision"]) if "precision" in raw else None,
        scale=int(raw["scale"]) if "scale" in raw else None,
    )


@cache
def table(qualified_name: str) -> Table:
    """The table `dataset.name`, e.g. `table("silver.transactions")`."""
    layout = _read_json(SCHEMAS_DIR / "tables.json")
    if qualified_name not in layout:
        raise KeyError(f"unknown table {qualified_name!r}: not listed in {SCHEMAS_DIR / 'tables.json'}")
    dataset, name = qualified_name.split(".", 1)
    path = SCHEMAS_DIR / dataset / f"{name}.json"
    spec = layout[qualified_name]
    partition = spec.get("partition") or {}
    return Table(
        dataset=dataset,
        name=name,
        fields=tuple(_field(f) for f in _read_json(path)),
        partition_field=partition.get("field"),
        partition_type=partition.get("type"),
        clustering=tuple(spec.get("clustering", ())),
        require_partition_filter=bool(spec.get("require_partition_filter", False)),
        key=tuple(spec.get("key", ())),
        schema_path=path,
    )


def tables(dataset: str | None = None) -> list[Table]:
    """Every table listed in tables.json, optionally of one dataset, in file order."""
    layout = _read_json(SCHEMAS_DIR / "tables.json")
    return [table(q) for q in layout if dataset is None or q.startswith(f"{dataset}.")]


def sql_path(relative: str) -> Path:
    """Path of a SQL file, e.g. `sql_path("gold/aov_daily.sql")`."""
    path = SQL_DIR / relative
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path


def read_sql(relative: str) -> str:
    return sql_path(relative).read_text(encoding="utf-8")

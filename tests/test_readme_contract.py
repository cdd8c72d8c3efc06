"""The README documents the contract exactly as `spark/contract.py` and the schemas define it."""

from __future__ import annotations

import re
from pathlib import Path

from spark import contract

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _table_rows(header: str) -> list[list[str]]:
    """Rows of the first Markdown table whose header line starts with `header`."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_every_alias_is_documented_and_nothing_else() -> None:
    documented = {
        (entity, source.strip(), target)
        for entity, sources, target in _table_rows("| entity | source name |")
        for source in sources.split(",")
    }
    actual = {(e, s, t) for e, aliases in contract.ALIASES.items() for s, t in aliases.items()}
    assert documented == actual


def test_every_reason_code_is_documented() -> None:
    documented = {row[0] for row in _table_rows("| reason | meaning |")}
    assert documented == set(contract.REASONS)


def test_the_transactions_table_lists_the_silver_columns_in_order() -> None:
    documented = [row[0] for row in _table_rows("| column | type | rule |")]
    assert documented == list(contract.ENTITIES["transactions"].source_columns)


def test_required_columns_are_marked_required() -> None:
    rules = {row[0]: row[2] for row in _table_rows("| column | type | rule |")}
    for column in contract.ENTITIES["transactions"].required:
        assert re.match(r"required", rules[column]), column

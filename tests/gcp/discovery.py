"""Validate request bodies against Google's API discovery documents shipped in google-api-python-client.

Every field name must be known to its schema, every enum value allowed, every type right; an
output-only field must not be sent; an UPPER_CASE value of a string field without an enum must be one
the field's description names (BigQuery documents `writeDisposition` and friends that way).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
_TOKEN = re.compile(r"^[A-Z][A-Z0-9_]+$")
_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_INT = re.compile(r"^-?\d+$")


@cache
def document(name: str) -> dict[str, Any]:
    """`bigquery.v2` or `dataproc.v1`."""
    return json.loads((DOCUMENTS / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _check_string(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: expected string, got {type(value).__name__} {value!r}"]
    errors = []
    fmt = schema.get("format")
    if fmt in ("int64", "uint64", "int32") and not _INT.match(value):
        errors.append(f"{path}: {value!r} is not an integer string ({fmt})")
    if fmt == "google-duration" and not _DURATION.match(value):
        errors.append(f"{path}: {value!r} is not a duration like '3600s'")
    if "enum" in schema:
        if value not in schema["enum"]:
            errors.append(f"{path}: {value!r} not in enum {schema['enum']}")
    elif _TOKEN.match(value):
        description = schema.get("description", "")
        named = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", description))
        if named and value not in named:
            errors.append(f"{path}: {value!r} is not among the values its description names {sorted(named)}")
    return errors


def validate(value: Any, schema: dict[str, Any], doc: dict[str, Any], path: str = "$") -> list[str]:
    """Every error of `value` against a discovery schema (empty: valid)."""
    if "$ref" in schema:
        return validate(value, doc["schemas"][schema["$ref"]], doc, path)
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {type(value).__name__}"]
        errors: list[str] = []
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                field = properties[key]
                if field.get("readOnly") or field.get("description", "").startswith("Output only"):
                    errors.append(f"{path}.{key}: output-only field sent")
                errors += validate(item, field, doc, f"{path}.{key}")
            elif extra is not None:
                errors += validate(item, extra, doc, f"{path}.{key}")
            else:
                errors.append(f"{path}.{key}: unknown field (known: {sorted(properties or {})})")
        return errors
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected array, got {type(value).__name__}"]
        return [
            e for i, item in enumerate(value) for e in validate(item, schema["items"], doc, f"{path}[{i}]")
        ]
    if kind == "string":
        return _check_string(value, schema, path)
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected boolean, got {value!r}"]
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected integer, got {value!r}"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected number, got {value!r}"]
    if kind == "any":
        return []
    return [f"{path}: schema without a type {schema}"]


def validate_bigquery_job(body: dict[str, Any]) -> list[str]:
    """A `jobs.insert` body (`Job`)."""
    doc = document("bigquery.v2")
    return validate(body, doc["schemas"]["Job"], doc)


def validate_dataproc_batch(body: dict[str, Any]) -> list[str]:
    """A `batches.create` body (`Batch`, REST/JSON field names)."""
    doc = document("dataproc.v1")
    return validate(body, doc["schemas"]["Batch"], doc)


# GoogleSQL types a query parameter may have (QueryParameterType.type lists none in its description).
PARAMETER_TYPES = {
    "STRING", "BYTES", "INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "TIMESTAMP", "DATE",
    "TIME", "DATETIME", "GEOGRAPHY", "JSON", "INTERVAL", "RANGE", "ARRAY", "STRUCT",
}  # fmt: skip


def parameter_type_errors(parameters: list[dict[str, Any]]) -> list[str]:
    errors = []
    for p in parameters:
        t = p["parameterType"]
        if t["type"] not in PARAMETER_TYPES:
            errors.append(f"@{p['name']}: type {t['type']}")
        if t["type"] == "ARRAY" and t["arrayType"]["type"] not in PARAMETER_TYPES:
            errors.append(f"@{p['name']}: element type {t['arrayType']['type']}")
    return errors

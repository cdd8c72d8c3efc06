"""Source settings as code: how each landing file is read, from `sources.yaml`.

Real exports differ per tool and per locale: a spreadsheet in most of Europe writes `;` between
fields, `,` before decimals and `03/04/2025` for the 3rd of April; a CRM calls the key
`Order Number`; a point-of-sale dump is Windows-1252. One file per project says so, per entity and
optionally per file-name glob, instead of code edits:

```yaml
transactions:
  date_order: dmy
  columns:
    Order Number: transaction_id
  files:
    "pos_*.csv":
      encoding: cp1252
      delimiter: ";"
      decimal: ","
```

The pipeline validates the file before anything runs (`load`), resolves each claimed file's
settings (`Sources.for_file`) and hands them to the Spark job as JSON (`SourceSettings.to_json`):
the job itself never reads YAML, so it needs nothing beyond `spark/` and `sql/` on Dataproc.
No Spark here (PyYAML is imported by `load` alone): the DAG imports this module on Composer.
"""

from __future__ import annotations

import codecs
import difflib
import fnmatch
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spark import contract

ENTITY_NAMES = tuple(contract.ENTITIES)
AUTO = "auto"
DELIMITERS = (",", ";", "\t", "|")
"""The delimiters `auto` chooses among (from the header line)."""
DECIMALS = (".", ",")
DATE_ORDERS = ("ymd", "dmy", "mdy")
SETTING_KEYS = (
    "columns",
    "delimiter",
    "decimal",
    "encoding",
    "date_order",
    "source_tz",
    "default_currency",
    "max_quarantine_pct",
)
FILES_KEY = "files"


class SourcesError(ValueError):
    """The settings file is not valid; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class SourceSettings:
    """How one file is read. `date_order` None: from the file itself (`spark.dates`)."""

    delimiter: str = AUTO
    decimal: str = "."
    encoding: str = AUTO
    date_order: str | None = None
    source_tz: str = "UTC"
    default_currency: str = "USD"
    max_quarantine_pct: float = 20.0
    columns: tuple[tuple[str, str], ...] = ()
    """Source column name (as in the header) -> contract name, beside the built-in aliases."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SourceSettings:
        values = json.loads(text)
        values["columns"] = tuple((str(k), str(v)) for k, v in values.get("columns", ()))
        return cls(**values)

    @property
    def fingerprint(self) -> str:
        """Changes when any setting of the file changes (a fix of its settings)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()


@dataclass(frozen=True)
class _Scope:
    values: Mapping[str, Any]
    files: tuple[tuple[str, Mapping[str, Any]], ...] = ()


@dataclass(frozen=True)
class Sources:
    """The validated settings file; `for_file` resolves one file's settings."""

    origin: str = "(no sources file)"
    defaults: SourceSettings = field(default_factory=SourceSettings)
    scopes: Mapping[str, _Scope] = field(default_factory=dict)

    def for_file(self, entity: str, relative_name: str) -> SourceSettings:
        """The settings of `entity`'s file at `relative_name` (its path under the entity's folder):
        the defaults, then the entity's keys, then each matching `files` glob in file order (a later
        match wins a key; `columns` are merged)."""
        scope = self.scopes.get(entity)
        if scope is None:
            return self.defaults
        layers = [scope.values]
        name = relative_name.replace("\\", "/")
        base = name.rsplit("/", 1)[-1]
        layers += [
            v
            for pattern, v in scope.files
            if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(base, pattern)
        ]
        settings = self.defaults
        columns = dict(settings.columns)
        for layer in layers:
            changes = {k: v for k, v in layer.items() if k != "columns"}
            columns.update(layer.get("columns", {}))
            settings = replace(settings, **changes)
        return replace(settings, columns=tuple(sorted(columns.items())))


def _allowed(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


def _check_value(where: str, key: str, value: Any, entity: str) -> Any:
    """One setting, validated and normalized; `where` names the file and key path for errors."""
    if key == "delimiter":
        if value == AUTO or (isinstance(value, str) and len(value) == 1 and value not in '"\r\n'):
            return value
        raise SourcesError(
            f"{where}: {value!r} is not a delimiter: use {AUTO!r} (chosen from the header among "
            f"{_allowed(DELIMITERS)}) or one character such as ';'"
        )
    if key == "decimal":
        if value in DECIMALS:
            return value
        raise SourcesError(f"{where}: {value!r} is not a decimal separator: use {_allowed(DECIMALS)}")
    if key == "encoding":
        if value == AUTO:
            return value
        try:
            codecs.lookup(str(value))
        except LookupError:
            raise SourcesError(
                f"{where}: unknown encoding {value!r}: use {AUTO!r} or a name such as 'utf-8', "
                "'latin-1', 'cp1252', 'utf-16'"
            ) from None
        return str(value)
    if key == "date_order":
        if value in DATE_ORDERS:
            return value
        raise SourcesError(f"{where}: {value!r} is not a date order: use {_allowed(DATE_ORDERS)}")
    if key == "source_tz":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise SourcesError(
                f"{where}: unknown time zone {value!r}: use an IANA name such as 'Europe/Paris'"
            ) from None
        return str(value)
    if key == "default_currency":
        if isinstance(value, str) and len(value) == 3 and value.isalpha():
            return value.upper()
        raise SourcesError(f"{where}: {value!r} is not an ISO 4217 currency code such as 'EUR'")
    if key == "max_quarantine_pct":
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= 100
        ):
            return float(value)
        raise SourcesError(f"{where}: {value!r} is not a percentage: use a number from 0 to 100")
    if key == "columns":
        if not isinstance(value, Mapping):
            raise SourcesError(f"{where}: expected a mapping of source column name -> contract column name")
        allowed = contract.ENTITIES[entity].source_columns
        out: dict[str, str] = {}
        for source, target in value.items():
            if target not in allowed:
                close = difflib.get_close_matches(str(target), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise SourcesError(
                    f"{where}.{source}: {target!r} is not a column of {entity}{hint}; "
                    f"the contract columns are {', '.join(allowed)}"
                )
            out[str(source)] = str(target)
        return out
    raise AssertionError(key)


def _check_keys(where: str, values: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in values:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SourcesError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")


def _settings(
    where: str, values: Any, entity: str, *, nested: bool
) -> tuple[dict[str, Any], tuple[tuple[str, Mapping[str, Any]], ...]]:
    if values is None:
        return {}, ()
    if not isinstance(values, Mapping):
        raise SourcesError(f"{where}: expected a mapping of settings, got {type(values).__name__}")
    _check_keys(where, values, (*SETTING_KEYS, FILES_KEY) if nested else SETTING_KEYS)
    checked = {k: _check_value(f"{where}.{k}", k, v, entity) for k, v in values.items() if k != FILES_KEY}
    files: list[tuple[str, Mapping[str, Any]]] = []
    raw_files = values.get(FILES_KEY) or {}
    if not isinstance(raw_files, Mapping):
        raise SourcesError(f"{where}.{FILES_KEY}: expected a mapping of file-name glob -> settings")
    for pattern, scoped in raw_files.items():
        inner, _ = _settings(f'{where}.{FILES_KEY}["{pattern}"]', scoped, entity, nested=False)
        files.append((str(pattern), inner))
    return checked, tuple(files)


def parse(data: Any, *, origin: str, defaults: SourceSettings) -> Sources:
    """Validate the loaded YAML document."""
    if data is None:
        return Sources(origin, defaults, {})
    if not isinstance(data, Mapping):
        raise SourcesError(f"{origin}: expected a mapping of entity -> settings ({', '.join(ENTITY_NAMES)})")
    _check_keys(origin, data, ENTITY_NAMES)
    scopes = {}
    for entity, values in data.items():
        checked, files = _settings(f"{origin}: {entity}", values, entity, nested=True)
        scopes[entity] = _Scope(checked, files)
    return Sources(origin, defaults, scopes)


def load(path: Path, *, defaults: SourceSettings) -> Sources:
    """Read and validate a settings file; no file means the defaults for every file."""
    if not path.is_file():
        return Sources(f"{path} (absent: defaults)", defaults, {})
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SourcesError(f"{path}: not valid YAML: {err}") from None
    return parse(data, origin=str(path), defaults=defaults)


def fingerprint_of(path: Path) -> str:
    """sha256 of the settings file's bytes (of nothing when it is absent)."""
    return hashlib.sha256(path.read_bytes() if path.is_file() else b"").hexdigest()

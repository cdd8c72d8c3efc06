"""Reference data from pycountry, built on the driver: ISO 4217 currency codes and ISO 3166-1
country spellings. The job turns them into an `isin` set and a small lookup DataFrame (joined,
never a UDF).

pycountry opens its JSON databases by file path, which fails when the package is imported from
the `--py-files` zip on Dataproc; then the same JSON files are read through importlib.resources.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from spark import contract


def _database(name: str, key: str) -> list[dict[str, Any]]:
    text = resources.files("pycountry").joinpath("databases", name).read_text(encoding="utf-8")
    return list(json.loads(text)[key])


@cache
def currency_codes() -> frozenset[str]:
    """Every ISO 4217 alphabetic code (`USD`, `EUR`, ...)."""
    try:
        import pycountry

        return frozenset(c.alpha_3 for c in pycountry.currencies)
    except OSError:
        return frozenset(c["alpha_3"] for c in _database("iso4217.json", "4217"))


def _country_records() -> list[dict[str, Any]]:
    try:
        import pycountry

        return [
            {k: getattr(c, k, None) for k in ("alpha_2", "alpha_3", "name", "official_name", "common_name")}
            for c in pycountry.countries
        ]
    except OSError:
        return _database("iso3166-1.json", "3166-1")


@cache
def country_spellings() -> tuple[tuple[str, str], ...]:
    """(upper-cased spelling, alpha-2) for every alpha-2, alpha-3, name, official and common name,
    plus `contract.COUNTRY_ALIASES`; one row per spelling, sorted."""
    out: dict[str, str] = {}
    for record in _country_records():
        alpha_2 = record["alpha_2"]
        for key in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = record.get(key)
            if value:
                out.setdefault(value.strip().upper(), alpha_2)
    for spelling, alpha_2 in contract.COUNTRY_ALIASES.items():
        out.setdefault(spelling.upper(), alpha_2)
    return tuple(sorted(out.items()))

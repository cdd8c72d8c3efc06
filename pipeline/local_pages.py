"""The local target's side of the pages: their rows from the DuckDB warehouse and Plotly's bundle
from the `plotly` package.

Apart from `pipeline.dashboard` and `pipeline.health_page` because the gcp target imports those on
Composer, whose image has neither DuckDB nor plotly: there the rows come from BigQuery and the bundle
from the DAG folder, where infra uploads it (`pipeline.gcp.pages`).
"""

from __future__ import annotations

import pkgutil
from typing import TYPE_CHECKING

from pipeline import warehouse

if TYPE_CHECKING:
    import duckdb

    from pipeline.dashboard import Fetch

PLOTLY_BUNDLE = "package_data/plotly.min.js"
"""Plotly's JavaScript bundle inside the `plotly` package (what `plotly.offline.get_plotlyjs` reads)."""


def warehouse_fetch(con: duckdb.DuckDBPyConnection) -> Fetch:
    return lambda relative, params: warehouse.fetch_dicts(con, relative, params)


def plotly_js() -> str:
    data = pkgutil.get_data("plotly", PLOTLY_BUNDLE)
    if data is None:
        raise FileNotFoundError(f"plotly/{PLOTLY_BUNDLE}")
    return data.decode("utf-8")

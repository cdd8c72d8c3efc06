"""The Looker Studio report over the gold tables: a Linking API URL, a stack output.

https://developers.google.com/looker-studio/integrate/linking-api: a URL of the form
`https://lookerstudio.google.com/reporting/create?<parameters>` opens a report whose data
sources the parameters configure, here one BigQuery table data source per gold table
(`ds.<alias>.connector=bigQuery`, `type=TABLE`, `projectId`, `datasetId`, `tableId`), over a
template report (`c.reportId`) or, without one, Looker Studio's default report. Whoever opens it
sees the data their own Google account can read in BigQuery (viewer's credentials), and saves
their copy once with "Edit and share". The data source aliases are the gold table names: a
template made for this project names its data sources so.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from sql import catalog

LINKING_API = "https://lookerstudio.google.com/reporting/create"
REPORT_NAME = "Customer analytics ({stack})"
REPORTED_TABLES = ("aov_daily", "customer_rfm", "peak_hours", "agent_performance")
"""The gold tables the report reads, each a data source aliased by its name."""
TEMPLATE_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
"""A report id, as in `lookerstudio.google.com/reporting/<id>`."""


def report_url(*, project: str, stack: str, template_report_id: str = "") -> str:
    """The Linking API URL of the stack's report: every `REPORTED_TABLES` table of its gold dataset."""
    params: dict[str, str] = {}
    if template_report_id:
        params["c.reportId"] = template_report_id
    params["r.reportName"] = REPORT_NAME.format(stack=stack)
    for name in REPORTED_TABLES:
        table = catalog.table(f"gold.{name}")
        params |= {
            f"ds.{name}.connector": "bigQuery",
            f"ds.{name}.type": "TABLE",
            f"ds.{name}.projectId": project,
            f"ds.{name}.datasetId": table.dataset,
            f"ds.{name}.tableId": table.name,
            f"ds.{name}.datasourceName": table.qualified_name,
        }
    return f"{LINKING_API}?{urlencode(params)}"

"""The Airflow plugin `cdi ui` loads (its plugins folder): the run reports and the dashboard of
the OUTPUT inside the Airflow UI (`pipeline.report_pages`).

Airflow 3 plugin views: `fastapi_apps` mounts the app on the API server, `external_views` adds a
"Run report" tab to each DAG run (`{RUN_ID}` is filled in by the UI) and a "Dashboard" entry to the
navigation, both shown inside the UI.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pipeline.config import Settings
from pipeline.report_pages import create_app

PREFIX = "/cdi"


class CdiViews(AirflowPlugin):
    name = "cdi"
    # Class attributes are how Airflow reads a plugin (its base class declares them so).
    fastapi_apps = [  # noqa: RUF012
        {"app": create_app(Settings.from_env()), "url_prefix": PREFIX, "name": "CDI reports"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Run report",
            "href": f"{PREFIX}/runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "cdi-run-report",
        },
        {
            "name": "Dashboard",
            "href": f"{PREFIX}/dashboard/",
            "destination": "nav",
            "url_route": "cdi-dashboard",
        },
    ]

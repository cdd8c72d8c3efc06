"""The run reports and the dashboard of an OUTPUT, served inside the local Airflow UI (`cdi ui`).

A FastAPI app the API server mounts under `/cdi` (an Airflow 3 plugin,
`pipeline/airflow_plugins/cdi_views.py`): the DAG run view gets a "Run report" tab
(`/cdi/runs/<run id>`), the navigation a "Dashboard" entry. Files are read on each request, so a
run that just finished shows at once; the app only reads.
"""

from __future__ import annotations

import html
import json

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from pipeline.config import Settings
from pipeline.report import render_summary
from pipeline.runs import run_key

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem}}pre{{font-size:0.9rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body))


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="CDI reports", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        reports = sorted(settings.reports_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        items = "".join(
            f'<li><a href="runs/{html.escape(json.loads(p.read_text(encoding="utf-8"))["run_id"])}">'
            f"{html.escape(p.stem)}</a></li>"
            for p in reports
        )
        return _page(
            f"Runs of {settings.output_dir}",
            f'<p><a href="dashboard/">Dashboard</a></p><ul>{items or "<li>no run yet</li>"}</ul>',
        )

    @app.get("/runs/{run_id:path}", response_class=HTMLResponse)
    def run(run_id: str) -> HTMLResponse:
        path = settings.reports_dir / f"{run_key(run_id)}.json"
        if not path.is_file():
            raise HTTPException(404, f"no report for run {run_id} in {settings.reports_dir} (yet)")
        report = json.loads(path.read_text(encoding="utf-8"))
        return _page(
            f"Run {run_id}",
            f"<pre>{html.escape(render_summary(report))}</pre>"
            f'<p><a href="../dashboard/">Dashboard</a> · <a href="../reports/{html.escape(path.name)}">'
            "report JSON</a></p>",
        )

    @app.get("/dashboard")
    def dashboard_root() -> RedirectResponse:
        return RedirectResponse("dashboard/")

    app.mount("/dashboard", StaticFiles(directory=settings.dashboard_dir, html=True, check_dir=False))
    app.mount("/reports", StaticFiles(directory=settings.reports_dir, check_dir=False))
    return app

"""The pages on GCP: the dashboard, the run-health page and the data docs, built by `publish` from
BigQuery and written to the private reports bucket under `dashboard/`.

The same pages as the local target's (`pipeline.dashboard`, `pipeline.health_page`,
`pipeline.data_docs`), from the same SQL files: only the `Fetch` differs, a BigQuery query job per
file with its GoogleSQL named parameters. What Composer cannot make, as its image has neither plotly
nor sqlglot (and a prod environment builds no PyPI package, `infra.config.composer_pypi_packages`),
comes from the DAG folder, where `pulumi up` uploads it (`infra.artifacts`, `PAGE_ASSETS_DIR`):
Plotly's bundle and the data docs, which depend on the code only.

The bucket is private (uniform bucket-level access, public access prevention enforced, no public
principal: `infra/components/storage.py`, `iam/`): a person opens the page at its authenticated
browser URL, signed in with a Google account that may read the bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipeline import dashboard, health_page
from pipeline.config import Settings
from pipeline.dashboard import DOCS_DIR, HEALTH_FILE, INDEX_FILE, Fetch
from pipeline.gcp import bigquery

PREFIX = "dashboard"
"""Where the pages are in the reports bucket: `dashboard/index.html`, `dashboard/health.html`,
`dashboard/docs/*.html`, so the pages' relative links hold there as in the local folder."""
PLOTLY_FILE = "plotly.min.js"
DOCS_ASSETS = "docs"
CONTENT_TYPE = "text/html; charset=utf-8"
# Authenticated browser downloads: a signed-in Google account with storage.objects.get on the
# object opens it at https://storage.cloud.google.com/BUCKET_NAME/OBJECT_NAME (the bucket may not
# have Data Access audit logs on):
# https://cloud.google.com/storage/docs/access-control/cookie-based-authentication and
# https://cloud.google.com/storage/docs/request-endpoints ("Authenticated browser downloads").
BROWSER_ENDPOINT = "https://storage.cloud.google.com"


def browser_url(bucket: str, name: str) -> str:
    """The authenticated browser URL of object `name` (its path parts percent-encoded)."""
    return f"{BROWSER_ENDPOINT}/{bucket}/{quote(name)}"


def dashboard_url(bucket: str) -> str:
    """Where people open the dashboard, linked from the run summary."""
    return browser_url(bucket, f"{PREFIX}/{INDEX_FILE}")


def _python(value: Any) -> Any:
    """A BigQuery value as the local warehouse returns it: the client already gives DATE as date,
    NUMERIC as Decimal, INT64 as int; TIMESTAMP comes timezone-aware (UTC), DuckDB's TIMESTAMP naive
    UTC, so it is made naive to render the same text on both targets."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, list):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    return value


def bigquery_fetch(hook: Any, *, project: str, location: str) -> Fetch:
    """A `Fetch` running each SQL file as a BigQuery query job (`BigQueryHook.insert_job`, waiting
    for its result) with the named parameters the file uses."""

    def fetch(relative: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        job = hook.insert_job(
            configuration=bigquery.file_job(relative, params), project_id=project, location=location
        )
        return [{key: _python(value) for key, value in row.items()} for row in job.result()]

    return fetch


def build(
    fetch: Fetch,
    assets: Path,
    *,
    run_id: str,
    run_date: date,
    currency: str,
    reporting_tz: str,
    generated_at: datetime,
) -> dict[str, bytes]:
    """Object name (under `PREFIX`) -> content of every page."""
    bundle = assets / PLOTLY_FILE
    docs = sorted((assets / DOCS_ASSETS).glob("*.html"))
    if not bundle.is_file() or not docs:
        raise FileNotFoundError(
            f"{assets}: no {PLOTLY_FILE} or {DOCS_ASSETS}/*.html; `pulumi up` uploads them (infra/artifacts.py)"
        )
    data = dashboard.load(fetch, run_id=run_id, run_date=run_date)
    index = dashboard.page(
        data,
        run_id=run_id,
        currency=currency,
        reporting_tz=reporting_tz,
        plotly_js=bundle.read_text(encoding="utf-8"),
    )
    health = health_page.page(
        health_page.load(fetch, run_id=run_id, run_date=run_date), run_id=run_id, generated_at=generated_at
    )
    pages = {f"{PREFIX}/{INDEX_FILE}": index.encode(), f"{PREFIX}/{HEALTH_FILE}": health.encode()}
    pages.update({f"{PREFIX}/{DOCS_DIR}/{p.name}": p.read_bytes() for p in docs})
    return pages


def upload(client: Any, bucket: str, pages: Mapping[str, bytes]) -> list[str]:
    """Write every page into `bucket` (overwriting the previous run's), the data docs and the
    health page before the dashboard that links them; the object names written."""
    ordered = sorted(pages, key=lambda name: (name == f"{PREFIX}/{INDEX_FILE}", name))
    target = client.bucket(bucket)
    for name in ordered:
        blob = target.blob(name)
        blob.cache_control = "no-cache"
        blob.upload_from_string(pages[name], content_type=CONTENT_TYPE)
    return ordered


def publish(settings: Settings, hook: Any, client: Any, *, run_id: str, run_date: date) -> dict[str, Any]:
    """Build the pages from BigQuery and write them to the reports bucket; the dashboard's URL."""
    fetch = bigquery_fetch(hook, project=settings.project or hook.project_id, location=settings.bq_location)
    pages = build(
        fetch,
        settings.page_assets,
        run_id=run_id,
        run_date=run_date,
        currency=settings.reporting_currency,
        reporting_tz=settings.reporting_tz,
        generated_at=datetime.now(UTC),
    )
    written = upload(client, settings.reports_bucket, pages)
    return {
        "bucket": settings.reports_bucket,
        "objects": len(written),
        "url": dashboard_url(settings.reports_bucket),
    }

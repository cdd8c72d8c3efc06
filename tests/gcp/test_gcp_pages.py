"""The GCP pages' pure parts: the authenticated browser URL, BigQuery's values as the local
warehouse gives them, and a missing DAG-folder asset named. The pages built from the BigQuery
stand-in and written to fake GCS are tested end to end (`test_gcp_end_to_end.py`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipeline.gcp import pages


def test_the_link_is_the_authenticated_browser_url_of_the_object() -> None:
    # https://cloud.google.com/storage/docs/access-control/cookie-based-authentication
    assert (
        pages.browser_url("cdi-prod-reports", "dashboard/index.html")
        == "https://storage.cloud.google.com/cdi-prod-reports/dashboard/index.html"
    )
    assert (
        pages.browser_url("b", "dashboard/a b#.html")
        == "https://storage.cloud.google.com/b/dashboard/a%20b%23.html"
    )


class _Job:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def result(self) -> list[dict[str, Any]]:
        return self.rows


class _Hook:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.asked: list[dict[str, Any]] = []

    def insert_job(self, *, configuration: dict[str, Any], project_id: str, location: str) -> _Job:
        self.asked.append({"configuration": configuration, "project_id": project_id, "location": location})
        return _Job(self.rows)


def test_the_fetch_runs_the_file_with_its_parameters_and_gives_local_values() -> None:
    paris = timezone(timedelta(hours=1))
    row = {
        "day": date(2025, 1, 5),
        "amount": Decimal("12.30"),
        "at": datetime(2025, 1, 5, 10, 0, tzinfo=paris),
        "n": 3,
        "runs": [datetime(2025, 1, 5, 9, 0, tzinfo=UTC)],
    }
    hook = _Hook([row])
    fetch = pages.bigquery_fetch(hook, project="p", location="EU")
    (got,) = fetch("health/run_checks.sql", {"run_id": "r1", "run_date": date(2025, 1, 5)})
    assert got == {
        "day": date(2025, 1, 5),
        "amount": Decimal("12.30"),
        "at": datetime(2025, 1, 5, 9, 0),  # UTC, naive: DuckDB's TIMESTAMP
        "n": 3,
        "runs": [datetime(2025, 1, 5, 9, 0)],
    }
    (asked,) = hook.asked
    assert (asked["project_id"], asked["location"]) == ("p", "EU")
    query = asked["configuration"]["query"]
    assert query["useLegacySql"] is False
    assert query["parameterMode"] == "NAMED"
    assert [p["name"] for p in query["queryParameters"]] == ["run_id"]  # only what the file uses


def test_a_missing_asset_names_what_uploads_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pulumi up"):
        pages.build(
            lambda relative, params: [],
            tmp_path,
            run_id="r",
            run_date=date(2025, 1, 5),
            currency="USD",
            reporting_tz="UTC",
            generated_at=datetime(2025, 1, 6, tzinfo=UTC),
        )


def test_the_run_summary_links_the_dashboard_when_the_stack_has_a_reports_bucket() -> None:
    from pipeline.config import Settings
    from pipeline.gcp import report

    assert report._links(Settings(target="gcp")) == {}
    assert report._links(Settings(target="gcp", reports_bucket="b", looker_studio_url="https://l")) == {
        "Looker Studio": "https://l",
        "Dashboard": "https://storage.cloud.google.com/b/dashboard/index.html",
    }

"""What the run summary (the `report` task's result, which the summary e-mail shows) carries besides
the counts, on both targets: the data-quality status, the links and the run's duration."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import timezone

from pipeline import report
from pipeline.config import Settings
from pipeline.gcp import report as gcp_report


def test_the_gcp_summary_carries_each_check() -> None:
    figures = [
        {"kind": "check", "figure": "row_count_positive", "a": 0, "b": 1, "c": 0, "detail": "error"},
        {"kind": "check", "figure": "freshness", "a": 3, "b": 0, "c": 0, "detail": "warn"},
        {"kind": "check_detail", "figure": "freshness", "a": 0, "b": 0, "c": 0, "detail": "3 days late"},
    ]
    built = gcp_report.summarize(
        run_id="scheduled__2025-01-06T00:00:00+00:00",
        states={"claim_files": "success"},
        claims=[],
        affected_days=[],
        figures=figures,
        duration_seconds=1.0,
    )
    assert built["summary"]["data_quality"] == [
        {"check_name": "freshness", "severity": "warn", "passed": False, "failures": 3},
        {"check_name": "row_count_positive", "severity": "error", "passed": True, "failures": 0},
    ]
    assert built["summary"]["data_quality"] == report.dq_status(built["data_quality"])
    assert [c["detail"] for c in built["data_quality"]] == ["3 days late", None]
    assert built["summary"]["outcome"] == "warning"


def test_the_local_summary_links_the_dashboard_and_looker_studio_when_set(tmp_path: Path) -> None:
    dashboard = (tmp_path / "dashboard" / "index.html").as_uri()
    assert report.summary_links(Settings(output_dir=tmp_path)) == {"Dashboard": dashboard}
    url = "https://lookerstudio.google.com/reporting/abc"
    with_looker = Settings(output_dir=tmp_path, looker_studio_url=url)
    assert report.summary_links(with_looker) == {"Dashboard": dashboard, "Looker Studio": url}


@pytest.mark.parametrize("started_ago", [timedelta(minutes=2), None])
def test_the_run_duration_is_from_the_run_start(started_ago: timedelta | None) -> None:
    start = timezone.utcnow() - started_ago if started_ago else None
    seconds = report.run_seconds({"dag_run": SimpleNamespace(start_date=start)})
    if started_ago is None:
        assert seconds is None
    else:
        assert started_ago.total_seconds() <= (seconds or 0) < started_ago.total_seconds() + 60
    assert report.run_seconds({}) is None

"""A run with nothing new says since when, on both targets (the end-to-end scenarios are
tests/e2e/test_daily_runs.py and tests/gcp/test_gcp_end_to_end.py)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline import notify
from pipeline.gcp import report as gcp_report
from pipeline.report import nothing_new_note

FRIDAY = "scheduled__2025-01-04T00:00:00+00:00"
SATURDAY = "scheduled__2025-01-05T00:00:00+00:00"


@pytest.mark.parametrize(
    ("previous_run", "last_file_run", "expected"),
    [
        (None, None, "nothing new: no file has landed yet"),
        (FRIDAY, None, f"nothing new: no file has landed yet (previous run {FRIDAY})"),
        (FRIDAY, FRIDAY, f"nothing new since the previous run {FRIDAY}"),
        (
            SATURDAY,
            FRIDAY,
            f"nothing new since the previous run {SATURDAY} (the last file came in run {FRIDAY})",
        ),
    ],
)
def test_nothing_new_note(previous_run: str | None, last_file_run: str | None, expected: str) -> None:
    assert nothing_new_note(previous_run, last_file_run) == expected


def _summarize(claims: list[dict[str, Any]], affected_days: list[str], **states: str) -> dict[str, Any]:
    figures = [
        {"kind": "check", "figure": "freshness", "a": 0, "b": 1, "c": 0, "detail": "warn"},
        {"kind": "previous_run", "figure": SATURDAY, "a": 0, "b": 0, "c": 0, "detail": None},
        {"kind": "last_file_run", "figure": FRIDAY, "a": 1, "b": 0, "c": 0, "detail": None},
    ]
    return gcp_report.summarize(
        run_id="scheduled__2025-01-06T00:00:00+00:00",
        states={"claim_files": "success", **states},
        claims=claims,
        affected_days=affected_days,
        figures=figures,
        duration_seconds=1.0,
    )


def test_the_gcp_report_says_since_when_nothing_is_new() -> None:
    built = _summarize([], [])
    expected = f"nothing new since the previous run {SATURDAY} (the last file came in run {FRIDAY})"
    assert built["nothing_new"] == built["summary"]["nothing_new"] == expected
    assert built["outcome"] == "success"


@pytest.mark.parametrize(
    ("claims", "affected_days", "states"),
    [
        ([{"source_file": "gs://landing/transactions/a.csv"}], [], {}),
        ([], ["2025-01-03"], {}),  # a day still pending a gold build
        ([], [], {"claim_files": "failed"}),  # nothing claimed because claiming failed
    ],
)
def test_the_gcp_report_says_nothing_when_something_happened(
    claims: list[dict[str, Any]], affected_days: list[str], states: dict[str, str]
) -> None:
    assert _summarize(claims, affected_days, **states)["summary"]["nothing_new"] is None


def test_the_run_summary_notification_carries_the_line() -> None:
    summary = {
        "run_id": SATURDAY,
        "outcome": "success",
        "nothing_new": f"nothing new since the previous run {FRIDAY}",
    }
    lines = notify.summary_message("customer_analytics", summary).lines
    assert lines[3] == f"nothing new since the previous run {FRIDAY}"
    assert "nothing new" not in notify.summary_message("customer_analytics", {"run_id": FRIDAY}).text


def test_the_gcp_summary_links_the_looker_studio_report_when_the_stack_made_one() -> None:
    url = "https://lookerstudio.google.com/reporting/create?r.reportName=x"
    built = gcp_report.summarize(
        run_id="scheduled__2025-01-06T00:00:00+00:00",
        states={"claim_files": "success"},
        claims=[],
        affected_days=[],
        figures=[],
        duration_seconds=1.0,
        links={"Looker Studio": url},
    )
    assert built["summary"]["links"] == {"Looker Studio": url}
    assert _summarize([], [])["summary"]["links"] == {}

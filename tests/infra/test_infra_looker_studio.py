"""The Looker Studio report link: a Linking API URL over the tables the stack really creates,
exported and handed to Composer for the run summary."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from infra import mocks
from infra.config import ConfigError
from infra.looker_studio import REPORTED_TABLES
from infra.mocks import StackRun
from pipeline.config import ENV

STACKS = ("dev", "prod")

TEMPLATE = "0b8f5a3e-6c1d-4e2f-9a7b-1c2d3e4f5a6b"


def _params(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "lookerstudio.google.com",
        "/reporting/create",
    )
    query = parse_qs(parts.query, strict_parsing=True)
    assert all(len(v) == 1 for v in query.values())
    return {k: v[0] for k, v in query.items()}


@pytest.mark.parametrize("stack", STACKS)
def test_each_data_source_is_a_gold_table_the_stack_creates(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    params = _params(run.outputs["looker_studio_url"])
    created = {
        (r.inputs["project"], r.inputs["datasetId"], r.inputs["tableId"])
        for r in run.of_type("gcp:bigquery/table:Table")
    }
    for alias in REPORTED_TABLES:
        assert params[f"ds.{alias}.connector"] == "bigQuery"
        assert params[f"ds.{alias}.type"] == "TABLE"
        source = tuple(params[f"ds.{alias}.{key}"] for key in ("projectId", "datasetId", "tableId"))
        assert source in created, source
        assert source[0] == run.config["cdi:project"]
    assert "c.reportId" not in params  # Looker Studio's default report unless a template is set
    # Composer gets the same link for the run summary (`pipeline.notify.summary_message`).
    (env,) = run.of_type("gcp:composer/environment:Environment")
    variables = env.inputs["config"]["softwareConfig"]["envVariables"]
    assert variables[ENV["looker_studio_url"]] == run.outputs["looker_studio_url"]


def test_a_template_report_is_used_when_the_stack_names_one(spark_dist: Path) -> None:
    run = mocks.run_stack("dev", {"cdi:sparkDistDir": str(spark_dist), "cdi:lookerStudioTemplate": TEMPLATE})
    assert _params(run.outputs["looker_studio_url"])["c.reportId"] == TEMPLATE
    with pytest.raises(ConfigError, match="lookerStudioTemplate"):
        mocks.run_stack(
            "dev",
            {
                "cdi:sparkDistDir": str(spark_dist),
                "cdi:lookerStudioTemplate": "https://lookerstudio.google.com/x",
            },
        )

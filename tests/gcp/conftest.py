"""Shared setup of the gcp-target tests: the environment Composer would carry, the DAG, a sample run."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.config import ENV
from pipeline.runs import run_key
from spark.sources import SourceSettings

# What infra sets on the Composer environment (names from pipeline.config.ENV).
GCP_ENV = {
    ENV["target"]: "gcp",
    ENV["project"]: "cdi-test-project",
    ENV["region"]: "europe-west1",
    ENV["landing_bucket"]: "cdi-test-landing",
    ENV["archive_bucket"]: "cdi-test-archive",
    ENV["quarantine_bucket"]: "cdi-test-quarantine",
    ENV["staging_bucket"]: "cdi-test-staging",
    ENV["artifacts_bucket"]: "cdi-test-artifacts",
    ENV["reports_bucket"]: "cdi-test-reports",
    ENV["dataproc_service_account"]: "dataproc-batch@cdi-test-project.iam.gserviceaccount.com",
    ENV["dataproc_subnet"]: "projects/cdi-test-project/regions/europe-west1/subnetworks/dataproc",
    ENV["landing_subscription"]: "cdi-test-landing-files",
    ENV["bq_location"]: "EU",
    ENV["reporting_tz"]: "Europe/Paris",
}

RUN_ID = "scheduled__2025-01-30T02:00:00+00:00"
RUN_AFTER = datetime(2025, 1, 30, 2, 0, tzinfo=UTC)
AFFECTED_DAYS = ["2025-01-28", "2025-01-29"]
CLAIMS = [
    {
        "entity": "transactions",
        "source_file": "gs://cdi-test-landing/transactions/2025-01-29.csv",
        "archive_path": f"gs://cdi-test-archive/runs/{run_key(RUN_ID)}/transactions/2025-01-29.csv",
        "content_md5": "x",
        "size_bytes": 10,
        # As claim_files resolves it from sources.yaml: a European point-of-sale export.
        "settings": SourceSettings(delimiter=";", decimal=",", date_order="dmy", encoding="cp1252").to_json(),
    },
    {
        "entity": "customers",
        "source_file": "gs://cdi-test-landing/customers/customers.jsonl.gz",
        "archive_path": f"gs://cdi-test-archive/runs/{run_key(RUN_ID)}/customers/customers.jsonl.gz",
        "content_md5": "y",
        "size_bytes": 20,
        "settings": SourceSettings().to_json(),
    },
]


@dataclass
class SampleTI:
    """What a rendering task reads from its task instance: identity, try number, upstream XComs."""

    task_id: str
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)
    dag_id: str = "customer_analytics"
    run_id: str = RUN_ID
    map_index: int = -1

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(task_ids or "")


def sample_xcoms(batch_output: str = "gs://cdi-test-staging/runs/x/clean-1") -> dict[str, Any]:
    return {
        "claim_files": {"files": CLAIMS},
        "clean_raw": {"output": batch_output, "files": 2, "transactions_valid": 95, "metrics": {}},
        "load_silver": {"affected_days": AFFECTED_DAYS, "merged": {}},
    }


def sample_context(
    dag: Any, task: Any, try_number: int = 1, xcoms: dict[str, Any] | None = None
) -> dict[str, Any]:
    ti = SampleTI(task.task_id, try_number, sample_xcoms() if xcoms is None else xcoms)
    dag_run = SimpleNamespace(
        run_id=RUN_ID, run_after=RUN_AFTER, logical_date=RUN_AFTER, start_date=RUN_AFTER, conf={}
    )
    return {"dag": dag, "task": task, "ti": ti, "task_instance": ti, "dag_run": dag_run, "run_id": RUN_ID}


def render(dag: Any, task_id: str, try_number: int = 1, xcoms: dict[str, Any] | None = None) -> Any:
    """A copy of the task with every templated field rendered for the sample run (as a worker does)."""
    task = copy.copy(dag.task_dict[task_id])
    context = sample_context(dag, task, try_number, xcoms)
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    return task


@pytest.fixture(scope="module")
def gcp_settings_env() -> Iterator[dict[str, str]]:
    saved = {k: os.environ.get(k) for k in GCP_ENV}
    os.environ.update(GCP_ENV)
    try:
        yield GCP_ENV
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def gcp_dag(gcp_settings_env: dict[str, str]) -> Any:
    from pipeline.dag import build_dag

    return build_dag("gcp")

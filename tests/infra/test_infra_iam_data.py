"""The IAM data file: valid, least privilege, every role explained, every scope exists."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from infra import iamdata
from infra.components.storage import BUCKETS, SUBSCRIPTIONS, TOPICS
from infra.iamdata import BINDINGS_FILE, IAM_DIR, PRIMITIVE_ROLES, IamDataError
from pipeline.gcp import DASHBOARD_CONN_ID
from pipeline.notify import SMTP_CONN_ID, WEBHOOK_CONN_ID
from sql.catalog import DATASETS


def _raw() -> dict[str, Any]:
    return yaml.safe_load(BINDINGS_FILE.read_text())  # type: ignore[no-any-return]


def test_the_data_file_loads() -> None:
    data = iamdata.load()
    assert {sa.key for sa in data.service_accounts} == {"composer", "dataproc", "ci", "ci_preview"}
    assert len(data.bindings) >= 30


def test_no_primitive_role_is_granted() -> None:
    assert not {b.role for b in iamdata.load().bindings} & PRIMITIVE_ROLES


def test_every_role_and_scope_is_explained_in_the_readme() -> None:
    readme = (IAM_DIR / "README.md").read_text()
    for binding in iamdata.load().bindings:
        assert f"`{binding.role}`" in readme, f"{binding.role} is not explained in iam/README.md"
        rows = [line for line in readme.splitlines() if f"`{binding.role}`" in line]
        target = binding.target or binding.kind
        assert any(target in row or binding.kind == "project" for row in rows), binding.slug


def test_resource_scoped_targets_exist() -> None:
    known = {
        "bucket": {b.key for b in BUCKETS},
        "topic": set(TOPICS),
        "subscription": set(SUBSCRIPTIONS),
        "dataset": set(DATASETS),
        "crypto_key": {"data", "regional"},
        # the connection ids the DAG reads (a secret is named after its connection)
        "secret": {SMTP_CONN_ID, WEBHOOK_CONN_ID, DASHBOARD_CONN_ID},
    }
    for binding in iamdata.load().bindings:
        if binding.kind in known:
            assert binding.target in known[binding.kind], binding.slug


def test_storage_and_dataset_roles_are_resource_scoped() -> None:
    for binding in iamdata.load().bindings:
        data_role = binding.role.startswith(("roles/storage.object", "roles/bigquery.data", "roles/pubsub."))
        # A service agent's own default role is a project role by definition.
        data_role = data_role and not binding.role.endswith(".serviceAgent")
        if data_role and binding.member != "ci":
            assert binding.kind != "project", f"{binding.slug} should be granted on the resource"


def test_agent_emails_follow_the_project_number() -> None:
    emails = iamdata.load().agent_emails("42")
    assert emails["composer_agent"] == "service-42@cloudcomposer-accounts.iam.gserviceaccount.com"
    assert emails["storage_agent"] == "service-42@gs-project-accounts.iam.gserviceaccount.com"
    assert all(re.match(r"^[a-z0-9-]+@[a-z0-9.-]+$", e) for e in emails.values())


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({"member": "composer", "role": "roles/editor", "scope": "project"}, "primitive role"),
        ({"member": "composer", "role": "roles/owner", "scope": "bucket/landing"}, "primitive role"),
        (
            {"member": "nobody", "role": "roles/storage.objectViewer", "scope": "bucket/landing"},
            "unknown member",
        ),
        ({"member": "composer", "role": "roles/storage.objectViewer", "scope": "folder/x"}, "unknown scope"),
        ({"member": "composer", "role": "roles/storage.objectViewer", "scope": "bucket"}, "needs a target"),
        ({"member": "composer", "role": "storage.admin", "scope": "project"}, "predefined role"),
        (
            {"member": "composer", "role": "roles/iam.serviceAccountUser", "scope": "service_account/x"},
            "unknown service",
        ),
    ],
)
def test_bad_bindings_are_refused(binding: dict[str, str], message: str) -> None:
    raw = _raw()
    raw["bindings"].append(binding)
    with pytest.raises(IamDataError, match=message):
        iamdata.parse(raw)


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ({"email": "service-{project_number}@x.iam.gserviceaccount.com"}, "exactly one"),
        (
            {
                "service": "x.googleapis.com",
                "lookup": "storage",
                "email": "s-{project_number}@x.gserviceaccount.com",
            },
            "exactly one",
        ),
        ({"lookup": "kms", "email": "s-{project_number}@x.gserviceaccount.com"}, "lookup must be"),
        ({"service": "x.googleapis.com", "email": "fixed@x.gserviceaccount.com"}, "per-project"),
        ("service-{project_number}@x.iam.gserviceaccount.com", "expected email"),
    ],
)
def test_bad_service_agents_are_refused(agent: Any, message: str) -> None:
    raw = _raw()
    raw["service_agents"]["extra"] = agent
    with pytest.raises(IamDataError, match=message):
        iamdata.parse(raw)


def test_composer_3_agent_roles_follow_current_docs() -> None:
    """ServiceAgentV2Ext is "required to manage Composer v2 environments"; Composer 3's agent keeps
    the Cloud Composer API Service Agent role (composer-3/access-control)."""
    composer_agent = [b for b in iamdata.load().bindings if b.member == "composer_agent"]
    assert not [b for b in composer_agent if "V2Ext" in b.role]
    assert [b.kind for b in composer_agent if b.role == "roles/composer.serviceAgent"] == ["project"]


def test_agents_made_on_request_get_their_default_role() -> None:
    """Agents created through ServiceIdentity get no role (iam/docs/create-service-agents).

    Secret Manager's agent has no project-level service agent role: it acts only to encrypt the
    secrets with the CMEK key it is granted (https://cloud.google.com/secret-manager/docs/cmek)."""
    no_default_role = {"secretmanager.googleapis.com"}
    data = iamdata.load()
    for agent in data.service_agents:
        if agent.service and agent.service not in no_default_role:
            role = f"roles/{agent.service.removesuffix('.googleapis.com')}.serviceAgent"
            assert any(
                b.member == agent.member_key and b.role == role and b.kind == "project" for b in data.bindings
            ), f"{agent.member_key} lacks {role}"


def test_duplicate_bindings_are_refused() -> None:
    raw = _raw()
    raw["bindings"].append(dict(raw["bindings"][0]))
    with pytest.raises(IamDataError, match="duplicate"):
        iamdata.parse(raw)

"""The whole dev and prod programs under mocks: names, labels, IAM, tables, privacy, CMEK, env vars."""

from __future__ import annotations

import json

import pytest

from infra import iamdata
from infra.config import REQUIRED_LABELS
from infra.iamdata import PRIMITIVE_ROLES, PUBLIC_MEMBERS
from infra.mocks import PROJECT_NUMBER, StackRun
from infra.policy.rules import LABELLED_TYPES, USER_LABELLED_TYPES
from infra.stack import LOCAL_ONLY_ENV
from pipeline.config import ENV
from pipeline.versions import MATRIX
from sql import catalog

STACKS = ("dev", "prod")
IAM = iamdata.load()


def _env_vars(run: StackRun) -> dict[str, str]:
    (env,) = run.of_type("gcp:composer/environment:Environment")
    return dict(env.inputs["config"]["softwareConfig"]["envVariables"])


@pytest.mark.parametrize("stack", STACKS)
def test_resource_names_are_per_project_and_stable(stack_runs: dict[str, StackRun], stack: str) -> None:
    run = stack_runs[stack]
    project = f"cdi-{stack}"
    buckets = sorted(r.inputs["name"] for r in run.of_type("gcp:storage/bucket:Bucket"))
    assert buckets == sorted(
        f"{project}-{k}" for k in ("landing", "archive", "quarantine", "staging", "artifacts", "composer")
    )
    assert {r.inputs["datasetId"] for r in run.of_type("gcp:bigquery/dataset:Dataset")} == set(
        catalog.DATASETS
    )
    emails = run.outputs["service_accounts"]
    assert emails == {k: f"cdi-{k}@{project}.iam.gserviceaccount.com" for k in ("composer", "dataproc", "ci")}
    assert run.outputs["composer_bucket"] == f"{project}-composer"
    assert run.outputs["airflow_uri"].startswith("https://")
    assert run.outputs["datasets"] == {d: d for d in catalog.DATASETS}
    names = [r.urn for r in run.resources]
    assert len(names) == len(set(names)), "duplicate URNs"


@pytest.mark.parametrize("stack", STACKS)
def test_every_labelled_resource_carries_the_stack_labels(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    labelled = [r for r in run.resources if r.type in LABELLED_TYPES + USER_LABELLED_TYPES]
    assert len(labelled) > 20
    for resource in labelled:
        for key in REQUIRED_LABELS:
            assert resource.labels.get(key), f"{resource.urn} lacks label {key}"
        assert resource.labels["env"] == stack, resource.urn


@pytest.mark.parametrize("stack", STACKS)
def test_iam_members_and_roles_are_exactly_the_data_file(stack_runs: dict[str, StackRun], stack: str) -> None:
    run = stack_runs[stack]
    project = f"cdi-{stack}"
    member = {
        sa.key: f"serviceAccount:{sa.account_id}@{project}.iam.gserviceaccount.com"
        for sa in IAM.service_accounts
    }
    member |= {k: f"serviceAccount:{v}" for k, v in IAM.agent_emails(PROJECT_NUMBER).items()}
    granted: set[tuple[str, str]] = set()
    for resource in run.resources:
        if "role" in resource.inputs and "member" in resource.inputs:
            granted.add((resource.inputs["member"], resource.inputs["role"]))
    cmek = stack == "prod"
    expected = {(member[b.member], b.role) for b in IAM.bindings if b.kind != "crypto_key" or cmek}
    impersonation = {(m, r) for m, r in granted if r == "roles/iam.workloadIdentityUser"}
    assert granted - impersonation == expected
    assert len(impersonation) == 1
    ((who, _),) = impersonation
    assert who.startswith("principalSet://")
    assert who.endswith("/attribute.repository/example-org/customer-data-integration")


@pytest.mark.parametrize("stack", STACKS)
def test_no_primitive_roles_and_no_public_principals(stack_runs: dict[str, StackRun], stack: str) -> None:
    for resource in stack_runs[stack].resources:
        assert resource.inputs.get("role") not in PRIMITIVE_ROLES, resource.urn
        assert resource.inputs.get("member") not in PUBLIC_MEMBERS, resource.urn
        assert not set(resource.inputs.get("members") or []) & PUBLIC_MEMBERS, resource.urn
        assert resource.type != "gcp:serviceaccount/key:Key", resource.urn


@pytest.mark.parametrize("stack", STACKS)
def test_no_public_buckets(stack_runs: dict[str, StackRun], stack: str) -> None:
    run = stack_runs[stack]
    for bucket in run.of_type("gcp:storage/bucket:Bucket"):
        assert bucket.inputs["publicAccessPrevention"] == "enforced", bucket.urn
        assert bucket.inputs["uniformBucketLevelAccess"] is True, bucket.urn
    acl_types = [r for r in run.resources if "ACL" in r.type or "AccessControl" in r.type]
    assert not acl_types


@pytest.mark.parametrize("stack", STACKS)
def test_partitioning_and_clustering_per_table(stack_runs: dict[str, StackRun], stack: str) -> None:
    tables = {
        f"{r.inputs['datasetId']}.{r.inputs['tableId']}": r
        for r in stack_runs[stack].of_type("gcp:bigquery/table:Table")
    }
    assert set(tables) == {t.qualified_name for t in catalog.tables()}
    for spec in catalog.tables():
        inputs = tables[spec.qualified_name].inputs
        partition = inputs.get("timePartitioning")
        assert (partition or {}).get("field") == spec.partition_field, spec.qualified_name
        assert inputs.get("clusterings", []) == list(spec.clustering), spec.qualified_name
        assert bool(inputs.get("requirePartitionFilter")) is spec.require_partition_filter, (
            spec.qualified_name
        )
        assert inputs["deletionProtection"] is (stack == "prod"), spec.qualified_name


def test_prod_is_private_encrypted_and_protected(prod_run: StackRun) -> None:
    (env,) = prod_run.of_type("gcp:composer/environment:Environment")
    config = env.inputs["config"]
    assert config["enablePrivateEnvironment"] is True
    assert config["enablePrivateBuildsOnly"] is True
    keys = prod_run.outputs["kms_keys"]
    assert set(keys) == {"data", "regional"}
    assert config["encryptionConfig"]["kmsKeyName"] == keys["regional"]
    for bucket in prod_run.of_type("gcp:storage/bucket:Bucket"):
        assert bucket.inputs["encryption"]["defaultKmsKeyName"] in keys.values(), bucket.urn
        assert bucket.protect, bucket.urn
        assert bucket.inputs["forceDestroy"] is False, bucket.urn
    for resource in prod_run.of_type("gcp:bigquery/dataset:Dataset") + prod_run.of_type(
        "gcp:bigquery/table:Table"
    ):
        kms = resource.inputs.get("defaultEncryptionConfiguration") or resource.inputs.get(
            "encryptionConfiguration"
        )
        assert kms["kmsKeyName"] == keys["data"], resource.urn
        assert resource.protect, resource.urn
    (topic,) = prod_run.of_type("gcp:pubsub/topic:Topic")
    assert topic.inputs["kmsKeyName"] == keys["regional"]
    (cluster,) = prod_run.of_type("gcp:dataproc/cluster:Cluster")
    assert cluster.inputs["clusterConfig"]["encryptionConfig"]["kmsKeyName"] == keys["regional"]
    assert cluster.inputs["clusterConfig"]["gceClusterConfig"]["internalIpOnly"] is True


def test_dev_is_public_endpoint_google_keys_and_deletable(dev_run: StackRun) -> None:
    (env,) = dev_run.of_type("gcp:composer/environment:Environment")
    assert env.inputs["config"]["enablePrivateEnvironment"] is False
    assert "encryptionConfig" not in env.inputs["config"]
    assert not dev_run.of_type("gcp:kms/cryptoKey:CryptoKey")
    assert not dev_run.of_type("gcp:dataproc/cluster:Cluster")
    assert all(not b.protect for b in dev_run.of_type("gcp:storage/bucket:Bucket"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_variable_the_dag_reads_on_gcp_is_set_on_composer(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    env = _env_vars(run)
    needed = {name for key, name in ENV.items() if key not in LOCAL_ONLY_ENV}
    assert needed <= set(env), f"missing on Composer: {sorted(needed - set(env))}"
    assert set(env) <= set(ENV.values()), "every variable name comes from pipeline.config.ENV"
    buckets = run.outputs["buckets"]
    assert env[ENV["target"]] == "gcp"
    assert env[ENV["project"]] == f"cdi-{stack}"
    for key in ("landing", "archive", "quarantine", "staging", "artifacts"):
        assert env[ENV[f"{key}_bucket"]] == buckets[key]
    assert env[ENV["dataproc_service_account"]] == run.outputs["service_accounts"]["dataproc"]
    assert env[ENV["dataproc_subnet"]] == run.outputs["dataproc_subnet"]
    assert env[ENV["bq_location"]] == "EU"
    assert env[ENV["alert_emails"]].split(",") == json.loads(run.config["cdi:alerts"])["emails"]


@pytest.mark.parametrize("stack", STACKS)
def test_composer_runs_the_matrix_image_and_installs_nothing_from_pypi(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    (env,) = stack_runs[stack].of_type("gcp:composer/environment:Environment")
    software = env.inputs["config"]["softwareConfig"]
    assert not software.get("pypiPackages")
    assert software["imageVersion"] == MATRIX.composer.image

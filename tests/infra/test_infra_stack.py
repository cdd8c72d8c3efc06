"""The whole dev and prod programs under mocks: names, labels, IAM, tables, privacy, CMEK, env vars."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra import iamdata, mocks
from infra.config import REQUIRED_LABELS, ConfigError
from infra.iamdata import PRIMITIVE_ROLES, PUBLIC_MEMBERS
from infra.mocks import PROJECT_NUMBER, StackRun
from infra.policy.rules import LABELLED_TYPES, USER_LABELLED_TYPES
from infra.stack import LOCAL_ONLY_ENV
from pipeline.config import ENV, Settings
from pipeline.gcp import dataproc, storage
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
        f"{project}-{k}"
        for k in ("landing", "archive", "quarantine", "staging", "artifacts", "reports", "composer")
    )
    assert {r.inputs["datasetId"] for r in run.of_type("gcp:bigquery/dataset:Dataset")} == set(
        catalog.DATASETS
    )
    emails = run.outputs["service_accounts"]
    assert emails == {
        "composer": f"cdi-composer@{project}.iam.gserviceaccount.com",
        "dataproc": f"cdi-dataproc@{project}.iam.gserviceaccount.com",
        "ci": f"cdi-ci@{project}.iam.gserviceaccount.com",
        "ci_preview": f"cdi-ci-preview@{project}.iam.gserviceaccount.com",
    }
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
    connections = set(run.outputs["connection_secrets"])  # secrets exist for configured connections only
    expected = {
        (member[b.member], b.role)
        for b in IAM.bindings
        if (b.kind != "crypto_key" or cmek) and (b.kind != "secret" or b.target in connections)
    }
    impersonation = {(m, r) for m, r in granted if r == "roles/iam.workloadIdentityUser"}
    assert granted - impersonation == expected
    assert len(impersonation) == 2  # the preview and the deploy identity (test_infra_workflow.py)
    for who, _ in impersonation:
        assert who.startswith("principalSet://")
    assert {who.rsplit("/attribute.", 1)[1] for who, _ in impersonation} == {
        "repository/example-org/customer-data-integration",
        "ref/refs/heads/main",
    }


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
    # Batches are the DAG's, not Pulumi's: their key reaches them through Composer.
    assert _env_vars(prod_run)[ENV["dataproc_kms_key"]] == keys["regional"]
    assert prod_run.outputs["dataproc_kms_key"] == keys["regional"]
    assert not prod_run.of_type("gcp:dataproc/cluster:Cluster"), "runtime 3.0 has no history server"


def test_dev_is_public_endpoint_google_keys_and_deletable(dev_run: StackRun) -> None:
    (env,) = dev_run.of_type("gcp:composer/environment:Environment")
    assert env.inputs["config"]["enablePrivateEnvironment"] is False
    assert "encryptionConfig" not in env.inputs["config"]
    assert not dev_run.of_type("gcp:kms/cryptoKey:CryptoKey")
    assert not dev_run.of_type("gcp:dataproc/cluster:Cluster")
    assert _env_vars(dev_run)[ENV["dataproc_kms_key"]] == ""
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
    for key in ("landing", "archive", "quarantine", "staging", "artifacts", "reports"):
        assert env[ENV[f"{key}_bucket"]] == buckets[key]
    assert env[ENV["dataproc_service_account"]] == run.outputs["service_accounts"]["dataproc"]
    assert env[ENV["dataproc_subnet"]] == run.outputs["dataproc_subnet"]
    assert env[ENV["bq_location"]] == "EU"
    assert env[ENV["alert_emails"]].split(",") == json.loads(run.config["cdi:alerts"])["emails"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_reports_bucket_is_private_and_only_composer_may_write_the_pages(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    """The pages `publish` writes (pipeline/gcp/pages.py): no public access possible, and the one
    grant on the bucket is Composer's objectUser (create, and delete to overwrite the last run's)."""
    run = stack_runs[stack]
    name = run.outputs["buckets"]["reports"]
    (bucket,) = [b for b in run.of_type("gcp:storage/bucket:Bucket") if b.inputs["name"] == name]
    assert bucket.inputs["publicAccessPrevention"] == "enforced", bucket.urn
    assert bucket.inputs["uniformBucketLevelAccess"] is True, bucket.urn
    assert bucket.inputs["location"] == "EU", bucket.urn  # the data location, like the gold tables
    if stack == "prod":
        assert bucket.inputs["encryption"]["defaultKmsKeyName"], bucket.urn
    grants = {
        (b.inputs["role"], b.inputs["member"])
        for b in run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if b.inputs["bucket"] == name
    }
    composer = run.outputs["service_accounts"]["composer"]
    assert grants == {("roles/storage.objectUser", f"serviceAccount:{composer}")}
    assert not list(run.of_type("gcp:storage/bucketIAMBinding:BucketIAMBinding"))
    assert not list(run.of_type("gcp:storage/bucketIAMPolicy:BucketIAMPolicy"))


def test_the_people_the_stack_names_may_open_the_pages_and_nobody_else(spark_dist: Path) -> None:
    """`cdi:dashboardReaders`: read-only on the reports bucket, each member as configured; the
    public principals are refused before anything is declared."""
    readers = ["group:analysts@example.com", "user:ana@example.com"]
    run = mocks.run_stack(
        "dev", {"cdi:sparkDistDir": str(spark_dist), "cdi:dashboardReaders": json.dumps(readers)}
    )
    reports = run.outputs["buckets"]["reports"]
    grants = {
        (b.inputs["bucket"], b.inputs["role"], b.inputs["member"])
        for b in run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if b.inputs["member"] in readers
    }
    assert grants == {(reports, "roles/storage.objectViewer", m) for m in readers}
    for member in ("allUsers", "allAuthenticatedUsers", "analysts@example.com"):
        with pytest.raises(ConfigError, match="dashboardReaders"):
            mocks.run_stack(
                "dev", {"cdi:sparkDistDir": str(spark_dist), "cdi:dashboardReaders": json.dumps([member])}
            )


@pytest.mark.parametrize("stack", STACKS)
def test_composer_runs_the_matrix_image_and_installs_nothing_from_pypi(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    (env,) = stack_runs[stack].of_type("gcp:composer/environment:Environment")
    software = env.inputs["config"]["softwareConfig"]
    assert not software.get("pypiPackages")
    assert software["imageVersion"] == MATRIX.composer.image


# --- the batches the DAG submits, as the stack sets them up -------------------------------------

READ_ROLES = {"roles/storage.objectViewer", "roles/storage.objectUser", "roles/storage.objectAdmin"}
WRITE_ROLES = {"roles/storage.objectUser", "roles/storage.objectAdmin"}


def _rendered_batch(run: StackRun, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Settings]:
    """The batch body the DAG would send with this stack's Composer variables, for one claimed file."""
    for name, value in _env_vars(run).items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    claim = storage._claim(
        "transactions",
        settings.landing_bucket,
        "transactions/2025-01-29.csv",
        settings.archive_bucket,
        f"{storage.run_prefix('k')}transactions/2025-01-29.csv",
        SimpleNamespace(md5_hash="x", size=1),
    )
    body = dataproc.batch(settings)
    body["pyspark_batch"]["args"] = dataproc.spark_args(
        "scheduled__2025-01-30T02:00:00+00:00",
        [claim],
        dataproc.output_uri(settings, "k", "clean-k-t1"),
        logical_end=datetime(2025, 1, 30, 2, tzinfo=UTC),
        settings=settings,
    )
    return body, settings


def _bucket_roles(run: StackRun, member: str) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {}
    for binding in run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember"):
        if binding.inputs["member"] == member:
            roles.setdefault(binding.inputs["bucket"], set()).add(binding.inputs["role"])
    return roles


@pytest.mark.parametrize("stack", STACKS)
def test_the_batch_service_account_can_read_and_write_what_a_batch_touches(
    stack_runs: dict[str, StackRun], stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = stack_runs[stack]
    body, settings = _rendered_batch(run, monkeypatch)
    execution = body["environment_config"]["execution_config"]
    assert execution["service_account"] == run.outputs["service_accounts"]["dataproc"]
    # Runtime 3.0 defaults to end-user credentials: the batch must say it runs as its account.
    assert execution["authentication_config"] == {"user_workload_authentication_type": "SERVICE_ACCOUNT"}
    roles = _bucket_roles(run, f"serviceAccount:{execution['service_account']}")
    args = body["pyspark_batch"]["args"]
    reads = [body["pyspark_batch"]["main_python_file_uri"], *body["pyspark_batch"]["python_file_uris"]]
    reads += [args[i + 1].split("=", 1)[1] for i, a in enumerate(args) if a == "--input"]
    for uri in reads:
        bucket = storage.split_uri(uri)[0]
        assert roles.get(bucket, set()) & READ_ROLES, f"{execution['service_account']} cannot read {uri}"
    output = args[args.index("--output") + 1]
    assert roles.get(storage.split_uri(output)[0], set()) & WRITE_ROLES, f"cannot write {output}"
    assert settings.archive_bucket in roles, "inputs are read from the archive bucket"


def test_prod_batches_are_encrypted_with_a_key_the_dataproc_agents_may_use(
    prod_run: StackRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = _rendered_batch(prod_run, monkeypatch)
    key = body["environment_config"]["execution_config"]["kms_key"]
    assert key == prod_run.outputs["kms_keys"]["regional"]
    users = {
        r.inputs["member"]
        for r in prod_run.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if r.inputs["cryptoKeyId"] == key and r.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    }
    emails = IAM.agent_emails(PROJECT_NUMBER)
    # Dataproc CMEK: the Dataproc, Compute Engine and Cloud Storage agents use the key
    # (https://cloud.google.com/dataproc/docs/concepts/configuring-clusters/customer-managed-encryption).
    for agent in ("dataproc_agent", "compute_agent", "storage_agent"):
        assert f"serviceAccount:{emails[agent]}" in users, agent


def test_dev_batches_use_google_managed_keys(dev_run: StackRun, monkeypatch: pytest.MonkeyPatch) -> None:
    body, _ = _rendered_batch(dev_run, monkeypatch)
    assert "kms_key" not in body["environment_config"]["execution_config"]


# --- service agents exist before anything binds them --------------------------------------------


def _agent_members(run: StackRun) -> dict[str, str]:
    return {f"serviceAccount:{email}": key for key, email in IAM.agent_emails(PROJECT_NUMBER).items()}


@pytest.mark.parametrize("stack", STACKS)
def test_every_agent_binding_waits_for_the_call_that_creates_the_agent(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    identities = {
        r.inputs["service"]: r.urn for r in run.of_type("gcp:projects/serviceIdentity:ServiceIdentity")
    }
    enabled = {r.inputs["service"]: r.urn for r in run.of_type("gcp:projects/service:Service")}
    agents = {a.member_key: a for a in IAM.service_agents}
    members = _agent_members(run)
    bound = 0
    for resource in run.resources:
        agent_key = members.get(str(resource.inputs.get("member", "")))
        if agent_key is None:
            continue
        bound += 1
        agent = agents[agent_key]
        if agent.service:
            assert identities[agent.service] in resource.dependencies, (
                f"{resource.urn} binds {agent_key} without waiting for its ServiceIdentity"
            )
        else:  # the lookup runs after the APIs are enabled, and the binding after the lookup
            needed = enabled[f"{agent.lookup}.googleapis.com"]
            assert needed in resource.dependencies, f"{resource.urn} binds {agent_key} before its lookup"
    assert bound >= (10 if stack == "prod" else 5)

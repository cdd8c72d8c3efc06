"""Each component on its own under Pulumi mocks: what it declares, with which properties.

Every component is built directly (no whole program) with small literal arguments; assertions read
the inputs the engine would receive (`infra.mocks.Recorded`) and name the URN on failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra import artifacts, iamdata
from infra.components.ci_access import CiAccess
from infra.components.composer import Composer
from infra.components.dataproc import Dataproc
from infra.components.deploy import CodeDeploy
from infra.components.encryption import Encryption
from infra.components.identity import Identity
from infra.components.monitoring import Monitoring
from infra.components.network import IAP_RANGE, Network
from infra.components.service_agents import ServiceAgents
from infra.components.services import BASE_SERVICES, CMEK_SERVICES, ProjectServices, services_for
from infra.components.storage import BUCKETS, Storage
from infra.components.warehouse import Warehouse, table_kind
from infra.config import ComposerSettings, Retention, Workload
from infra.mocks import PROJECT_NUMBER, SecretValue, StackRun, run_program
from pipeline.gcp.dataproc import RUNTIME_VERSION
from pipeline.versions import MATRIX
from sql import catalog

PROJECT = "cdi-test"
REGION = "europe-west1"
LABELS = {"app": "cdi", "env": "test", "managed-by": "pulumi", "team": "data-platform"}
RETENTION = Retention(30, 90, 365, 3, 30, 7)
IAM = iamdata.load()


def run(program: Callable[[], Mapping[str, Any]], secret_keys: tuple[str, ...] = ()) -> StackRun:
    return run_program("test", program, {"cdi:project": PROJECT, "cdi:region": REGION}, secret_keys)


def members() -> dict[str, str]:
    found = {
        sa.key: f"serviceAccount:{sa.account_id}@{PROJECT}.iam.gserviceaccount.com"
        for sa in IAM.service_accounts
    }
    found |= {k: f"serviceAccount:{v}" for k, v in IAM.agent_emails(PROJECT_NUMBER).items()}
    return found


def _only(run_: StackRun, token: str) -> dict[str, Any]:
    found = run_.of_type(token)
    assert len(found) == 1, f"expected one {token}, got {[r.urn for r in found]}"
    return dict(found[0].inputs)


def test_every_component_registers_its_children_under_itself(dev_run: StackRun) -> None:
    components = {r.urn: r for r in dev_run.resources if not r.custom and r.type != "pulumi:pulumi:Stack"}
    assert {r.type for r in components.values()} >= {
        "cdi:project:Services",
        "cdi:project:ServiceAgents",
        "cdi:network:Network",
        "cdi:identity:Identity",
        "cdi:storage:Storage",
        "cdi:warehouse:Warehouse",
        "cdi:composer:Composer",
        "cdi:dataproc:Dataproc",
        "cdi:monitoring:Monitoring",
        "cdi:deploy:CodeDeploy",
    }
    for resource in dev_run.resources:
        if resource.custom:
            assert resource.parent in components, f"{resource.urn} is not parented to a component"


# --- services ------------------------------------------------------------------------------------


def test_services_enable_the_apis_and_never_disable_them() -> None:
    result = run(
        lambda: {
            "c": ProjectServices("svc", {"project": PROJECT, "services": services_for(cmek=False)}).enabled
        }
    )
    services = result.of_type("gcp:projects/service:Service")
    names = {r.inputs["service"] for r in services}
    assert {
        "composer.googleapis.com",
        "dataproc.googleapis.com",
        "bigquery.googleapis.com",
        "pubsub.googleapis.com",
    } <= names
    assert "cloudkms.googleapis.com" not in names
    assert "cloudkms.googleapis.com" in services_for(cmek=True)
    for r in services:
        assert r.inputs["disableOnDestroy"] is False, r.urn
    assert not result.of_type("gcp:projects/serviceIdentity:ServiceIdentity")


def test_every_api_carries_the_page_that_requires_it() -> None:
    for name, url in {**BASE_SERVICES, **CMEK_SERVICES}.items():
        assert name.endswith(".googleapis.com"), name
        assert url.startswith("https://cloud.google.com/"), (name, url)


def test_runtime_3_batches_get_the_apis_they_need() -> None:
    """Runtime 3.0 requires dataprocrm (spark-runtime-3.0 page); the Composer connections need
    Secret Manager; the WIF exchange needs sts and iamcredentials."""
    assert RUNTIME_VERSION.startswith("3.")
    assert {
        "dataproc.googleapis.com",
        "dataprocrm.googleapis.com",
        "compute.googleapis.com",
        "secretmanager.googleapis.com",
        "sts.googleapis.com",
        "iamcredentials.googleapis.com",
        "artifactregistry.googleapis.com",
    } <= set(services_for(cmek=False))


def test_every_service_agent_belongs_to_an_enabled_api() -> None:
    """An agent made with ServiceIdentity needs its API on, in every stack."""
    enabled = set(services_for(cmek=False))
    for agent in IAM.service_agents:
        assert agent.service in enabled or agent.lookup, agent.key
    lookups = {agent.lookup: agent.key for agent in IAM.service_agents if agent.lookup}
    assert lookups == {"storage": "storage", "bigquery": "bigquery"}
    assert {"storage.googleapis.com", "bigquery.googleapis.com"} <= enabled


# --- service agents ------------------------------------------------------------------------------


def test_service_agents_are_created_and_their_members_come_from_the_creating_call() -> None:
    def program() -> Mapping[str, Any]:
        services = ProjectServices("svc", {"project": PROJECT, "services": services_for(cmek=True)})
        agents = ServiceAgents("ag", {"project": PROJECT, "iam": IAM, "services": services})
        return {"members": agents.members}

    result = run(program)
    identities = {
        r.inputs["service"]: r for r in result.of_type("gcp:projects/serviceIdentity:ServiceIdentity")
    }
    assert set(identities) == {a.service for a in IAM.service_agents if a.service}
    enabled = {r.inputs["service"]: r.urn for r in result.of_type("gcp:projects/service:Service")}
    for service, identity in identities.items():
        assert enabled[service] in identity.dependencies, f"{identity.urn} does not wait for its API"
    # Google's answer (the mocks) equals the documented address of the data file.
    documented = {k: f"serviceAccount:{v}" for k, v in IAM.agent_emails(PROJECT_NUMBER).items()}
    assert result.outputs["members"] == documented


# --- network -------------------------------------------------------------------------------------


def test_network_is_private_and_denies_by_default() -> None:
    result = run(
        lambda: {
            "s": Network(
                "net", {"project": PROJECT, "region": REGION, "subnet_cidr": "10.0.0.0/20"}
            ).subnet_id
        }
    )
    vpc = _only(result, "gcp:compute/network:Network")
    assert vpc["autoCreateSubnetworks"] is False
    subnet = _only(result, "gcp:compute/subnetwork:Subnetwork")
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["ipCidrRange"] == "10.0.0.0/20"
    nat = _only(result, "gcp:compute/routerNat:RouterNat")
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"][0]["name"].endswith("/subnetworks/net-main")
    rules = {r.name: r.inputs for r in result.of_type("gcp:compute/firewall:Firewall")}
    deny = rules["net-deny-all-ingress"]
    assert deny["denies"] == [{"protocol": "all"}]
    assert deny["priority"] == 65534
    assert all(r["priority"] < deny["priority"] for n, r in rules.items() if n != "net-deny-all-ingress")
    assert rules["net-allow-internal"]["sourceRanges"] == ["10.0.0.0/20"]
    assert rules["net-allow-iap-ssh"]["sourceRanges"] == [IAP_RANGE]
    assert rules["net-allow-iap-ssh"]["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    for name, rule in rules.items():
        if rule.get("allows"):
            assert "0.0.0.0/0" not in rule["sourceRanges"], name


# --- identity ------------------------------------------------------------------------------------


def _identity(state_bucket: str = "") -> StackRun:
    def program() -> Mapping[str, Any]:
        identity = Identity(
            "id",
            {
                "project": PROJECT,
                "agent_members": {
                    k: pulumi.Output.from_input(v) for k, v in members().items() if k.endswith("_agent")
                },
                "iam": IAM,
                "state_bucket": state_bucket,
            },
        )
        ci = CiAccess(
            "ci",
            {
                "project": PROJECT,
                "github_repository": "acme/cdi",
                "preview_account": identity.names["ci_preview"],
                "deploy_account": identity.names["ci"],
            },
        )
        return {"emails": identity.emails, "provider": ci.workload_identity_provider}

    return run(program)


def test_identity_creates_the_service_accounts_and_wif_restricted_to_the_repository() -> None:
    result = _identity()
    accounts = {r.inputs["accountId"] for r in result.of_type("gcp:serviceaccount/account:Account")}
    assert accounts == {"cdi-composer", "cdi-dataproc", "cdi-ci", "cdi-ci-preview"}
    provider = _only(result, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    assert provider["attributeCondition"] == (
        "assertion.repository == 'acme/cdi' && assertion.event_name != 'pull_request_target'"
    )
    assert provider["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
    assert provider["attributeMapping"]["attribute.repository"] == "assertion.repository"
    assert provider["attributeMapping"]["attribute.ref"] == "assertion.ref"
    pool = f"principalSet://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/github"
    impersonation = {
        r.inputs["serviceAccountId"]: r.inputs["member"]
        for r in result.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/iam.workloadIdentityUser"
    }
    sa = f"projects/{PROJECT}/serviceAccounts/{{}}@{PROJECT}.iam.gserviceaccount.com"
    assert impersonation == {
        # pull requests: any workflow of the repository, read-only account
        sa.format("cdi-ci-preview"): f"{pool}/attribute.repository/acme/cdi",
        # pulumi up: only tokens of refs/heads/main
        sa.format("cdi-ci"): f"{pool}/attribute.ref/refs/heads/main",
    }
    assert result.outputs["provider"].endswith("/workloadIdentityPools/github/providers/github-actions")


def test_identity_grants_exactly_the_project_and_account_roles_of_the_data_file() -> None:
    result = _identity()
    who = members()
    granted = {
        (r.inputs["member"], r.inputs["role"]) for r in result.of_type("gcp:projects/iAMMember:IAMMember")
    }
    expected = {(who[b.member], b.role) for b in IAM.bindings_for("project")}
    assert granted == expected
    on_accounts = {
        (r.inputs["member"], r.inputs["role"], r.inputs["serviceAccountId"].rsplit("/", 1)[-1].split("@")[0])
        for r in result.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] != "roles/iam.workloadIdentityUser"
    }
    expected_sa = {(who[b.member], b.role, f"cdi-{b.target}") for b in IAM.bindings_for("service_account")}
    assert on_accounts == expected_sa
    # Composer 3: the Composer agent keeps only its own role, granted (like every agent made on
    # request) on the project; ServiceAgentV2Ext is a Composer 2 role.
    composer_agent = f"serviceAccount:service-{PROJECT_NUMBER}@cloudcomposer-accounts.iam.gserviceaccount.com"
    assert (composer_agent, "roles/composer.serviceAgent") in granted
    assert not any("ServiceAgentV2Ext" in role for _, role in granted)
    assert not any("ServiceAgentV2Ext" in role for _, role, _ in on_accounts)
    assert not result.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")


def test_identity_grants_ci_the_state_bucket_only_when_configured() -> None:
    result = _identity(state_bucket="acme-pulumi-state")
    bindings = {
        (r.inputs["bucket"], r.inputs["member"], r.inputs["role"])
        for r in result.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    }
    assert bindings == {
        (
            "acme-pulumi-state",
            f"serviceAccount:cdi-ci@{PROJECT}.iam.gserviceaccount.com",
            "roles/storage.objectUser",
        ),
        (
            "acme-pulumi-state",
            f"serviceAccount:cdi-ci-preview@{PROJECT}.iam.gserviceaccount.com",
            "roles/storage.objectViewer",
        ),
    }


# --- encryption ----------------------------------------------------------------------------------


def test_encryption_creates_a_data_and_a_regional_key_and_grants_the_agents() -> None:
    def program() -> Mapping[str, Any]:
        enc = Encryption(
            "kms",
            {
                "project": PROJECT,
                "data_location": "europe",
                "region": REGION,
                "labels": LABELS,
                "iam": IAM,
                "members": members(),
                "prevent_destroy": True,
            },
        )
        return {"keys": enc.key_ids}

    result = run(program)
    rings = {r.inputs["name"]: r.inputs["location"] for r in result.of_type("gcp:kms/keyRing:KeyRing")}
    assert rings == {"kms-data": "europe", "kms-regional": REGION}
    for key in result.of_type("gcp:kms/cryptoKey:CryptoKey"):
        assert key.inputs["rotationPeriod"] == "7776000s", key.urn
        assert key.inputs["deletionPolicy"] == "PREVENT", key.urn
        assert key.protect, key.urn
    grants = {
        (r.inputs["member"], r.inputs["cryptoKeyId"].rsplit("/", 1)[-1])
        for r in result.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    }
    expected = {(members()[b.member], f"kms-{b.target}") for b in IAM.bindings_for("crypto_key")}
    assert grants == expected
    assert (
        result.outputs["keys"]["data"]
        == f"projects/{PROJECT}/locations/europe/keyRings/kms-data/cryptoKeys/kms-data"
    )


# --- storage -------------------------------------------------------------------------------------


def _storage(kms: Mapping[str, str] | None, protect: bool) -> StackRun:
    def program() -> Mapping[str, Any]:
        storage = Storage(
            "st",
            {
                "project": PROJECT,
                "prefix": PROJECT,
                "data_location": "EU",
                "region": REGION,
                "labels": LABELS,
                "retention": RETENTION,
                "kms_keys": kms,
                "deletion_protection": protect,
                "iam": IAM,
                "members": members(),
                "report_readers": (),
            },
        )
        return {"buckets": storage.bucket_names}

    return run(program)


def test_buckets_are_private_uniform_labelled_and_named_after_the_project() -> None:
    result = _storage(kms=None, protect=False)
    buckets = {r.inputs["name"]: r for r in result.of_type("gcp:storage/bucket:Bucket")}
    assert set(buckets) == {f"{PROJECT}-{b.key}" for b in BUCKETS}
    for spec in BUCKETS:
        bucket = buckets[f"{PROJECT}-{spec.key}"]
        b = bucket.inputs
        assert b["uniformBucketLevelAccess"] is True, bucket.urn
        assert b["publicAccessPrevention"] == "enforced", bucket.urn
        assert b["versioning"]["enabled"] is spec.versioned, bucket.urn
        assert b["location"] == (REGION if spec.regional else "EU"), bucket.urn
        assert b["labels"] == {**LABELS, "purpose": spec.key}, bucket.urn
        assert "encryption" not in b, bucket.urn
        assert b["forceDestroy"] is True, bucket.urn
        assert not bucket.protect, bucket.urn
    assert result.outputs["buckets"]["landing"] == f"{PROJECT}-landing"


def test_lifecycle_rules_tier_the_archive_and_expire_staging() -> None:
    result = _storage(kms=None, protect=False)
    rules = {
        r.inputs["name"].removeprefix(f"{PROJECT}-"): r.inputs["lifecycleRules"]
        for r in result.of_type("gcp:storage/bucket:Bucket")
    }
    tiers = [
        (r["action"]["storageClass"], r["condition"]["age"])
        for r in rules["archive"]
        if r["action"]["type"] == "SetStorageClass"
    ]
    assert tiers == [("NEARLINE", 30), ("COLDLINE", 90), ("ARCHIVE", 365)]
    assert {"action": {"type": "Delete"}, "condition": {"age": 3}} in rules["staging"]
    assert {"action": {"type": "Delete"}, "condition": {"age": 30}} in rules["quarantine"]
    for name in ("landing", "archive", "artifacts", "reports", "composer"):
        assert any(r["condition"].get("daysSinceNoncurrentTime") == 7 for r in rules[name]), name
    assert not any("daysSinceNoncurrentTime" in r["condition"] for r in rules["staging"])


def test_cmek_and_deletion_protection_when_asked() -> None:
    keys = {
        "data": "projects/p/locations/europe/keyRings/r/cryptoKeys/data",
        "regional": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/regional",
    }
    result = _storage(kms=keys, protect=True)
    for bucket in result.of_type("gcp:storage/bucket:Bucket"):
        spec = next(s for s in BUCKETS if bucket.inputs["name"] == f"{PROJECT}-{s.key}")
        expected = keys["regional" if spec.regional else "data"]
        assert bucket.inputs["encryption"]["defaultKmsKeyName"] == expected, bucket.urn
        assert bucket.inputs["forceDestroy"] is False, bucket.urn
        assert bucket.inputs["deletionPolicy"] == "PREVENT", bucket.urn
        assert bucket.protect, bucket.urn
    assert _only(result, "gcp:pubsub/topic:Topic")["kmsKeyName"] == keys["regional"]


def test_landing_bucket_notifies_file_arrivals_to_pubsub() -> None:
    result = _storage(kms=None, protect=False)
    note = _only(result, "gcp:storage/notification:Notification")
    assert note["bucket"] == f"{PROJECT}-landing"
    assert note["eventTypes"] == ["OBJECT_FINALIZE"]
    assert note["payloadFormat"] == "JSON_API_V1"
    assert note["topic"] == f"projects/{PROJECT}/topics/{PROJECT}-landing-events"
    publisher = _only(result, "gcp:pubsub/topicIAMMember:TopicIAMMember")
    assert publisher["role"] == "roles/pubsub.publisher"
    assert (
        publisher["member"]
        == f"serviceAccount:service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    )
    sub = _only(result, "gcp:pubsub/subscription:Subscription")
    assert sub["topic"] == note["topic"]
    reader = _only(result, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember")
    assert reader["member"] == members()["composer"]
    assert reader["role"] == "roles/pubsub.subscriber"


def test_bucket_iam_is_exactly_the_data_file() -> None:
    result = _storage(kms=None, protect=False)
    granted = {
        (r.inputs["bucket"], r.inputs["member"], r.inputs["role"])
        for r in result.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    }
    expected = {(f"{PROJECT}-{b.target}", members()[b.member], b.role) for b in IAM.bindings_for("bucket")}
    assert granted == expected


# --- warehouse -----------------------------------------------------------------------------------


def _warehouse(kms: str | None, protect: bool) -> StackRun:
    def program() -> Mapping[str, Any]:
        wh = Warehouse(
            "wh",
            {
                "project": PROJECT,
                "location": "EU",
                "datasets": catalog.DATASETS,
                "tables": catalog.tables(),
                "labels": LABELS,
                "kms_key": kms,
                "deletion_protection": protect,
                "time_travel_hours": 48,
                "iam": IAM,
                "members": members(),
            },
        )
        return {"datasets": wh.dataset_ids}

    return run(program)


def test_datasets_in_the_location_with_labels_and_iam() -> None:
    result = _warehouse(kms=None, protect=False)
    datasets = {r.inputs["datasetId"]: r.inputs for r in result.of_type("gcp:bigquery/dataset:Dataset")}
    assert set(datasets) == set(catalog.DATASETS)
    for name, ds in datasets.items():
        assert ds["location"] == "EU"
        assert ds["labels"] == {**LABELS, "layer": name}
        assert "accesses" not in ds, "access goes through dataset IAM, not ACL entries"
        assert ds["maxTimeTravelHours"] == "48"
    granted = {
        (r.inputs["datasetId"], r.inputs["member"], r.inputs["role"])
        for r in result.of_type("gcp:bigquery/datasetIamMember:DatasetIamMember")
    }
    assert granted == {(b.target, members()[b.member], b.role) for b in IAM.bindings_for("dataset")}


def test_every_catalog_table_is_created_from_its_schema_file() -> None:
    result = _warehouse(kms=None, protect=False)
    tables = {
        f"{r.inputs['datasetId']}.{r.inputs['tableId']}": r
        for r in result.of_type("gcp:bigquery/table:Table")
    }
    assert set(tables) == {t.qualified_name for t in catalog.tables()}
    for spec in catalog.tables():
        table = tables[spec.qualified_name]
        t = table.inputs
        assert json.loads(t["schema"]) == json.loads(spec.schema_path.read_text()), table.urn
        if spec.partition_field:
            assert t["timePartitioning"] == {"type": spec.partition_type, "field": spec.partition_field}, (
                table.urn
            )
            assert t.get("requirePartitionFilter", False) is spec.require_partition_filter, table.urn
        else:
            assert "timePartitioning" not in t, table.urn
        assert t.get("clusterings", []) == list(spec.clustering), table.urn
        assert t["labels"]["kind"] == table_kind(spec), table.urn
        assert t["deletionProtection"] is False, table.urn
    assert tables["silver.transactions"].inputs["requirePartitionFilter"] is True
    assert tables["silver.transactions"].inputs["clusterings"] == ["customer_id", "agent_id"]
    assert table_kind(catalog.table("gold.aov_daily")) == "fact"
    assert table_kind(catalog.table("silver.customers")) == "dimension"


def test_prod_tables_are_protected_and_encrypted() -> None:
    key = "projects/p/locations/europe/keyRings/r/cryptoKeys/data"
    result = _warehouse(kms=key, protect=True)
    for table in result.of_type("gcp:bigquery/table:Table"):
        assert table.inputs["deletionProtection"] is True, table.urn
        assert table.protect, table.urn
        assert table.inputs["encryptionConfiguration"]["kmsKeyName"] == key, table.urn
    for ds in result.of_type("gcp:bigquery/dataset:Dataset"):
        assert ds.inputs["defaultEncryptionConfiguration"]["kmsKeyName"] == key, ds.urn
        assert ds.inputs["deleteContentsOnDestroy"] is False, ds.urn
        assert ds.protect, ds.urn


# --- composer ------------------------------------------------------------------------------------

SETTINGS = ComposerSettings(
    image_version=MATRIX.composer.image,
    environment_size="ENVIRONMENT_SIZE_SMALL",
    scheduler=Workload(0.5, 2, 1, count=1),
    web_server=Workload(0.5, 2, 1),
    worker=Workload(0.5, 2, 1, min_count=1, max_count=3),
    triggerer=Workload(0.5, 1),
    dag_processor=Workload(0.5, 2, 1),
    airflow_config_overrides={"core-dags_are_paused_at_creation": "True"},
)


def _composer(private: bool, kms: str | None) -> StackRun:
    def program() -> Mapping[str, Any]:
        env = Composer(
            "cdi",
            {
                "project": PROJECT,
                "region": REGION,
                "settings": SETTINGS,
                "service_account": f"cdi-composer@{PROJECT}.iam.gserviceaccount.com",
                "network": "projects/p/global/networks/n",
                "subnetwork": "projects/p/regions/r/subnetworks/s",
                "bucket": f"{PROJECT}-composer",
                "private": private,
                "kms_key": kms,
                "pypi_packages": {"apache-airflow-providers-google": ">=22.8.0"},
                "env_variables": {"CDI_TARGET": "gcp"},
                "pools": {},
                "labels": LABELS,
            },
        )
        return {"uri": env.airflow_uri, "prefix": env.dag_gcs_prefix}

    return run(program)


def test_composer_environment_from_settings() -> None:
    result = _composer(private=False, kms=None)
    env = _only(result, "gcp:composer/environment:Environment")
    config = env["config"]
    assert config["softwareConfig"]["imageVersion"] == SETTINGS.image_version
    assert config["softwareConfig"]["pypiPackages"] == {"apache-airflow-providers-google": ">=22.8.0"}
    assert config["softwareConfig"]["envVariables"] == {"CDI_TARGET": "gcp"}
    assert config["softwareConfig"]["airflowConfigOverrides"] == {"core-dags_are_paused_at_creation": "True"}
    assert config["environmentSize"] == "ENVIRONMENT_SIZE_SMALL"
    assert config["workloadsConfig"]["worker"] == {
        "cpu": 0.5,
        "memoryGb": 2,
        "storageGb": 1,
        "minCount": 1,
        "maxCount": 3,
    }
    assert config["nodeConfig"]["serviceAccount"] == f"cdi-composer@{PROJECT}.iam.gserviceaccount.com"
    assert config["enablePrivateEnvironment"] is False
    assert env["storageConfig"]["bucket"] == f"{PROJECT}-composer"
    assert env["labels"] == LABELS
    assert result.outputs["prefix"] == f"gs://{PROJECT}-composer/dags"
    assert result.outputs["uri"].startswith("https://")


def test_private_composer_with_cmek() -> None:
    env = _only(
        _composer(private=True, kms="projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"),
        "gcp:composer/environment:Environment",
    )
    assert env["config"]["enablePrivateEnvironment"] is True
    assert env["config"]["enablePrivateBuildsOnly"] is True
    assert env["config"]["encryptionConfig"]["kmsKeyName"].endswith("/cryptoKeys/k")


# --- dataproc ------------------------------------------------------------------------------------


def _dataproc(kms_key: str | None) -> StackRun:
    def program() -> Mapping[str, Any]:
        dp = Dataproc(
            "dp",
            {
                "service_account": "cdi-dataproc@x.iam.gserviceaccount.com",
                "subnetwork": "projects/p/regions/r/subnetworks/s",
                "kms_key": kms_key,
            },
        )
        return {"sa": dp.batch_service_account, "subnet": dp.subnetwork, "kms": dp.kms_key}

    return run(program)


def test_serverless_needs_no_cluster_and_no_history_server() -> None:
    """Runtime 3.0 batches cannot use a persistent history server (spark-runtime-3.0 page)."""
    result = _dataproc(kms_key=None)
    assert not [r for r in result.resources if r.custom]
    assert result.outputs == {
        "sa": "cdi-dataproc@x.iam.gserviceaccount.com",
        "subnet": "projects/p/regions/r/subnetworks/s",
        "kms": "",
    }


def test_dataproc_exports_the_batch_key_when_given() -> None:
    assert (
        _dataproc(kms_key="projects/p/locations/r/keyRings/k/cryptoKeys/k")
        .outputs["kms"]
        .endswith("/cryptoKeys/k")
    )


# --- monitoring ----------------------------------------------------------------------------------


def _monitoring(slack: bool) -> StackRun:
    def program() -> Mapping[str, Any]:
        mon = Monitoring(
            "mon",
            {
                "project": PROJECT,
                "environment_name": "cdi",
                "dag_id": "customer_analytics",
                "emails": ["a@example.com", "b@example.com"],
                "slack_channel": "#cdi" if slack else "",
                "slack_token": pulumi.Output.secret("xoxb-test") if slack else None,
                "freshness_hours": 26,
                "labels": LABELS,
            },
        )
        return {"channels": mon.channel_ids}

    return run(program)


def test_alerts_for_failed_runs_failed_batches_and_freshness() -> None:
    result = _monitoring(slack=False)
    channels = result.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert sorted(c.inputs["labels"]["email_address"] for c in channels) == ["a@example.com", "b@example.com"]
    metric = _only(result, "gcp:logging/metric:Metric")
    assert 'resource.type="cloud_dataproc_batch"' in metric["filter"]
    policies = {r.name: r.inputs for r in result.of_type("gcp:monitoring/alertPolicy:AlertPolicy")}
    assert set(policies) == {"mon-dag-run-failed", "mon-batch-failed", "mon-data-freshness"}
    failed = policies["mon-dag-run-failed"]["conditions"][0]["conditionThreshold"]["filter"]
    assert 'workflow_name="customer_analytics"' in failed
    assert 'state="failed"' in failed
    batch = policies["mon-batch-failed"]["conditions"][0]["conditionThreshold"]["filter"]
    assert f"logging.googleapis.com/user/{metric['name']}" in batch
    fresh = policies["mon-data-freshness"]["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    assert fresh.startswith("absent_over_time(")
    assert "[26h]" in fresh
    assert 'state="success"' in fresh
    for name, policy in policies.items():
        assert sorted(policy["notificationChannels"]) == sorted(result.outputs["channels"]), name
        assert policy["userLabels"] == LABELS, name


def test_optional_slack_channel_takes_its_token_from_a_secret() -> None:
    result = _monitoring(slack=True)
    slack = [
        c
        for c in result.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
        if c.inputs["type"] == "slack"
    ]
    assert len(slack) == 1
    assert slack[0].inputs["labels"] == {"channel_name": "#cdi"}
    token = slack[0].inputs["sensitiveLabels"]
    assert isinstance(token, SecretValue), "the Slack token must stay a secret"
    assert token.value == {"authToken": "xoxb-test"}
    assert str(token) == "[secret]"


# --- deploy --------------------------------------------------------------------------------------


def test_code_deploy_uploads_the_dag_folder_and_the_spark_job(spark_dist: Path) -> None:
    dag_files = artifacts.dag_artifacts()
    spark_files = artifacts.spark_artifacts(spark_dist, build=False)

    def program() -> Mapping[str, Any]:
        deploy = CodeDeploy(
            "deploy",
            {
                "composer_bucket": "comp",
                "artifacts_bucket": "arts",
                "dag_files": dag_files,
                "spark_files": spark_files,
            },
        )
        return {"dags": deploy.dag_folder, "job": deploy.spark_job_uri}

    result = run(program)
    objects = {
        (r.inputs["bucket"], r.inputs["name"]): r.inputs
        for r in result.of_type("gcp:storage/bucketObject:BucketObject")
    }
    for artifact in dag_files:
        source = objects[("comp", artifact.object_name)]["source"]
        assert source == {"asset": "file", "path": str(artifact.path)}, artifact.object_name
    assert ("arts", "spark/job.py") in objects
    assert ("arts", "spark/cdi_spark.zip") in objects
    assert ("comp", "dags/.airflowignore") in objects
    assert len(objects) == len(dag_files) + len(spark_files) + 1
    assert result.outputs == {"dags": "gs://comp/dags", "job": "gs://arts/spark/job.py"}


@pytest.mark.parametrize("prefix", ["dags/pipeline/", "dags/sql/"])
def test_dag_folder_holds_the_pipeline_package_and_the_sql(prefix: str) -> None:
    names = [a.object_name for a in artifacts.dag_artifacts()]
    assert any(n.startswith(prefix) for n in names)

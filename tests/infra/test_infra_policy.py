"""The policy pack: each rule against a passing and a failing resource, the whole mocked stacks,
and the pack served over gRPC the way `pulumi preview --policy-pack` talks to it (protobuf 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import ResourceValidationPolicy

from infra.config import REPO_ROOT
from infra.mocks import StackRun
from infra.policy import rules
from infra.policy.rules import POLICIES, check, evaluate, validation_args
from pipeline.config import ENV

DEV = "urn:pulumi:dev::cdi::gcp:x/y:Z::r"
PROD = "urn:pulumi:prod::cdi::gcp:x/y:Z::r"
LABELS = {"app": "cdi", "env": "prod", "managed-by": "pulumi", "team": "data-platform"}
KEY = "projects/p/locations/europe/keyRings/r/cryptoKeys/k"
GOOD_BUCKET = {
    "name": "b",
    "publicAccessPrevention": "enforced",
    "uniformBucketLevelAccess": True,
    "labels": LABELS,
    "encryption": {"defaultKmsKeyName": KEY},
    "forceDestroy": False,
    "deletionPolicy": "PREVENT",
}
GOOD_TABLE = {
    "datasetId": "silver",
    "tableId": "transactions",
    "timePartitioning": {"type": "DAY", "field": "transaction_ts"},
    "requirePartitionFilter": True,
    "labels": {**LABELS, "kind": "fact"},
    "deletionProtection": True,
    "deletionPolicy": "PREVENT",
    "encryptionConfiguration": {"kmsKeyName": KEY},
}
BATCH_ENV = {
    ENV["dataproc_service_account"]: "cdi-dataproc@p.iam.gserviceaccount.com",
    ENV["dataproc_subnet"]: "https://www.googleapis.com/compute/v1/projects/p/regions/r/subnetworks/s",
    ENV["dataproc_kms_key"]: KEY,
}
GOOD_COMPOSER = {
    "labels": LABELS,
    "config": {
        "enablePrivateEnvironment": True,
        "enablePrivateBuildsOnly": True,
        "encryptionConfig": {"kmsKeyName": KEY},
        "softwareConfig": {"envVariables": BATCH_ENV},
    },
}

POOL = "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/github"
PREVIEW = "serviceAccount:cdi-ci-preview@p.iam.gserviceaccount.com"
GOOD_SECRET = {
    "secretId": "airflow-connections-smtp_default",
    "labels": LABELS,
    "replication": {
        "userManaged": {
            "replicas": [{"location": "europe-west1", "customerManagedEncryption": {"kmsKeyName": KEY}}]
        }
    },
}


def _composer_env(**env: str) -> dict[str, Any]:
    """GOOD_COMPOSER with some batch variables replaced."""
    config = GOOD_COMPOSER["config"]
    return GOOD_COMPOSER | {"config": {**config, "softwareConfig": {"envVariables": {**BATCH_ENV, **env}}}}


def _without(props: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in keys}


# policy name -> (resource type, urn, passing props, failing props)
CASES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    "gcs-public-access-prevention": (
        rules.BUCKET,
        DEV,
        GOOD_BUCKET,
        GOOD_BUCKET | {"publicAccessPrevention": "inherited"},
    ),
    "gcs-uniform-bucket-level-access": (
        rules.BUCKET,
        DEV,
        GOOD_BUCKET,
        GOOD_BUCKET | {"uniformBucketLevelAccess": False},
    ),
    "iam-no-primitive-roles": (
        "gcp:projects/iAMMember:IAMMember",
        DEV,
        {
            "project": "p",
            "role": "roles/bigquery.jobUser",
            "member": "serviceAccount:a@p.iam.gserviceaccount.com",
        },
        {"project": "p", "role": "roles/editor", "member": "serviceAccount:a@p.iam.gserviceaccount.com"},
    ),
    "iam-no-public-principals": (
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        DEV,
        {
            "bucket": "b",
            "role": "roles/storage.objectViewer",
            "member": "serviceAccount:a@p.iam.gserviceaccount.com",
        },
        {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"},
    ),
    "bigquery-fact-tables-partitioned": (
        rules.TABLE,
        DEV,
        GOOD_TABLE,
        _without(GOOD_TABLE, "timePartitioning"),
    ),
    "prod-deletion-protection": (rules.TABLE, PROD, GOOD_TABLE, GOOD_TABLE | {"deletionProtection": False}),
    "prod-cmek": (rules.BUCKET, PROD, GOOD_BUCKET, _without(GOOD_BUCKET, "encryption")),
    "prod-private-composer": (
        rules.COMPOSER,
        PROD,
        GOOD_COMPOSER,
        GOOD_COMPOSER | {"config": {**GOOD_COMPOSER["config"], "enablePrivateEnvironment": False}},
    ),
    "labels-present": (
        rules.BUCKET,
        DEV,
        GOOD_BUCKET,
        GOOD_BUCKET | {"labels": {"app": "cdi", "env": "dev"}},
    ),
    "no-service-account-keys": (
        "gcp:serviceaccount/account:Account",
        DEV,
        {"accountId": "cdi-ci"},
        {"serviceAccountId": "cdi-ci@p.iam.gserviceaccount.com"},
    ),
    "wif-provider-restricted": (
        rules.WIF_PROVIDER,
        DEV,
        {"attributeCondition": "assertion.repository == 'acme/cdi'"},
        {"attributeMapping": {"google.subject": "assertion.sub"}},
    ),
    "subnet-private-google-access": (
        rules.SUBNETWORK,
        DEV,
        {"privateIpGoogleAccess": True},
        {"privateIpGoogleAccess": False},
    ),
    "firewall-no-public-ingress": (
        rules.FIREWALL,
        DEV,
        {
            "direction": "INGRESS",
            "allows": [{"protocol": "tcp", "ports": ["22"]}],
            "sourceRanges": ["35.235.240.0/20"],
        },
        {
            "direction": "INGRESS",
            "allows": [{"protocol": "tcp", "ports": ["22"]}],
            "sourceRanges": ["0.0.0.0/0"],
        },
    ),
    "dataproc-internal-ip-only": (
        rules.DATAPROC_CLUSTER,
        DEV,
        {"clusterConfig": {"gceClusterConfig": {"internalIpOnly": True}}},
        {"clusterConfig": {"gceClusterConfig": {"internalIpOnly": False}}},
    ),
    "dataproc-batch-service-account": (
        rules.COMPOSER,
        DEV,
        GOOD_COMPOSER,
        _composer_env(**{ENV["dataproc_service_account"]: ""}),
    ),
    "dataproc-batch-cmek": (
        rules.COMPOSER,
        PROD,
        GOOD_COMPOSER,
        _composer_env(**{ENV["dataproc_kms_key"]: ""}),
    ),
    "dataproc-no-cluster": (
        rules.COMPOSER,
        DEV,
        GOOD_COMPOSER,
        {"clusterConfig": {"gceClusterConfig": {"internalIpOnly": True}}},
    ),
    "wif-deploy-bound-to-branch": (
        rules.SA_IAM_MEMBER,
        DEV,
        {
            "serviceAccountId": "projects/p/serviceAccounts/cdi-ci@p.iam.gserviceaccount.com",
            "role": "roles/iam.workloadIdentityUser",
            "member": f"{POOL}/attribute.ref/refs/heads/main",
        },
        {
            "serviceAccountId": "projects/p/serviceAccounts/cdi-ci@p.iam.gserviceaccount.com",
            "role": "roles/iam.workloadIdentityUser",
            "member": f"{POOL}/attribute.repository/acme/cdi",
        },
    ),
    "ci-preview-read-only": (
        "gcp:projects/iAMMember:IAMMember",
        DEV,
        {"project": "p", "role": "roles/browser", "member": PREVIEW},
        {"project": "p", "role": "roles/resourcemanager.projectIamAdmin", "member": PREVIEW},
    ),
    "secret-replicated-in-region": (
        rules.SECRET,
        PROD,
        GOOD_SECRET,
        GOOD_SECRET | {"replication": {"auto": {}}},
    ),
}
# The failing resource of `no-service-account-keys` is a key, not an account; of
# `dataproc-no-cluster` a cluster.
FAILING_TYPE = {
    "no-service-account-keys": "gcp:serviceaccount/key:Key",
    "dataproc-no-cluster": rules.DATAPROC_CLUSTER,
}


def _policy(name: str) -> ResourceValidationPolicy:
    return next(p for p in POLICIES if p.name == name)


def test_the_pack_has_at_least_ten_mandatory_rules_each_tested() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) >= 10
    assert len(set(names)) == len(names)
    assert set(names) == set(CASES), "every rule needs a passing and a failing case here"
    assert all(p.enforcement_level and p.enforcement_level.value == "mandatory" for p in POLICIES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_passes_a_compliant_resource(name: str) -> None:
    kind, urn, good, _ = CASES[name]
    assert check(_policy(name), validation_args(kind, good, urn, "r")) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_fails_a_non_compliant_resource(name: str) -> None:
    kind, urn, _, bad = CASES[name]
    violations = check(_policy(name), validation_args(FAILING_TYPE.get(name, kind), bad, urn, "r"))
    assert violations, f"{name} let a non-compliant resource through"
    assert all(v.policy == name and v.urn == urn for v in violations)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (
            GOOD_TABLE | {"timePartitioning": {"type": "DAY", "field": "ingested_at"}},
            "partitioned on transaction_ts",
        ),
        (GOOD_TABLE | {"requirePartitionFilter": False}, "require_partition_filter"),
    ],
)
def test_fact_tables_must_match_the_catalog(props: dict[str, Any], message: str) -> None:
    violations = check(
        _policy("bigquery-fact-tables-partitioned"), validation_args(rules.TABLE, props, DEV, "t")
    )
    assert any(message in v.message for v in violations)


def test_prod_rules_do_not_apply_to_dev() -> None:
    for name in ("prod-deletion-protection", "prod-cmek", "prod-private-composer"):
        kind, _, _, bad = CASES[name]
        bad = bad | {"labels": LABELS | {"env": "dev"}}
        assert check(_policy(name), validation_args(kind, bad, DEV, "r")) == [], name


def test_primitive_roles_are_refused_in_policy_documents_too() -> None:
    props = {"policyData": '{"bindings": [{"role": "roles/owner", "members": ["user:a@example.com"]}]}'}
    violations = check(
        _policy("iam-no-primitive-roles"),
        validation_args("gcp:projects/iAMPolicy:IAMPolicy", props, DEV, "p"),
    )
    assert violations


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_whole_mocked_stack_passes_every_rule(stack_runs: dict[str, StackRun], stack: str) -> None:
    run = stack_runs[stack]
    assert len([r for r in run.resources if r.custom]) > 100
    violations = evaluate(run.resources)
    assert violations == [], "\n".join(str(v) for v in violations)


def test_the_prod_rules_bite_on_the_dev_stack_relabelled_prod(dev_run: StackRun) -> None:
    """The dev stack is neither private nor encrypted: judged as prod, the guardrails stop it."""
    relabelled = [
        type(r)(
            urn=r.urn.replace("urn:pulumi:dev::", "urn:pulumi:prod::"),
            type=r.type,
            name=r.name,
            inputs=r.inputs,
            parent=r.parent,
            custom=r.custom,
            protect=r.protect,
        )
        for r in dev_run.resources
    ]
    failed = {v.policy for v in evaluate(relabelled)}
    assert failed == {
        "prod-cmek",
        "prod-private-composer",
        "prod-deletion-protection",
        "dataproc-batch-cmek",
        "secret-replicated-in-region",  # dev's connection secrets have no CMEK
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {ENV["dataproc_service_account"]: "123-compute@developer.gserviceaccount.com"},
            "Compute Engine default",
        ),
        ({ENV["dataproc_subnet"]: ""}, "subnet"),
    ],
)
def test_batches_never_run_as_the_default_account_or_outside_the_subnet(
    env: dict[str, str], message: str
) -> None:
    violations = check(
        _policy("dataproc-batch-service-account"),
        validation_args(rules.COMPOSER, _composer_env(**env), DEV, "c"),
    )
    assert any(message in v.message for v in violations), violations


def test_batch_cmek_follows_the_environment_key_on_any_stack() -> None:
    """A dev stack with CMEK on (Composer encrypted) must give its batches a key too; one without
    CMEK need not; a value that is not a key name does not count."""
    rule = _policy("dataproc-batch-cmek")
    no_key = _composer_env(**{ENV["dataproc_kms_key"]: ""}) | {"labels": LABELS | {"env": "dev"}}
    assert check(rule, validation_args(rules.COMPOSER, no_key, DEV, "c"))
    plain = no_key | {"config": {k: v for k, v in no_key["config"].items() if k != "encryptionConfig"}}
    assert check(rule, validation_args(rules.COMPOSER, plain, DEV, "c")) == []
    garbage = _composer_env(**{ENV["dataproc_kms_key"]: "my-key"})
    assert check(rule, validation_args(rules.COMPOSER, garbage, PROD, "c"))


def test_the_preview_identity_may_be_impersonated_from_any_branch_but_holds_no_admin_role() -> None:
    """Repository-wide impersonation is allowed for the read-only account only; and any grant
    of a role that writes, administers or reads secret payloads to it is refused."""
    preview_binding = {
        "serviceAccountId": "projects/p/serviceAccounts/cdi-ci-preview@p.iam.gserviceaccount.com",
        "role": "roles/iam.workloadIdentityUser",
        "member": f"{POOL}/attribute.repository/acme/cdi",
    }
    assert (
        check(
            _policy("wif-deploy-bound-to-branch"),
            validation_args(rules.SA_IAM_MEMBER, preview_binding, DEV, "r"),
        )
        == []
    )
    for role in (
        "roles/storage.admin",
        "roles/editor",
        "roles/iam.serviceAccountUser",
        "roles/secretmanager.secretAccessor",
    ):
        bad = {"bucket": "state", "role": role, "member": PREVIEW}
        kind = "gcp:storage/bucketIAMMember:BucketIAMMember"
        assert check(_policy("ci-preview-read-only"), validation_args(kind, bad, DEV, "r")), role
    for role in ("roles/storage.objectViewer", "roles/iam.securityReviewer", "roles/browser"):
        good = {"bucket": "state", "role": role, "member": PREVIEW}
        kind = "gcp:storage/bucketIAMMember:BucketIAMMember"
        assert check(_policy("ci-preview-read-only"), validation_args(kind, good, DEV, "r")) == [], role


def test_secrets_are_never_public_and_dev_needs_no_cmek() -> None:
    public = {
        "secretId": "airflow-connections-smtp_default",
        "role": "roles/secretmanager.secretAccessor",
        "member": "allUsers",
    }
    kind = "gcp:secretmanager/secretIamMember:SecretIamMember"
    assert check(_policy("iam-no-public-principals"), validation_args(kind, public, DEV, "r"))
    dev_secret = GOOD_SECRET | {
        "labels": LABELS | {"env": "dev"},
        "replication": {"userManaged": {"replicas": [{"location": "europe-west1"}]}},
    }
    assert (
        check(_policy("secret-replicated-in-region"), validation_args(rules.SECRET, dev_secret, DEV, "r"))
        == []
    )
    assert check(
        _policy("secret-replicated-in-region"),
        validation_args(rules.SECRET, {"replication": {"userManaged": {"replicas": []}}}, DEV, "r"),
    )


# --- the pack as the engine runs it ------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """`python infra/policy/__main__.py` prints its port and serves the Analyzer gRPC service."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-u", str(Path("infra/policy/__main__.py"))],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.isdigit():
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"policy pack did not start: {line!r} {err.decode()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_the_served_pack_lists_every_rule(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "cdi-guardrails"
    assert {p.name for p in info.policies} == {p.name for p in POLICIES}


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub, kind: str, props: dict[str, Any], urn: str) -> list[str]:
    request = analyzer_pb2.AnalyzeRequest(type=kind, urn=urn, name="r")
    struct = struct_pb2.Struct()
    struct.update(props)
    request.properties.CopyFrom(struct)
    response = stub.Analyze(request, timeout=30)
    return sorted(d.policyName for d in response.diagnostics)


def test_the_served_pack_judges_resources(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert _analyze(analyzer, rules.BUCKET, GOOD_BUCKET, PROD) == []
    bad = GOOD_BUCKET | {"publicAccessPrevention": "inherited", "uniformBucketLevelAccess": False}
    assert _analyze(analyzer, rules.BUCKET, bad, DEV) == [
        "gcs-public-access-prevention",
        "gcs-uniform-bucket-level-access",
    ]

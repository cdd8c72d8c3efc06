"""The guardrails of the policy pack, as plain validation functions.

Each rule is a `ResourceValidationPolicy` whose `validate` reads the resource's properties as the
engine passes them (camelCase names, e.g. `publicAccessPrevention`). `__main__.py` serves them as
the `cdi-guardrails` pack for `pulumi preview --policy-pack infra/policy`; `evaluate()` applies them
to the resources recorded by the offline mocks (`infra.mocks`), which is what the tests and the
offline plan do.

"Prod" rules apply to a resource of a stack whose name starts with `prod`, or labelled `env: prod`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from infra import iamdata
from infra.components.ci_access import DEPLOY_REF, WORKLOAD_IDENTITY_USER
from infra.config import REQUIRED_LABELS
from infra.iamdata import PRIMITIVE_ROLES, PUBLIC_MEMBERS
from pipeline.config import ENV
from sql import catalog

BUCKET = "gcp:storage/bucket:Bucket"
DATASET = "gcp:bigquery/dataset:Dataset"
TABLE = "gcp:bigquery/table:Table"
TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
COMPOSER = "gcp:composer/environment:Environment"
DATAPROC_CLUSTER = "gcp:dataproc/cluster:Cluster"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
WIF_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
SECRET = "gcp:secretmanager/secret:Secret"
SA_IAM_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
# The read-only CI identity of pull-request previews (`iam/bindings.yaml`); every other service
# account a GitHub token may impersonate is a deployer, bound to the main branch.
PREVIEW_ACCOUNT_KEY = "ci_preview"
# Roles that only read: what the preview identity may hold.
_READ_ONLY_ROLE = re.compile(r"^roles/(browser|[A-Za-z0-9_.]*([Vv]iewer|securityReviewer))$")
KEY_TYPES = ("gcp:serviceaccount/key:Key", "gcp:storage/hmacKey:HmacKey")
ACL_TYPES = (
    "gcp:storage/bucketACL:BucketACL",
    "gcp:storage/bucketAccessControl:BucketAccessControl",
    "gcp:storage/defaultObjectACL:DefaultObjectACL",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
    "gcp:storage/objectAccessControl:ObjectAccessControl",
)
LABELLED_TYPES = (
    BUCKET,
    DATASET,
    TABLE,
    TOPIC,
    SUBSCRIPTION,
    CRYPTO_KEY,
    COMPOSER,
    DATAPROC_CLUSTER,
    SECRET,
)
USER_LABELLED_TYPES = (
    "gcp:monitoring/alertPolicy:AlertPolicy",
    "gcp:monitoring/notificationChannel:NotificationChannel",
)
PUBLIC_RANGES = ("0.0.0.0/0", "::/0")


def _get(props: Mapping[str, Any], path: str) -> Any:
    value: Any = props
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _stack(urn: str) -> str:
    # urn:pulumi:<stack>::<project>::<type chain>::<name>
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def is_prod(args: ResourceValidationArgs) -> bool:
    labels = args.props.get("labels") or {}
    return _stack(args.urn).startswith("prod") or (
        isinstance(labels, Mapping) and labels.get("env") == "prod"
    )


def _is_iam_type(resource_type: str) -> bool:
    kind = resource_type.rsplit(":", 1)[-1].lower()
    return kind.startswith("iam") or "iammember" in kind or "iambinding" in kind or "iampolicy" in kind


# --- rules -------------------------------------------------------------------------------------


def _public_access_prevention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == BUCKET and args.props.get("publicAccessPrevention") != "enforced":
        report("Buckets must set public_access_prevention='enforced'.", None)


def _uniform_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == BUCKET and args.props.get("uniformBucketLevelAccess") is not True:
        report("Buckets must enable uniform bucket-level access (no object ACLs).", None)


def _bindings(args: ResourceValidationArgs) -> Iterable[tuple[str, list[str]]]:
    """(role, members) of an IAM resource: *IAMMember, *IAMBinding or *IAMPolicy."""
    props = args.props
    if not _is_iam_type(args.resource_type):
        return
    if "role" in props:
        members = list(props.get("members") or []) + ([props["member"]] if props.get("member") else [])
        yield str(props["role"]), [str(m) for m in members]
    if props.get("policyData"):
        try:
            policy = json.loads(props["policyData"])
        except (TypeError, ValueError):
            return
        for binding in policy.get("bindings", []):
            yield str(binding.get("role", "")), [str(m) for m in binding.get("members", [])]


def _no_primitive_roles(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for role, _ in _bindings(args):
        if role in PRIMITIVE_ROLES:
            report(
                f"Primitive role {role} is forbidden: grant a predefined role on the narrowest scope.", None
            )
    if args.resource_type == DATASET:
        for access in args.props.get("accesses") or []:
            role = str(access.get("role", ""))
            if role.upper() in ("OWNER", "WRITER", "READER") or role in PRIMITIVE_ROLES:
                report(
                    f"Dataset access entry with basic role {role}: use dataset IAM with a predefined role.",
                    None,
                )


def _no_public_principals(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for role, members in _bindings(args):
        for member in members:
            if member in PUBLIC_MEMBERS:
                report(f"{member} must never be granted ({role}).", None)
    if args.resource_type in ACL_TYPES:
        entities = [args.props.get("entity"), *(args.props.get("roleEntities") or [])]
        for entity in entities:
            if entity and any(str(entity).endswith(public) for public in PUBLIC_MEMBERS):
                report(f"Public ACL entry {entity} is forbidden.", None)
    if args.resource_type == DATASET:
        for access in args.props.get("accesses") or []:
            if (
                access.get("specialGroup") == "allAuthenticatedUsers"
                or access.get("iamMember") in PUBLIC_MEMBERS
            ):
                report("Dataset access entries must not grant allUsers/allAuthenticatedUsers.", None)


def _fact_tables_partitioned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != TABLE:
        return
    labels = args.props.get("labels") or {}
    partition_field = _get(args.props, "timePartitioning.field")
    if labels.get("kind") == "fact" and not partition_field:
        report("Fact tables (label kind=fact) must be time-partitioned on their date column.", None)
    # The catalog is the source of truth: a table it partitions must be created partitioned the same way.
    dataset, table_id = args.props.get("datasetId"), args.props.get("tableId")
    try:
        spec = catalog.table(f"{dataset}.{table_id}")
    except KeyError:
        return
    if spec.partition_field and partition_field != spec.partition_field:
        report(
            f"{spec.qualified_name} must be partitioned on {spec.partition_field} (sql/schemas/tables.json).",
            None,
        )
    if spec.require_partition_filter and args.props.get("requirePartitionFilter") is not True:
        report(f"{spec.qualified_name} must set require_partition_filter (sql/schemas/tables.json).", None)


def _prod_deletion_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_prod(args):
        return
    props, kind = args.props, args.resource_type
    if kind == TABLE and props.get("deletionProtection") is not True:
        report("Prod tables must set deletion_protection.", None)
    if kind == BUCKET and props.get("forceDestroy") is True:
        report("Prod buckets must not set force_destroy.", None)
    if kind == DATASET and props.get("deleteContentsOnDestroy") is True:
        report("Prod datasets must not set delete_contents_on_destroy.", None)
    if kind in (TABLE, BUCKET, DATASET, CRYPTO_KEY) and props.get("deletionPolicy") != "PREVENT":
        report("Prod data resources must set deletion_policy='PREVENT'.", None)


_CMEK_PATHS = {
    BUCKET: "encryption.defaultKmsKeyName",
    DATASET: "defaultEncryptionConfiguration.kmsKeyName",
    TABLE: "encryptionConfiguration.kmsKeyName",
    TOPIC: "kmsKeyName",
    COMPOSER: "config.encryptionConfig.kmsKeyName",
    DATAPROC_CLUSTER: "clusterConfig.encryptionConfig.kmsKeyName",
}


def _prod_cmek(args: ResourceValidationArgs, report: ReportViolation) -> None:
    path = _CMEK_PATHS.get(args.resource_type)
    if path and is_prod(args) and not _get(args.props, path):
        report(f"Prod resources must be encrypted with a customer-managed key ({path}).", None)


def _prod_private_composer(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != COMPOSER or not is_prod(args):
        return
    if _get(args.props, "config.enablePrivateEnvironment") is not True:
        report("Prod Composer must be a private IP environment (enable_private_environment).", None)
    if _get(args.props, "config.enablePrivateBuildsOnly") is not True:
        report("Prod Composer must build PyPI packages privately (enable_private_builds_only).", None)


def _labels_present(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in LABELLED_TYPES:
        labels = args.props.get("labels") or {}
    elif args.resource_type in USER_LABELLED_TYPES:
        labels = args.props.get("userLabels") or {}
    else:
        return
    missing = [key for key in REQUIRED_LABELS if not labels.get(key)]
    if missing:
        report(f"Missing labels {missing} (required: {list(REQUIRED_LABELS)}).", None)


def _no_service_account_keys(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in KEY_TYPES:
        report("Long-lived keys are forbidden: use Workload Identity Federation or impersonation.", None)


def _wif_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != WIF_PROVIDER:
        return
    condition = str(args.props.get("attributeCondition") or "")
    if "assertion.repository" not in condition:
        report(
            "Workload identity providers must restrict tokens to the repository (attribute_condition).", None
        )


def _preview_account_id() -> str:
    return next(sa.account_id for sa in iamdata.load().service_accounts if sa.key == PREVIEW_ACCOUNT_KEY)


def _wif_deploy_bound_to_branch(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Only the preview account may be impersonated by any workflow of the repository."""
    if args.resource_type != SA_IAM_MEMBER or args.props.get("role") != WORKLOAD_IDENTITY_USER:
        return
    member = str(args.props.get("member") or "")
    if "workloadIdentityPools/" not in member:
        return
    account = str(args.props.get("serviceAccountId") or "")
    if f"/serviceAccounts/{_preview_account_id()}@" in account:
        return
    if not member.endswith(f"/attribute.ref/{DEPLOY_REF}"):
        report(
            f"GitHub tokens may impersonate a deploying service account only from {DEPLOY_REF} "
            f"(member principalSet://.../attribute.ref/{DEPLOY_REF}), not {member}.",
            None,
        )


def _preview_read_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    preview = f"serviceAccount:{_preview_account_id()}@"
    for role, members in _bindings(args):
        if any(m.startswith(preview) for m in members) and not _READ_ONLY_ROLE.match(role):
            report(
                f"The pull-request preview identity holds only viewer roles; {role} can change or "
                "reveal more (admin, editor, user, accessor roles belong to the deployer).",
                None,
            )


def _secret_in_region(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SECRET:
        return
    replicas = _get(args.props, "replication.userManaged.replicas") or []
    if _get(args.props, "replication.auto") is not None or not replicas:
        report(
            "Secrets are replicated in the stack's region only (user-managed replication), "
            "not automatically anywhere.",
            None,
        )
    if is_prod(args) and any(not _get(r, "customerManagedEncryption.kmsKeyName") for r in replicas):
        report("Prod secrets are encrypted with the regional customer-managed key.", None)


def _private_google_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == SUBNETWORK and args.props.get("privateIpGoogleAccess") is not True:
        report("Subnets must enable Private Google Access (workers have no external IP).", None)


def _no_public_ingress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FIREWALL:
        return
    direction = args.props.get("direction") or "INGRESS"
    ranges = args.props.get("sourceRanges") or []
    if direction == "INGRESS" and args.props.get("allows") and any(r in PUBLIC_RANGES for r in ranges):
        report("Firewall rules must not allow ingress from the internet (0.0.0.0/0); use IAP ranges.", None)


def _dataproc_internal_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if (
        args.resource_type == DATAPROC_CLUSTER
        and _get(args.props, "clusterConfig.gceClusterConfig.internalIpOnly") is not True
    ):
        report("Dataproc clusters must run with internal IPs only.", None)


# Dataproc batches are created by the DAG, not by Pulumi: what a batch runs as and is encrypted
# with reaches it only through the Composer environment's variables (`pipeline.gcp.dataproc.batch`
# reads them), so that is where these rules look.
_KMS_KEY_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
_DEFAULT_COMPUTE_SA = "-compute@developer.gserviceaccount.com"


def _composer_env_vars(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    if args.resource_type != COMPOSER:
        return None
    env = _get(args.props, "config.softwareConfig.envVariables")
    return env if isinstance(env, Mapping) else {}


def _batch_identity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    env = _composer_env_vars(args)
    if env is None:
        return
    account = str(env.get(ENV["dataproc_service_account"]) or "")
    if not account.endswith(".iam.gserviceaccount.com"):
        report(
            f"Dataproc batches must run as a user-managed service account: set {ENV['dataproc_service_account']}"
            " on Composer (runtime 3.0 otherwise runs them with the submitter's credentials or the"
            " Compute Engine default account).",
            None,
        )
    elif account.endswith(_DEFAULT_COMPUTE_SA):
        report("Dataproc batches must not run as the Compute Engine default service account.", None)
    if not env.get(ENV["dataproc_subnet"]):
        report(f"Dataproc batches need their subnet: set {ENV['dataproc_subnet']} on Composer.", None)


def _batch_cmek(args: ResourceValidationArgs, report: ReportViolation) -> None:
    env = _composer_env_vars(args)
    if env is None:
        return
    encrypted = bool(_get(args.props, "config.encryptionConfig.kmsKeyName"))
    if not (encrypted or is_prod(args)):
        return
    key = str(env.get(ENV["dataproc_kms_key"]) or "")
    if not _KMS_KEY_NAME.match(key):
        report(
            f"With CMEK (and on prod) Dataproc batches must be encrypted with a customer-managed key:"
            f" set {ENV['dataproc_kms_key']} on Composer to a Cloud KMS key name (got {key!r}).",
            None,
        )


def _no_persistent_history_server(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == DATAPROC_CLUSTER:
        report(
            "No Dataproc clusters: runtime 3.0 batches cannot use a persistent history server"
            " (https://cloud.google.com/dataproc-serverless/docs/concepts/versions/spark-runtime-3.0);"
            " use a batch's Spark UI.",
            None,
        )


def _policy(name: str, description: str, validate: Any) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


POLICIES: list[ResourceValidationPolicy] = [
    _policy(
        "gcs-public-access-prevention", "Buckets enforce public access prevention.", _public_access_prevention
    ),
    _policy("gcs-uniform-bucket-level-access", "Buckets use uniform bucket-level access.", _uniform_access),
    _policy("iam-no-primitive-roles", "No owner/editor/viewer grants anywhere.", _no_primitive_roles),
    _policy(
        "iam-no-public-principals", "Never grant allUsers or allAuthenticatedUsers.", _no_public_principals
    ),
    _policy(
        "bigquery-fact-tables-partitioned",
        "Fact tables are partitioned as the catalog says.",
        _fact_tables_partitioned,
    ),
    _policy(
        "prod-deletion-protection",
        "Prod data resources cannot be deleted by an update.",
        _prod_deletion_protection,
    ),
    _policy("prod-cmek", "Prod data and compute use customer-managed encryption keys.", _prod_cmek),
    _policy("prod-private-composer", "Prod Composer is a private IP environment.", _prod_private_composer),
    _policy("labels-present", "Labelled resources carry app, env, managed-by and team.", _labels_present),
    _policy("no-service-account-keys", "No service account or HMAC keys.", _no_service_account_keys),
    _policy(
        "wif-provider-restricted", "GitHub OIDC provider is restricted to the repository.", _wif_restricted
    ),
    _policy("subnet-private-google-access", "Subnets use Private Google Access.", _private_google_access),
    _policy(
        "firewall-no-public-ingress", "No firewall rule allows ingress from the internet.", _no_public_ingress
    ),
    _policy("dataproc-internal-ip-only", "Dataproc clusters have no external IPs.", _dataproc_internal_ip),
    _policy(
        "dataproc-batch-service-account",
        "The DAG's Dataproc batches run as a user-managed service account in the stack's subnet.",
        _batch_identity,
    ),
    _policy(
        "dataproc-batch-cmek",
        "With CMEK and on prod, the DAG's Dataproc batches get a customer-managed key.",
        _batch_cmek,
    ),
    _policy(
        "dataproc-no-cluster",
        "No Dataproc clusters (runtime 3.0 has no persistent history server).",
        _no_persistent_history_server,
    ),
    _policy(
        "wif-deploy-bound-to-branch",
        "Only main may impersonate a deploying CI account.",
        _wif_deploy_bound_to_branch,
    ),
    _policy("ci-preview-read-only", "The pull-request preview identity only reads.", _preview_read_only),
    _policy(
        "secret-replicated-in-region",
        "Secrets stay in the stack's region (CMEK on prod).",
        _secret_in_region,
    ),
]


# --- offline evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.urn}: {self.message}"


def validation_args(
    resource_type: str,
    props: Mapping[str, Any],
    urn: str,
    name: str,
    protect: bool = False,
    parent: str | None = None,
) -> ResourceValidationArgs:
    """The arguments the policy engine would pass for one resource."""
    opts = PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )
    return ResourceValidationArgs(resource_type, props, urn, name, opts, None)


def check(policy: ResourceValidationPolicy, args: ResourceValidationArgs) -> list[Violation]:
    """Run one policy on one resource; the violations it reports."""
    found: list[Violation] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(Violation(policy.name, args.urn, message))

    result = policy.validate(args, report)
    if result is not None:
        raise TypeError(f"policy {policy.name} must validate synchronously")
    return found


def evaluate(
    resources: Iterable[Any], policies: Sequence[ResourceValidationPolicy] = tuple(POLICIES)
) -> list[Violation]:
    """Every violation of `policies` among recorded resources (`infra.mocks.Recorded`)."""
    violations: list[Violation] = []
    for resource in resources:
        if not resource.custom:
            continue
        args = validation_args(
            resource.type, resource.inputs, resource.urn, resource.name, resource.protect, resource.parent
        )
        for policy in policies:
            violations += check(policy, args)
    return violations

"""Offline plan: what a stack would create, without credentials, the Pulumi CLI or GCP.

    uv run --locked python -m infra.plan --stack dev     (make plan STACK=dev)

Runs the Pulumi program under mocks with the config of `Pulumi.<stack>.yaml` and prints the
resource tree: one line per resource with its type token and name, then its key properties
indented below it, then the stack outputs, then the verdict of the policy pack on every
resource (exit status 1 on any violation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.artifacts import SPARK_FILES, ArtifactError, spark_artifacts
from infra.config import NAMESPACE, REPO_ROOT
from infra.mocks import Recorded, StackRun, run_stack, stack_config_values
from infra.policy.rules import POLICIES, evaluate

# Type token -> property paths (dot-separated, camelCase as the engine sees them) printed under it.
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "gcp:projects/service:Service": ("service",),
    "gcp:projects/serviceIdentity:ServiceIdentity": ("service",),
    "gcp:serviceaccount/account:Account": ("accountId", "displayName"),
    "gcp:projects/iAMMember:IAMMember": ("role", "member"),
    "gcp:serviceaccount/iAMMember:IAMMember": ("role", "member", "serviceAccountId"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket", "role", "member"),
    "gcp:bigquery/datasetIamMember:DatasetIamMember": ("datasetId", "role", "member"),
    "gcp:pubsub/topicIAMMember:TopicIAMMember": ("topic", "role", "member"),
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": ("subscription", "role", "member"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("cryptoKeyId", "role", "member"),
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": ("workloadIdentityPoolId",),
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": (
        "workloadIdentityPoolProviderId",
        "oidc.issuerUri",
        "attributeCondition",
    ),
    "gcp:compute/network:Network": ("name", "autoCreateSubnetworks", "routingMode"),
    "gcp:compute/subnetwork:Subnetwork": ("name", "region", "ipCidrRange", "privateIpGoogleAccess"),
    "gcp:compute/router:Router": ("name", "region"),
    "gcp:compute/routerNat:RouterNat": ("name", "natIpAllocateOption", "sourceSubnetworkIpRangesToNat"),
    "gcp:compute/firewall:Firewall": ("name", "direction", "priority", "allows", "denies", "sourceRanges"),
    "gcp:kms/keyRing:KeyRing": ("name", "location"),
    "gcp:kms/cryptoKey:CryptoKey": ("name", "rotationPeriod", "deletionPolicy"),
    "gcp:storage/bucket:Bucket": (
        "name",
        "location",
        "uniformBucketLevelAccess",
        "publicAccessPrevention",
        "versioning.enabled",
        "encryption.defaultKmsKeyName",
        "lifecycleRules",
        "forceDestroy",
        "labels",
    ),
    "gcp:pubsub/topic:Topic": ("name", "kmsKeyName", "messageRetentionDuration"),
    "gcp:pubsub/subscription:Subscription": ("name", "topic", "ackDeadlineSeconds"),
    "gcp:storage/notification:Notification": ("bucket", "topic", "eventTypes", "payloadFormat"),
    "gcp:bigquery/dataset:Dataset": (
        "datasetId",
        "location",
        "defaultEncryptionConfiguration.kmsKeyName",
        "deleteContentsOnDestroy",
        "labels",
    ),
    "gcp:bigquery/table:Table": (
        "tableId",
        "timePartitioning",
        "requirePartitionFilter",
        "clusterings",
        "deletionProtection",
        "encryptionConfiguration.kmsKeyName",
        "labels.kind",
    ),
    "gcp:composer/environment:Environment": (
        "name",
        "region",
        "config.softwareConfig.imageVersion",
        "config.environmentSize",
        "config.enablePrivateEnvironment",
        "config.enablePrivateBuildsOnly",
        "config.nodeConfig.serviceAccount",
        "config.encryptionConfig.kmsKeyName",
        "config.workloadsConfig",
        "config.softwareConfig.pypiPackages",
        "config.softwareConfig.airflowConfigOverrides",
        "config.softwareConfig.envVariables",
        "storageConfig.bucket",
    ),
    "pulumi-python:dynamic/airflow:Pool": ("name", "slots", "airflow_uri"),
    "gcp:monitoring/notificationChannel:NotificationChannel": ("type", "displayName", "labels"),
    "gcp:logging/metric:Metric": ("name", "filter"),
    "gcp:monitoring/alertPolicy:AlertPolicy": ("displayName", "conditions"),
    "gcp:storage/bucketObject:BucketObject": ("bucket", "name", "source"),
    "gcp:secretmanager/secret:Secret": ("secretId", "replication", "labels"),
    "gcp:secretmanager/secretVersion:SecretVersion": ("secret", "secretData"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("secretId", "role", "member"),
}


def _get(inputs: Mapping[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, Mapping) and value.get("asset") == "file":
        path = Path(value["path"])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"
        shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        return f"file {shown} (sha256 {digest})"
    if isinstance(value, Mapping) and value.get("asset") == "string":
        return f"text sha256 {hashlib.sha256(value['text'].encode()).hexdigest()[:12]}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, sort_keys=True, default=str)


def _properties(resource: Recorded) -> Iterator[tuple[str, str]]:
    for path in KEY_PROPERTIES.get(resource.type, ()):
        value = _get(resource.inputs, path)
        if value is None or value == [] or value == {}:
            continue
        yield path, _fmt(value)


def render(run: StackRun, with_properties: bool = True) -> str:
    """The resource tree of a mocked run, then its outputs."""
    custom = sum(1 for r in run.resources if r.custom)
    components = sum(1 for r in run.resources if not r.custom) - 1
    project = run.config.get(f"{NAMESPACE}:project", "?")
    lines = [
        f"Offline plan of stack '{run.stack}' (project {project}), run under Pulumi mocks: "
        f"{custom} resources in {components} components",
        "",
    ]
    by_parent: dict[str, list[Recorded]] = {}
    # Registration order depends on thread timing: sort (components first) so plans are diffable.
    for resource in sorted(run.resources, key=lambda r: (r.custom, r.type, r.name)):
        by_parent.setdefault(resource.parent, []).append(resource)

    def walk(resource: Recorded, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─ " if last else "├─ ")
        protected = "  [protected]" if resource.protect else ""
        lines.append(f"{prefix}{branch}{resource.type}  {resource.name}{protected}")
        child_prefix = prefix if root else prefix + ("   " if last else "│  ")
        children = by_parent.get(resource.urn, [])
        if with_properties:
            bar = "│  " if children else "   "
            for path, value in _properties(resource):
                lines.append(f"{child_prefix}{bar}   {path}: {value}")
        for index, child in enumerate(children):
            walk(child, child_prefix, index == len(children) - 1, False)

    for root in by_parent.get("", []):
        walk(root, "", True, True)
    lines += ["", "Outputs:"]
    for key, value in run.outputs.items():
        lines.append(f"    {key}: {_fmt(value)}")
    return "\n".join(lines) + "\n"


def _spark_override(stack: str, scratch: Path) -> dict[str, str]:
    """Use placeholder Spark artefacts when the real ones cannot be built (said on stderr)."""
    config = stack_config_values(stack)
    dist = config.get(f"{NAMESPACE}:sparkDistDir")
    dist_dir = REPO_ROOT / dist if dist else REPO_ROOT / "dist" / "spark"
    try:
        spark_artifacts(dist_dir)
        return {}
    except ArtifactError as exc:
        print(f"warning: {exc}; planning with placeholder Spark artefacts", file=sys.stderr)
    for name in SPARK_FILES:
        (scratch / name).write_bytes(b"placeholder: the Spark job is not built\n")
    return {f"{NAMESPACE}:sparkDistDir": str(scratch)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--no-properties", action="store_true", help="only the tree of resources")
    args = parser.parse_args(argv)
    if not (REPO_ROOT / f"Pulumi.{args.stack}.yaml").is_file():
        stacks = sorted(p.name.split(".")[1] for p in REPO_ROOT.glob("Pulumi.*.yaml"))
        parser.error(f"no stack {args.stack!r}; stacks: {', '.join(stacks)}")
    with tempfile.TemporaryDirectory(prefix="cdi-plan-") as scratch:
        run = run_stack(args.stack, _spark_override(args.stack, Path(scratch)))
        sys.stdout.write(render(run, with_properties=not args.no_properties))
    violations = evaluate(run.resources)
    print(f"\nPolicy pack cdi-guardrails: {len(POLICIES)} mandatory rules, {len(violations)} violations")
    for violation in violations:
        print(f"    {violation}")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())

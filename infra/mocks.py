"""Run the Pulumi program offline under `pulumi.runtime.set_mocks` and record every resource.

Used by the offline plan (`python -m infra.plan`) and by `tests/infra`. The mocks answer like GCP
would for the properties the program reads back (service account e-mails, resource ids, the
Composer URI); inputs are recorded exactly as the engine (and so the policy pack) would see them:
camelCase property names, Outputs resolved.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

from infra.config import NAMESPACE, REPO_ROOT, SECRET_KEYS

PROJECT_NAME = "cdi"
PROJECT_NUMBER = "123456789012"
# Stand-ins for the stack secrets (`infra.config.SECRET_KEYS`), which only the stack's secrets
# provider can decrypt: the offline plan and tests run with these, marked secret like the real ones.
OFFLINE_SECRETS = {f"{NAMESPACE}:{key}": f"offline-placeholder-{key}" for key in SECRET_KEYS}

# What services.generateServiceIdentity answers, per API: the agent addresses Google documents
# (https://cloud.google.com/iam/docs/service-agents). Written here as the outside world's answer,
# not read from iam/bindings.yaml, so a wrong address there shows up in tests/infra.
SERVICE_IDENTITY_DOMAINS = {
    "artifactregistry.googleapis.com": "service-{n}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "composer.googleapis.com": "service-{n}@cloudcomposer-accounts.iam.gserviceaccount.com",
    "compute.googleapis.com": "service-{n}@compute-system.iam.gserviceaccount.com",
    "dataproc.googleapis.com": "service-{n}@dataproc-accounts.iam.gserviceaccount.com",
    "pubsub.googleapis.com": "service-{n}@gcp-sa-pubsub.iam.gserviceaccount.com",
    "secretmanager.googleapis.com": "service-{n}@gcp-sa-secretmanager.iam.gserviceaccount.com",
}
STORAGE_AGENT = "service-{n}@gs-project-accounts.iam.gserviceaccount.com"
BIGQUERY_AGENT = "bq-{n}@bigquery-encryption.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Recorded:
    """One resource registration as the engine receives it."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    parent: str
    custom: bool
    protect: bool
    dependencies: tuple[str, ...] = ()
    """URNs of `depends_on` and of the resources whose outputs the inputs use."""

    @property
    def labels(self) -> Mapping[str, Any]:
        # Monitoring resources keep their labels in `userLabels` (`labels` are channel settings).
        value = self.inputs.get("userLabels") or self.inputs.get("labels") or {}
        return value if isinstance(value, Mapping) else {}


@dataclass
class StackRun:
    """Everything one mocked run of the program declared."""

    stack: str
    config: Mapping[str, str]
    resources: list[Recorded] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == token]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def children(self, urn: str) -> list[Recorded]:
        return [r for r in self.resources if r.parent == urn]


def _short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


class GcpMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and data-source calls the way GCP would (offline)."""

    def __init__(self, project: str, region: str) -> None:
        self.project = project
        self.region = region

    def _outputs(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        p = inputs.get("project", self.project)
        out = dict(inputs)
        rid = f"{name}_id"
        if typ == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{p}.iam.gserviceaccount.com"
            rid = f"projects/{p}/serviceAccounts/{email}"
            out.update(email=email, name=rid, member=f"serviceAccount:{email}", uniqueId=_short(email))
        elif typ == "gcp:storage/bucket:Bucket":
            rid = inputs["name"]
            out.update(url=f"gs://{rid}", selfLink=f"https://www.googleapis.com/storage/v1/b/{rid}")
        elif typ == "gcp:compute/network:Network":
            rid = f"projects/{p}/global/networks/{inputs['name']}"
            out.update(selfLink=f"https://www.googleapis.com/compute/v1/{rid}")
        elif typ == "gcp:compute/subnetwork:Subnetwork":
            rid = f"projects/{p}/regions/{inputs['region']}/subnetworks/{inputs['name']}"
            out.update(selfLink=f"https://www.googleapis.com/compute/v1/{rid}")
        elif typ == "gcp:compute/router:Router":
            rid = f"projects/{p}/regions/{inputs['region']}/routers/{inputs['name']}"
        elif typ == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            rid = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{inputs['workloadIdentityPoolId']}"
            out.update(name=rid)
        elif typ == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            pool = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{inputs['workloadIdentityPoolId']}"
            rid = f"{pool}/providers/{inputs['workloadIdentityPoolProviderId']}"
            out.update(name=rid)
        elif typ == "gcp:kms/keyRing:KeyRing":
            rid = f"projects/{p}/locations/{inputs['location']}/keyRings/{inputs['name']}"
        elif typ == "gcp:kms/cryptoKey:CryptoKey":
            rid = f"{inputs['keyRing']}/cryptoKeys/{inputs['name']}"
        elif typ == "gcp:bigquery/dataset:Dataset":
            rid = f"projects/{p}/datasets/{inputs['datasetId']}"
        elif typ == "gcp:bigquery/table:Table":
            rid = f"projects/{p}/datasets/{inputs['datasetId']}/tables/{inputs['tableId']}"
        elif typ == "gcp:pubsub/topic:Topic":
            rid = f"projects/{p}/topics/{inputs['name']}"
        elif typ == "gcp:pubsub/subscription:Subscription":
            rid = f"projects/{p}/subscriptions/{inputs['name']}"
        elif typ == "gcp:composer/environment:Environment":
            rid = f"projects/{p}/locations/{inputs['region']}/environments/{inputs['name']}"
            bucket = inputs.get("storageConfig", {}).get(
                "bucket", f"{inputs['region']}-{inputs['name']}-bucket"
            )
            config = dict(inputs.get("config", {}))
            config.update(
                airflowUri=f"https://{_short(rid)}-dot-{inputs['region']}.composer.googleusercontent.com",
                dagGcsPrefix=f"gs://{bucket}/dags",
            )
            out.update(config=config)
        elif typ in (
            "gcp:monitoring/notificationChannel:NotificationChannel",
            "gcp:monitoring/alertPolicy:AlertPolicy",
        ):
            kind = "notificationChannels" if "notificationChannel" in typ else "alertPolicies"
            rid = f"projects/{p}/{kind}/{int(_short(name), 16) % 10**12}"
            out.update(name=rid)
        elif typ == "gcp:dataproc/cluster:Cluster":
            rid = f"projects/{p}/regions/{inputs['region']}/clusters/{inputs['name']}"
        elif typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            template = SERVICE_IDENTITY_DOMAINS.get(inputs["service"])
            if template is None:
                raise ValueError(f"the mock knows no service agent of {inputs['service']}")
            email = template.format(n=PROJECT_NUMBER)
            out.update(email=email, member=f"serviceAccount:{email}")
        elif typ == "gcp:secretmanager/secret:Secret":
            rid = f"projects/{p}/secrets/{inputs['secretId']}"
            out.update(name=f"projects/{PROJECT_NUMBER}/secrets/{inputs['secretId']}")
        elif typ == "gcp:secretmanager/secretVersion:SecretVersion":
            rid = f"{inputs['secret']}/versions/1"
            out.update(name=rid, version="1")
        elif typ == "gcp:storage/bucketObject:BucketObject":
            rid = f"{inputs['bucket']}-{inputs['name']}"
            out.update(mediaLink=f"https://storage.googleapis.com/{inputs['bucket']}/{inputs['name']}")
        return rid, out

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if not args.custom:
            return args.name, {}
        return self._outputs(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId", self.project)
            return {
                "projectId": project,
                "number": PROJECT_NUMBER,
                "name": project,
                "id": f"projects/{project}",
            }, []
        if args.token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            email = STORAGE_AGENT.format(n=PROJECT_NUMBER)
            return {"emailAddress": email, "member": f"serviceAccount:{email}", "id": email}, []
        if args.token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
            email = BIGQUERY_AGENT.format(n=PROJECT_NUMBER)
            return {"email": email, "member": f"serviceAccount:{email}", "id": email}, []
        raise NotImplementedError(f"no mock for data source {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also keeps each registration's parent, inputs and options."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[Recorded] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        inputs = rpc.deserialize_properties(request.object) if request.type != "pulumi:pulumi:Stack" else {}
        record = Recorded(
            urn=response.urn,
            type=request.type,
            name=request.name,
            inputs=_plain(inputs),
            parent=request.parent,
            custom=bool(request.custom),
            protect=bool(request.protect),
            dependencies=tuple(request.dependencies),
        )
        with self._lock:
            self.records.append(record)
        return response


@dataclass(frozen=True)
class SecretValue:
    """A secret input; printed masked."""

    value: Any

    def __str__(self) -> str:
        return "[secret]"


def _plain(value: Any) -> Any:
    """Deep-copy to dicts/lists; assets become `{"asset": kind, ...}` dicts, secrets `SecretValue`."""
    if isinstance(value, Mapping) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return SecretValue(_plain(value.get("value")))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.FileAsset):
        return {"asset": "file", "path": str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "string", "text": value.text}
    return value


def stack_file(stack: str) -> Path:
    return REPO_ROOT / f"Pulumi.{stack}.yaml"


def stack_config_values(stack: str) -> dict[str, str]:
    """`Pulumi.<stack>.yaml` as the engine hands it to the program: every value a string."""
    path = stack_file(stack)
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")).get("config", {})
    values: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and "secure" in value:
            continue  # encrypted values need the stack's secrets provider; tests pass their own
        if isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            values[key] = json.dumps(value)
        else:
            values[key] = str(value)
    return values


def _current_event_loop() -> None:
    """Pulumi's runtime creates its futures on the current event loop: give the thread a fresh one
    when it has none or only a closed one (`asyncio.run` elsewhere in the process leaves none)."""
    try:
        if not asyncio.get_event_loop().is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(
    stack: str,
    program: Callable[[], Mapping[str, Any]],
    config: Mapping[str, str],
    secret_keys: tuple[str, ...] = (),
) -> StackRun:
    """Run `program` (which declares resources and returns outputs) under fresh mocks."""
    _current_event_loop()
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    settings.ROOT.set(None)
    mocks = GcpMocks(
        project=config.get(f"{NAMESPACE}:project", "project"), region=config.get(f"{NAMESPACE}:region", "")
    )
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT_NAME, stack=stack, preview=False, monitor=monitor)
    run = StackRun(stack=stack, config=dict(config))

    @pulumi.runtime.test
    def _run() -> pulumi.Output[None]:
        outputs = program()
        return pulumi.Output.from_input(dict(outputs)).apply(run.outputs.update)

    _run()
    run.resources = list(monitor.records)
    return run


def run_stack(
    stack: str,
    overrides: Mapping[str, str] | None = None,
    secret_keys: tuple[str, ...] = (),
) -> StackRun:
    """The whole program of one stack (`infra.stack.build`) with its stack file's config."""
    from infra import config as infra_config
    from infra import stack as infra_stack

    config = {**OFFLINE_SECRETS, **stack_config_values(stack), **(overrides or {})}
    secret_keys = tuple(sorted({*secret_keys, *OFFLINE_SECRETS}))
    return run_program(stack, lambda: infra_stack.build(infra_config.load(stack)), config, secret_keys)

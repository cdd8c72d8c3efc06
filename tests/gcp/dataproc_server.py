"""A loopback stand-in for the Dataproc v1 BatchController gRPC service, and the test-side switch that
points the provider's batch clients at it.

The provider's `DataprocHook` always builds its clients for `<region>-dataproc.googleapis.com:443`
(no configuration reaches the endpoint), so the test replaces only the transport's channel
(`redirect_batch_clients`): the hook, the client, the request messages, the long-running operation
and the trigger's polling all run as in production, over real gRPC on 127.0.0.1.

The server answers CreateBatch, GetBatch, DeleteBatch and longrunning GetOperation. CreateBatch is
validated as Dataproc would: the batch id's form, a new id (ALREADY_EXISTS otherwise), and the batch
in its REST form against the discovery document. A batch then runs the job the way Dataproc
Serverless does, from what the request names: the main file and `--py-files` zip are downloaded
from the emulated GCS and run with `spark-submit` (local mode) and the batch's Spark properties; the
job's `--input` objects are downloaded and its `--output` folder uploaded back to the emulated GCS
(the stand-in has no GCS connector), every other argument is passed as sent. `fail_batches` makes
that many first batches end FAILED without running, as a Dataproc outage would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pyspark
from google.cloud import dataproc_v1
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2
from google.rpc import code_pb2, status_pb2

from pipeline.spark_session import class_archive_options

from .api_calls import COMPOSER, CallLog
from .discovery import validate_dataproc_batch

SERVICE = "google.cloud.dataproc.v1.BatchController"
_PARENT = re.compile(r"^projects/([^/]+)/(?:locations|regions)/([^/]+)$")
"""The documented parent is `projects/P/locations/L`; the provider's hook sends `.../regions/R`,
which the service accepts too."""
_BATCH_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$")
"""batches.create: "This value must be 4-63 characters. Valid characters are /[a-z][0-9]-/"."""
_TERMINAL = {
    dataproc_v1.Batch.State.SUCCEEDED,
    dataproc_v1.Batch.State.FAILED,
    dataproc_v1.Batch.State.CANCELLED,
}


def rest_batch(batch: dataproc_v1.Batch) -> dict[str, Any]:
    """The batch as its REST/JSON body (what the discovery document describes)."""
    text = dataproc_v1.Batch.to_json(
        batch, use_integers_for_enums=False, always_print_fields_with_no_presence=False
    )
    return json.loads(text)  # type: ignore[no-any-return]


@dataclass
class CreateCall:
    """One CreateBatch as received: its parent, batch id, REST body and what was wrong with it."""

    parent: str
    batch_id: str
    body: dict[str, Any]
    errors: list[str]


@dataclass
class Run:
    """What a batch did: its final state and message, and the driver's output."""

    batch_id: str
    state: str = "PENDING"
    message: str = ""
    log: str = ""
    uploaded: list[str] = field(default_factory=list)


class DataprocServer:
    """`with DataprocServer(storage, work_dir) as server:` ... `server.address` (host:port)."""

    def __init__(
        self,
        storage_client: Any,
        work_dir: Path,
        *,
        fail_batches: int = 0,
        local_conf: dict[str, str] | None = None,
        api_calls: CallLog | None = None,
    ) -> None:
        self.storage = storage_client
        self.api_calls = api_calls if api_calls is not None else CallLog()
        """The RPCs as the Composer environment (the DAG's process is this stand-in's only client),
        and the objects each batch read and wrote as the service account its request names."""
        self.work_dir = work_dir
        self.fail_batches = fail_batches
        self.local_conf = {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "4",
            **(local_conf or {}),
        }
        self.calls: list[str] = []
        """Every RPC received, by method name."""
        self.creates: list[CreateCall] = []
        self.errors: list[str] = []
        self.runs: dict[str, Run] = {}
        self._batches: dict[str, dataproc_v1.Batch] = {}
        self._operations: dict[str, str] = {}  # operation name -> batch name
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._drivers: list[subprocess.Popen[bytes]] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers([self._handlers()])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DataprocServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)
        for driver in self._drivers:  # a batch still running when the test ends
            if driver.poll() is None:
                driver.kill()
                driver.wait()
        for thread in self._threads:
            thread.join(timeout=60)

    def _handlers(self) -> grpc.GenericRpcHandler:
        def unary(
            fn: Callable[[Any, grpc.ServicerContext], Any], request: Any, response: Any
        ) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request.deserialize, response_serializer=response.serialize
            )

        def raw(fn: Callable[[Any, grpc.ServicerContext], Any], request: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn,
                request_deserializer=request.FromString,
                response_serializer=lambda m: m.SerializeToString(),
            )

        batches = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "CreateBatch": raw(self.create_batch, _ProtoPlus(dataproc_v1.CreateBatchRequest)),
                "GetBatch": unary(self.get_batch, dataproc_v1.GetBatchRequest, dataproc_v1.Batch),
                "DeleteBatch": raw(self.delete_batch, _ProtoPlus(dataproc_v1.DeleteBatchRequest)),
            },
        )
        operations = grpc.method_handlers_generic_handler(
            "google.longrunning.Operations",
            {"GetOperation": raw(self.get_operation, operations_pb2.GetOperationRequest)},
        )

        class Both(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
                return batches.service(details) or operations.service(details)

        return Both()

    # -- RPCs --

    def create_batch(self, request: dataproc_v1.CreateBatchRequest, context: grpc.ServicerContext) -> Any:
        self.calls.append("CreateBatch")
        body = rest_batch(request.batch)
        errors = [f"batch {e}" for e in validate_dataproc_batch(body)]
        parent = _PARENT.match(request.parent)
        if parent is None:
            errors.append(f"parent {request.parent!r} is not projects/P/locations/L")
        if not _BATCH_ID.match(request.batch_id):
            errors.append(f"batch_id {request.batch_id!r}: 4-63 characters of [a-z0-9-]")
        if request.request_id and not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", request.request_id):
            errors.append(f"request_id {request.request_id!r}")
        self.creates.append(CreateCall(request.parent, request.batch_id, body, errors))
        if parent is not None:
            self.api_calls.record("dataproc.batches.create", "project", (parent.group(1),), COMPOSER)
            # The batch runs as its service account: the caller acts as it.
            self.api_calls.record(
                "dataproc.batches.create[service-account]",
                "service_account",
                (_runs_as(request.batch),),
                COMPOSER,
            )
        if errors or parent is None:
            self.errors += errors
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        project, region = parent.group(1), parent.group(2)
        name = f"projects/{project}/locations/{region}/batches/{request.batch_id}"
        now = datetime.now(UTC)
        with self._lock:
            if name in self._batches:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"Batch {name} already exists")
            batch = dataproc_v1.Batch(request.batch)
            batch.name, batch.uuid = name, str(uuid.uuid4())
            batch.create_time = now
            batch.state, batch.state_time = dataproc_v1.Batch.State.PENDING, now
            operation = f"projects/{project}/regions/{region}/operations/{batch.uuid}"
            batch.operation = operation
            self._batches[name] = batch
            self._operations[operation] = name
            self.runs[request.batch_id] = Run(request.batch_id)
        metadata = dataproc_v1.BatchOperationMetadata(
            batch=name,
            batch_uuid=batch.uuid,
            create_time=now,
            operation_type=dataproc_v1.BatchOperationMetadata.BatchOperationType.BATCH,
            description="Batch",
        )
        packed = any_pb2.Any()
        packed.Pack(dataproc_v1.BatchOperationMetadata.pb(metadata))
        thread = threading.Thread(
            target=self._execute, args=(name,), name=f"batch-{request.batch_id}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return operations_pb2.Operation(name=operation, metadata=packed, done=False)

    def _batch(self, name: str, context: grpc.ServicerContext) -> dataproc_v1.Batch:
        with self._lock:
            batch = self._batches.get(name)
        if batch is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Not found: Batch {name}")
        return dataproc_v1.Batch(batch)

    def get_batch(
        self, request: dataproc_v1.GetBatchRequest, context: grpc.ServicerContext
    ) -> dataproc_v1.Batch:
        self.calls.append("GetBatch")
        self.api_calls.record("dataproc.batches.get", "batch", _name_path(request.name), COMPOSER)
        return self._batch(request.name, context)

    def delete_batch(self, request: dataproc_v1.DeleteBatchRequest, context: grpc.ServicerContext) -> Any:
        self.calls.append("DeleteBatch")
        self.api_calls.record("dataproc.batches.delete", "batch", _name_path(request.name), COMPOSER)
        batch = self._batch(request.name, context)
        if batch.state not in _TERMINAL:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Batch {request.name} is still running")
        with self._lock:
            del self._batches[request.name]
        return empty_pb2.Empty()

    def get_operation(
        self, request: operations_pb2.GetOperationRequest, context: grpc.ServicerContext
    ) -> Any:
        self.calls.append("GetOperation")
        self.api_calls.record("dataproc.operations.get", "operation", _name_path(request.name), COMPOSER)
        name = self._operations.get(request.name)
        if name is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Not found: Operation {request.name}")
        batch = self._batch(name, context)
        operation = operations_pb2.Operation(name=request.name, done=batch.state in _TERMINAL)
        if batch.state == dataproc_v1.Batch.State.SUCCEEDED:
            operation.response.Pack(dataproc_v1.Batch.pb(batch))
        elif batch.state in _TERMINAL:
            operation.error.CopyFrom(status_pb2.Status(code=code_pb2.INTERNAL, message=batch.state_message))
        return operation

    # -- running a batch --

    def _set_state(self, name: str, state: dataproc_v1.Batch.State, message: str = "") -> None:
        with self._lock:
            batch = self._batches[name]
            batch.state, batch.state_time, batch.state_message = state, datetime.now(UTC), message
            run = self.runs[name.rsplit("/", 1)[1]]
            run.state, run.message = dataproc_v1.Batch.State(state).name, message

    def _download(self, uri: str, root: Path, identity: str) -> Path:
        if not uri.startswith("gs://"):
            raise ValueError(f"not a gs:// URI: {uri}")
        bucket, _, name = uri[len("gs://") :].partition("/")
        self.api_calls.record("storage.objects.get", "object", (bucket, name), identity)
        target = root / bucket / name
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = self.storage.bucket(bucket).get_blob(name)
        if blob is None:
            raise FileNotFoundError(f"{uri} does not exist")
        blob.download_to_filename(str(target))
        return target

    def _upload(self, folder: Path, uri: str, identity: str) -> list[str]:
        """Upload what the job wrote, as the GCS connector leaves it (no Hadoop `.crc` side files)."""
        bucket, _, prefix = uri[len("gs://") :].partition("/")
        uploaded = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            name = f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}"
            self.api_calls.record("storage.objects.insert", "object", (bucket, name), identity)
            self.storage.bucket(bucket).blob(name).upload_from_filename(str(path))
            uploaded.append(f"gs://{bucket}/{name}")
        return uploaded

    def _execute(self, name: str) -> None:
        batch_id = name.rsplit("/", 1)[1]
        self._set_state(name, dataproc_v1.Batch.State.RUNNING)
        with self._lock:
            batch = dataproc_v1.Batch(self._batches[name])
            forced = self.fail_batches > 0
            self.fail_batches -= int(forced)
        if forced:
            self._set_state(
                name, dataproc_v1.Batch.State.FAILED, "Insufficient 'CPUS' quota (forced by the test)"
            )
            return
        run = self.runs[batch_id]
        try:
            state, message = self._spark_submit(batch, batch_id, run)
        except Exception as err:  # a missing object or a broken request: the batch fails, named
            state, message = dataproc_v1.Batch.State.FAILED, f"{type(err).__name__}: {err}"
        self._set_state(name, state, message)

    def _spark_submit(
        self, batch: dataproc_v1.Batch, batch_id: str, run: Run
    ) -> tuple[dataproc_v1.Batch.State, str]:
        work = self.work_dir / batch_id
        gcs = work / "gcs"
        job = batch.pyspark_batch
        runs_as = _runs_as(batch)  # what the batch reads and writes, it does as this account
        main = self._download(job.main_python_file_uri, gcs, runs_as)
        py_files = [str(self._download(uri, gcs, runs_as)) for uri in job.python_file_uris]
        args: list[str] = []
        output: tuple[Path, str] | None = None
        given = list(job.args)
        for index, arg in enumerate(given):
            previous = given[index - 1] if index else ""
            if previous == "--input":
                entity, _, uri = arg.partition("=")
                arg = f"{entity}={self._download(uri, gcs, runs_as)}"
            elif previous == "--output":
                output = (work / "output", arg)
                arg = str(output[0])
            args.append(arg)
        if output is None:
            raise ValueError("the job's arguments name no --output")
        conf = {**dict(batch.runtime_config.properties), **self.local_conf}
        # The batch's own driver options, plus the local JVM's class archive (`make setup`) so that
        # a batch's driver starts as fast as `cdi run`'s session (Dataproc's start-up is Google's).
        java_options = f"{conf.get('spark.driver.extraJavaOptions', '')} {class_archive_options()}".strip()
        if java_options:
            conf["spark.driver.extraJavaOptions"] = java_options
        spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
        command = [str(spark_submit), "--master", "local[2]", "--driver-memory", "1g"]
        for key, value in sorted(conf.items()):
            command += ["--conf", f"{key}={value}"]
        if py_files:
            command += ["--py-files", ",".join(py_files)]
        command += [str(main), *args]
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        log = work / "driver.log"
        with log.open("w") as out:
            driver = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
            self._drivers.append(driver)
            code = driver.wait(timeout=900)
        run.log = log.read_text()
        if code != 0:
            return (
                dataproc_v1.Batch.State.FAILED,
                f"driver exited with {code}: {run.log[-2000:]}",
            )
        run.uploaded = self._upload(*output, runs_as)
        return dataproc_v1.Batch.State.SUCCEEDED, ""


COMPUTE_DEFAULT = "compute-engine-default-service-account"
"""Who a batch runs as when its request names no service account (runtimes before 3.0; runtime 3.0
needs one: https://cloud.google.com/dataproc-serverless/docs/concepts/service-account)."""


def _runs_as(batch: dataproc_v1.Batch) -> str:
    """The identity a batch runs as: `environment_config.execution_config.service_account`."""
    return batch.environment_config.execution_config.service_account or COMPUTE_DEFAULT


def _name_path(name: str) -> tuple[str, ...]:
    """`projects/P/locations/L/batches/B` -> (P, L, B); operations likewise."""
    return tuple(name.split("/")[1::2])


class _ProtoPlus:
    """A proto-plus request class as the `FromString` gRPC's raw handlers call."""

    def __init__(self, message: Any) -> None:
        self.message = message

    def FromString(self, data: bytes) -> Any:  # noqa: N802 (protobuf's name)
        return self.message.deserialize(data)


def redirect_batch_clients(address: str) -> list[str]:
    """In the Airflow process: open the Dataproc batch clients' channels (sync, and asyncio for the
    trigger) to `address` instead of the host the client computed. Returns the hosts asked for."""
    import grpc.aio
    from google.cloud.dataproc_v1.services.batch_controller.transports import grpc as sync_transport
    from google.cloud.dataproc_v1.services.batch_controller.transports import grpc_asyncio

    asked: list[str] = []

    def sync_channel(cls: type, host: str, **kwargs: Any) -> grpc.Channel:
        asked.append(host)
        return grpc.insecure_channel(address)

    def async_channel(cls: type, host: str, **kwargs: Any) -> grpc.aio.Channel:
        asked.append(host)
        return grpc.aio.insecure_channel(address)

    sync_transport.BatchControllerGrpcTransport.create_channel = classmethod(sync_channel)  # type: ignore[method-assign, assignment]
    grpc_asyncio.BatchControllerGrpcAsyncIOTransport.create_channel = classmethod(async_channel)  # type: ignore[method-assign, assignment]
    return asked

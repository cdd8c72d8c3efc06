"""The Dataproc Serverless batch that runs the packaged PySpark job (`spark/job.py`) on GCP.

The batch body is the `google.cloud.dataproc_v1.Batch` message as a dict (proto field names), the
form `DataprocCreateBatchOperator` sends; `tests/gcp` converts it to the REST form and validates it
against Google's discovery document.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pipeline import names
from pipeline.config import Settings
from spark.runtime import DATAPROC_RUNTIME_VERSION, JVM_OPTIONS

# The runtime pin and its Spark/Python pairing are written down once, in versions.toml (read through
# spark/runtime.py; both deployed beside the DAG so Composer can import them).
RUNTIME_VERSION = DATAPROC_RUNTIME_VERSION

# Spark settings of every batch: the job computes in UTC like BigQuery and DuckDB.
SPARK_PROPERTIES = {
    "spark.sql.session.timeZone": "UTC",
    "spark.dynamicAllocation.maxExecutors": "10",
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
    "spark.executor.extraJavaOptions": JVM_OPTIONS,
}

# Runtime 3.0 batches run with the submitter's end-user credentials unless told otherwise
# (AuthenticationConfig: "If AuthenticationType is unspecified then END_USER_CREDENTIALS is used for
# 3.0 and newer runtimes", https://cloud.google.com/dataproc-serverless/docs/concepts/service-account).
# The job reads and writes Cloud Storage as the batch service account, which holds those roles.
USER_WORKLOAD_AUTHENTICATION = "SERVICE_ACCOUNT"

BATCH_TTL_SECONDS = 2 * 60 * 60
"""Dataproc ends a batch that runs longer than this, whatever happens to Airflow."""

_BATCH_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$")
_NOT_ID = re.compile(r"[^a-z0-9]+")


def batch_id(run_id: str, try_number: int, prefix: str = "clean") -> str:
    """A Dataproc batch id for one try of one run: 4-63 of [a-z0-9-], unique per run and try.

    Readable part from the run id (its timestamp), plus a short hash of the whole run id so two runs
    with the same timestamp (a scheduled and an asset-triggered run) never collide, plus the try
    number so a retry never hits ALREADY_EXISTS.
    """
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    tail = f"-{digest}-t{try_number}"
    readable = _NOT_ID.sub("-", run_id.lower()).strip("-")
    room = 63 - len(prefix) - 1 - len(tail)
    readable = readable[-room:].strip("-") if room > 0 else ""
    value = f"{prefix}-{readable}{tail}" if readable else f"{prefix}{tail}"
    if not _BATCH_ID.match(value):
        raise ValueError(f"invalid Dataproc batch id {value!r}")
    return value


def output_uri(settings: Settings, run_key: str, batch: str) -> str:
    """Where one batch writes (per try: a retry never shares an output with a zombie attempt)."""
    return f"gs://{settings.staging_bucket}/runs/{run_key}/{batch}"


def spark_args(
    run_id: str,
    inputs: Sequence[Mapping[str, Any]],
    output: str,
    *,
    logical_end: datetime,
    settings: Settings,
) -> list[str]:
    """The job's command line (`spark/job.py` argparse): the same `JobConfig` the local target builds."""
    args = ["--run-id", run_id]
    for item in inputs:
        args += ["--input", f"{item['entity']}={item['archive_path']}"]
    for item in inputs:
        args += ["--source-file", str(item["source_file"])]
    if all("settings" in item for item in inputs):  # resolved from sources.yaml by claim_files
        for item in inputs:
            args += ["--settings", str(item["settings"])]
    return [
        *args,
        "--output",
        output,
        "--logical-end",
        logical_end.isoformat(),
        "--source-tz",
        settings.source_tz,
        "--default-currency",
        settings.default_currency,
        "--csv-delimiter",
        settings.csv_delimiter,
    ]


def batch(settings: Settings) -> dict[str, Any]:
    """The batch body without its per-run arguments (added when the task renders)."""
    artifacts = f"gs://{settings.artifacts_bucket}"
    execution: dict[str, Any] = {
        "service_account": settings.dataproc_service_account,
        "subnetwork_uri": settings.dataproc_subnet,
        "authentication_config": {"user_workload_authentication_type": USER_WORKLOAD_AUTHENTICATION},
        "ttl": {"seconds": BATCH_TTL_SECONDS},
    }
    if settings.dataproc_kms_key:  # CMEK stacks (ExecutionConfig.kms_key)
        execution["kms_key"] = settings.dataproc_kms_key
    if settings.staging_bucket:
        execution["staging_bucket"] = settings.staging_bucket
    return {
        "pyspark_batch": {
            "main_python_file_uri": f"{artifacts}/{names.JOB_MAIN}",
            "python_file_uris": [f"{artifacts}/{names.JOB_ZIP}"],
            "args": [],
        },
        "runtime_config": {"version": RUNTIME_VERSION, "properties": dict(SPARK_PROPERTIES)},
        "environment_config": {"execution_config": execution},
        "labels": {"pipeline": "customer-analytics", "step": "clean-raw"},
    }

"""Every request the gcp target sends, rendered for a sample run and validated against Google's own
API discovery documents (field names, enum values, types), with the SQL of each job equal to (or,
inside a script, containing verbatim) the file under sql/."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
import sqlglot
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from google.cloud import dataproc_v1

from pipeline import plan
from pipeline.config import Settings
from pipeline.gcp import bigquery, dataproc
from spark.sources import SourceSettings
from sql import catalog

from .conftest import AFFECTED_DAYS, CLAIMS, GCP_ENV, RUN_AFTER, RUN_ID, render, sample_context
from .discovery import (
    document,
    parameter_type_errors,
    validate_bigquery_job,
    validate_dataproc_batch,
)

PROJECT = GCP_ENV["CDI_PROJECT"]


def job_body(configuration: dict[str, Any]) -> dict[str, Any]:
    """What BigQueryHook.insert_job sends to jobs.insert."""
    return {
        "configuration": configuration,
        "jobReference": {"jobId": "airflow_customer_analytics_x", "projectId": PROJECT, "location": "EU"},
    }


def assert_valid_job(configuration: dict[str, Any]) -> None:
    errors = validate_bigquery_job(job_body(configuration))
    query = configuration.get("query")
    if query:
        errors += parameter_type_errors(query.get("queryParameters", []))
        # The text parses as GoogleSQL (a script statement by statement).
        sqlglot.parse(query["query"], read="bigquery")
    assert not errors, "\n".join(errors)


def file_statement(relative: str) -> str:
    return bigquery.statement(catalog.read_sql(relative))


# --- Dataproc --------------------------------------------------------------------------------------


def rest_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """The operator's proto-field dict as the REST body (the proto message accepts it, or this raises)."""
    message = dataproc_v1.Batch(batch)
    text = dataproc_v1.Batch.to_json(
        message, use_integers_for_enums=False, always_print_fields_with_no_presence=False
    )
    return json.loads(text)  # type: ignore[no-any-return]


def test_dataproc_batch_is_valid_and_pinned(gcp_dag: Any) -> None:
    task = render(gcp_dag, "clean_raw")
    body = rest_batch(task.batch)
    errors = validate_dataproc_batch(body)
    assert not errors, "\n".join(errors)
    settings = Settings.from_env()
    assert body["runtimeConfig"]["version"] == dataproc.RUNTIME_VERSION
    execution = body["environmentConfig"]["executionConfig"]
    assert execution["serviceAccount"] == settings.dataproc_service_account
    assert execution["subnetworkUri"] == settings.dataproc_subnet
    # Runtime 3.0 defaults to end-user credentials; the batch runs as its service account.
    assert execution["authenticationConfig"] == {"userWorkloadAuthenticationType": "SERVICE_ACCOUNT"}
    assert "kmsKey" not in execution  # no CMEK key in this environment
    assert body["pysparkBatch"]["mainPythonFileUri"] == f"gs://{settings.artifacts_bucket}/spark/job.py"
    assert body["pysparkBatch"]["pythonFileUris"] == [f"gs://{settings.artifacts_bucket}/spark/cdi_spark.zip"]
    args = body["pysparkBatch"]["args"]
    assert args[:2] == ["--run-id", RUN_ID]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--input"] == [
        f"{c['entity']}={c['archive_path']}" for c in CLAIMS
    ]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--source-file"] == [
        c["source_file"] for c in CLAIMS
    ]
    assert args[args.index("--output") + 1] == task.output_uri
    assert args[args.index("--logical-end") + 1] == RUN_AFTER.isoformat()
    assert task.output_uri.startswith(f"gs://{settings.staging_bucket}/runs/")
    assert task.batch_id in task.output_uri
    assert task.deferrable is True
    assert task.region == settings.region
    assert task.project_id == settings.project


def test_a_cmek_environment_encrypts_its_batches() -> None:
    """With `CDI_DATAPROC_KMS_KEY` set (CMEK stacks), the body carries ExecutionConfig.kms_key and
    still validates against the discovery document."""
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    settings = Settings(
        target="gcp",
        artifacts_bucket="a",
        dataproc_service_account="sa@p.iam.gserviceaccount.com",
        dataproc_subnet="projects/p/regions/europe-west1/subnetworks/s",
        dataproc_kms_key=key,
    )
    body = rest_batch(dataproc.batch(settings))
    assert not validate_dataproc_batch(body)
    assert body["environmentConfig"]["executionConfig"]["kmsKey"] == key


def test_the_spark_job_accepts_the_rendered_command_line(gcp_dag: Any) -> None:
    """The batch's args parse with the job's own argparse into the JobConfig the local target builds."""
    from spark import job

    task = render(gcp_dag, "clean_raw")
    config = job.parse_args(task.batch["pyspark_batch"]["args"])
    settings = Settings.from_env()
    assert config.run_id == RUN_ID
    assert config.output == task.output_uri
    assert config.logical_end == RUN_AFTER
    assert [(i.entity, i.uri, i.source_file, i.settings) for i in config.inputs] == [
        (c["entity"], c["archive_path"], c["source_file"], SourceSettings.from_json(c["settings"]))
        for c in CLAIMS
    ]
    assert (config.source_tz, config.default_currency, config.csv_delimiter) == (
        settings.source_tz,
        settings.default_currency,
        settings.csv_delimiter,
    )


def test_batch_id_is_valid_and_new_on_each_try(gcp_dag: Any) -> None:
    doc = document("dataproc.v1")
    create = doc["resources"]["projects"]["resources"]["locations"]["resources"]["batches"]["methods"][
        "create"
    ]
    assert "4-63 characters" in create["parameters"]["batchId"]["description"]
    ids = [render(gcp_dag, "clean_raw", try_number=n).batch_id for n in (1, 2, 3)]
    assert len(set(ids)) == 3, ids
    assert ids == [render(gcp_dag, "clean_raw", try_number=n).batch_id for n in (1, 2, 3)]  # stable per try
    for value in ids:
        assert re.fullmatch(r"[a-z0-9-]{4,63}", value), value
        assert value.startswith("clean-")


@pytest.mark.parametrize(
    "run_id",
    [
        "manual__2025-01-30T10:11:12.123456+00:00",
        "asset_triggered__2025-01-30T10:11:12.123456+00:00_Xy7q0Ab1",
        "scheduled__2025-01-30T02:00:00+00:00",
        "a-very-long-custom-run-id-" + "x" * 200,
        "Ä",
    ],
)
def test_batch_id_for_any_run_id(run_id: str) -> None:
    for try_number in (1, 12):
        value = dataproc.batch_id(run_id, try_number)
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{2,61}[a-z0-9]", value), value
    assert dataproc.batch_id(run_id, 1) != dataproc.batch_id(run_id + "x", 1)


def test_no_claimed_files_means_no_batch(gcp_dag: Any) -> None:
    task = render(gcp_dag, "clean_raw", xcoms={"claim_files": {"files": []}})
    context = sample_context(gcp_dag, task, xcoms={"claim_files": {"files": []}})
    assert task.execute(context)["files"] == 0  # returns before any client is created


# --- BigQuery: gold ----------------------------------------------------------------------------------


@pytest.mark.parametrize("step", plan.GOLD_STEPS, ids=lambda s: s.task_id)
def test_gold_job_is_valid_and_runs_the_file(gcp_dag: Any, step: plan.GoldStep) -> None:
    task = render(gcp_dag, step.task_id)
    configuration = task.configuration
    assert_valid_job(configuration)
    query = configuration["query"]
    text = catalog.read_sql(step.sql)
    params = {p["name"]: p for p in query["queryParameters"]}
    assert set(params) == bigquery.used_parameters(query["query"])
    if "days" in params:
        assert [v["value"] for v in params["days"]["parameterValue"]["arrayValues"]] == AFFECTED_DAYS
        assert params["days"]["parameterType"] == {"type": "ARRAY", "arrayType": {"type": "DATE"}}
    if "run_date" in params:
        assert params["run_date"]["parameterValue"]["value"] == "2025-01-30"
    if "reporting_tz" in params:
        assert params["reporting_tz"]["parameterValue"]["value"] == "Europe/Paris"
    table = catalog.table(step.table)
    if step.mode == "table":
        assert query["query"] == text.removesuffix("\n")  # the file itself (Jinja drops the final newline)
        assert query["destinationTable"] == {"projectId": PROJECT, "datasetId": "gold", "tableId": table.name}
        assert query["writeDisposition"] == "WRITE_TRUNCATE_DATA"
        assert query["createDisposition"] == "CREATE_NEVER"
    elif step.mode == "merge":
        assert query["query"] == text.removesuffix("\n")  # the MERGE file itself, run as DML
        assert f"merge {step.table} as" in text.lower()
        assert "destinationTable" not in query  # DML: the target is in the statement
    else:
        assert bigquery.statement(text) in query["query"]
        assert query["query"].startswith(f"MERGE {step.table} AS target")
        assert f"target.{table.partition_field} IN UNNEST(@days) THEN DELETE" in query["query"]
        assert "destinationTable" not in query  # DML: the target is in the statement
    assert task.deferrable is True
    assert task.location == "EU"


def test_gold_without_affected_days_binds_an_empty_date_array(gcp_dag: Any) -> None:
    xcoms = {"load_silver": {"affected_days": []}, "clean_raw": {"transactions_valid": 0}}
    task = render(gcp_dag, "gold_aov_daily", xcoms=xcoms)
    days = next(p for p in task.configuration["query"]["queryParameters"] if p["name"] == "days")
    assert days == {
        "name": "days",
        "parameterType": {"type": "ARRAY", "arrayType": {"type": "DATE"}},
        "parameterValue": {"arrayValues": []},
    }
    assert_valid_job(task.configuration)


# --- BigQuery: silver and checks -------------------------------------------------------------------


def planned_jobs(
    gcp_dag: Any,
    task_id: str,
    monkeypatch: pytest.MonkeyPatch,
    listed: list[str],
    results: dict[str, list[dict[str, Any]]] | None = None,
    xcoms: dict[str, Any] | None = None,
) -> list[Any]:
    """The jobs a BigQueryJobsOperator plans, given the results of the jobs before (`results`)."""
    # Listing the batch output is the one GCS call; answer it here (no credentials, no network).
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "google_cloud_platform"})
    )
    monkeypatch.setattr(GCSHook, "list", lambda self, bucket_name, prefix, match_glob=None: listed)
    task = render(gcp_dag, task_id, **({"xcoms": xcoms} if xcoms is not None else {}))
    context = sample_context(gcp_dag, task, **({"xcoms": xcoms} if xcoms is not None else {}))
    return task.jobs(context, results or {})  # type: ignore[no-any-return]


def query_of(configuration: dict[str, Any]) -> str:
    return str(configuration["query"]["query"])


def parameter(configuration: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in configuration["query"]["queryParameters"] if p["name"] == name)


def test_load_silver_jobs(gcp_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = "runs/x/clean-1/"
    listed = [
        f"{prefix}silver/transactions/part-0000.parquet",
        f"{prefix}silver/customers/part-0000.parquet",
        f"{prefix}quarantine/part-0000.parquet",
        f"{prefix}file_stats/part-0000.parquet",
    ]
    affected = {"affected_days": [{"day": d} for d in AFFECTED_DAYS]}
    jobs = planned_jobs(gcp_dag, "load_silver", monkeypatch, listed, affected)
    by_name = {j.name: j.configuration for j in jobs}
    assert list(by_name) == [
        "silver.transactions_staging",
        "silver.transactions_staging:json",
        "silver.customers_staging",
        "silver.customers_staging:json",
        "silver.agents_staging",
        "silver.fx_rates_staging",
        "audit.quarantine_staging",
        "audit.file_stats_staging",
        "affected_days",
        "silver",
    ]
    for configuration in by_name.values():
        assert_valid_job(configuration)
    load = by_name["silver.transactions_staging"]["load"]
    assert load["sourceUris"] == ["gs://cdi-test-staging/runs/x/clean-1/silver/transactions/*.parquet"]
    # A load job fills no JSON column from Parquet: `extra` lands as STRING in the `_load` table,
    # then the parse file makes the staging table from it.
    schema = catalog.table("silver.transactions").schema_json()
    assert [f for f in schema if f["type"] == "JSON"] == [f for f in schema if f["name"] == "extra"]
    assert load["schema"]["fields"] == [
        {**f, "type": "STRING"} if f["name"] == "extra" else f for f in schema
    ]
    assert load["destinationTable"] == {
        "projectId": PROJECT,
        "datasetId": "silver",
        "tableId": "transactions_load",
    }
    parse = by_name["silver.transactions_staging:json"]["query"]
    assert parse["query"] == catalog.read_sql("staging/silver_transactions_parse_json.sql")
    assert "destinationTable" not in parse
    assert load["writeDisposition"] == "WRITE_TRUNCATE"
    assert load["sourceFormat"] == "PARQUET"
    # No JSON column: the load writes the staging table itself.
    assert by_name["audit.quarantine_staging"]["load"]["destinationTable"]["tableId"] == "quarantine_staging"
    # No agents in this run's files: an empty staging table, so the MERGE is a no-op.
    assert query_of(by_name["silver.agents_staging"]) == catalog.read_sql("staging/silver_agents_empty.sql")
    assert query_of(by_name["affected_days"]) == catalog.read_sql("silver/affected_days.sql")
    # The script: exactly the files of the local load, in its order, and the pending days.
    files = [
        plan.BEGIN_SQL,
        *plan.SILVER_AUDIT_FILES,
        *plan.SILVER_MERGE_FILES,
        plan.COMMIT_SQL,
        plan.PENDING_DAYS_SQL,
    ]
    assert query_of(by_name["silver"]) == "".join(f"{file_statement(f)};\n" for f in files)
    # Bound to the days the job before read, with their bounds: what the local load binds.
    days = parameter(by_name["silver"], "days")["parameterValue"]["arrayValues"]
    assert [d["value"] for d in days] == sorted(AFFECTED_DAYS)
    assert parameter(by_name["silver"], "first_day")["parameterValue"]["value"] == min(AFFECTED_DAYS)
    assert parameter(by_name["silver"], "last_day")["parameterValue"]["value"] == max(AFFECTED_DAYS)
    assert parameter(by_name["silver"], "run_id")["parameterValue"]["value"] == RUN_ID


def test_staging_files_cover_every_staged_table_and_its_json_columns() -> None:
    """Each staged table has its empty staging file, and a table with JSON columns a parse file
    that parses exactly those columns (from the `_load` table the Parquet load writes)."""
    for qualified in plan.STAGED_TABLES:
        empty = sqlglot.parse_one(catalog.read_sql(bigquery.empty_staging_file(qualified)), read="bigquery")
        assert empty.this.sql("bigquery") == bigquery.staging_table(qualified)
        parse = bigquery.parse_json_file(qualified)
        if parse is None:
            assert not bigquery.json_columns(qualified)
            continue
        tree = sqlglot.parse_one(catalog.read_sql(parse), read="bigquery")
        assert tree.this.sql("bigquery") == bigquery.staging_table(qualified)
        parsed = {f.this.name for f in tree.find_all(sqlglot.exp.ParseJSON)}
        assert parsed == set(bigquery.json_columns(qualified)), parse
        assert {t.sql("bigquery") for t in tree.expression.find_all(sqlglot.exp.Table)} == {
            bigquery.load_table(qualified)
        }


def test_empty_partitioned_staging_satisfies_the_partition_filter() -> None:
    text = catalog.read_sql(bigquery.empty_staging_file("silver.transactions"))
    assert "where transaction_ts < timestamp '0001-01-01 00:00:00+00'" in text


def test_load_silver_without_files_only_reads_the_pending_days(gcp_dag: Any) -> None:
    task = render(gcp_dag, "load_silver", xcoms={"clean_raw": {"files": 0}})
    jobs = task.jobs(sample_context(gcp_dag, task, xcoms={"clean_raw": {"files": 0}}), {})
    assert [j.name for j in jobs] == ["silver"]
    assert_valid_job(jobs[0].configuration)
    assert query_of(jobs[0].configuration) == catalog.read_sql(plan.PENDING_DAYS_SQL)


@pytest.mark.parametrize(("task_id", "stage"), [("dq_checks", "silver"), ("reconcile", "gold")])
def test_check_jobs(gcp_dag: Any, monkeypatch: pytest.MonkeyPatch, task_id: str, stage: str) -> None:
    """Each check file is its own job; then dq/results_merge.sql records what they returned."""
    checks = plan.checks(stage)
    assert checks, f"no {stage} checks under sql/checks"
    results = {c.name: [{"failures": i, "detail": None if i == 0 else f"d{i}"}] for i, c in enumerate(checks)}
    jobs = planned_jobs(gcp_dag, task_id, monkeypatch, [], results)
    assert [j.name for j in jobs] == [*(c.name for c in checks), "recorded"]
    for job, check in zip(jobs, checks, strict=False):
        assert job.fetch
        assert_valid_job(job.configuration)
        assert query_of(job.configuration) == catalog.read_sql(check.sql)
    record = jobs[-1].configuration
    assert_valid_job(record)
    assert query_of(record) == catalog.read_sql(plan.CHECK_RESULTS_SQL)

    def values(name: str) -> list[str]:
        return [v["value"] for v in parameter(record, name)["parameterValue"]["arrayValues"]]

    assert values("check_names") == [c.name for c in checks]
    assert values("severities") == [c.severity for c in checks]
    assert values("failures") == [str(i) for i in range(len(checks))]
    assert values("details") == ["" if i == 0 else f"d{i}" for i in range(len(checks))]


def test_report_jobs_are_valid() -> None:
    figures = {"run_id": RUN_ID, "logical_date": date.fromisoformat(AFFECTED_DAYS[-1])}
    assert_valid_job(bigquery.file_job(plan.REPORT_FIGURES_SQL, figures))
    values = {
        "run_id": RUN_ID,
        "logical_date": AFFECTED_DAYS[0],
        "target": "gcp",
        "files": 2,
        "rows_read": 10,
        "rows_valid": 9,
        "rows_quarantined": 1,
        "affected_days": "[]",
        "step_seconds": "{}",
        "outcome": "success",
    }
    assert_valid_job(bigquery.file_job(plan.PIPELINE_RUN_SQL, values))


def test_parameters_are_read_outside_comments_and_strings() -> None:
    text = "-- uses @nothing\nselect '@not_a_param', @run_id /* @no */ from t where d in unnest(@days) # @x"
    assert bigquery.used_parameters(text) == {"run_id", "days"}
    with pytest.raises(KeyError, match="@days"):
        bigquery.query_parameters(text, {"run_id": "r"})

"""Thin subclasses of the Google provider's operators for the steps of `customer_analytics`.

They add only what the provider's operators cannot know: which files the run claimed, which days it
touched and the run's query parameters. Each finishes the templated body in `render_template_fields`,
so what Airflow shows as the rendered field is exactly the request sent (and what tests/gcp validates).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator
from airflow.providers.google.cloud.triggers.bigquery import BigQueryInsertJobTrigger
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pipeline import plan
from pipeline.config import Settings
from pipeline.gcp import bigquery, dataproc, storage
from pipeline.runs import window


def run_values(context: Context, settings: Settings) -> dict[str, Any]:
    """The named query parameters of the run (`plan.query_parameters`), as the local target binds them."""
    run = window(context)
    ti = context["ti"]
    silver = ti.xcom_pull(task_ids="load_silver") or {}
    clean = ti.xcom_pull(task_ids="clean_raw") or {}
    return plan.query_parameters(
        run_id=run.run_id,
        days=[date.fromisoformat(d) for d in silver.get("affected_days", [])],
        run_date=run.run_date,
        reporting_tz=settings.reporting_tz,
        rows_valid=int(clean.get("transactions_valid", 0)),
        reporting_currency=settings.reporting_currency,
        fx_max_gap_days=settings.fx_max_gap_days,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- Dataproc --------------------------------------------------------------------------------------


class CleanBatchOperator(DataprocCreateBatchOperator):
    """The PySpark cleaning job as a Dataproc Serverless batch over the files the run claimed.

    The batch id comes from the run id and the try number (a retry never collides with
    ALREADY_EXISTS) and each try writes under its own output prefix. With no claimed files no batch
    is created. Returns the same summary as the local `clean_raw` (files, valid rows, job metrics).
    """

    def __init__(self, *, settings: Settings, **kwargs: Any) -> None:
        if settings.project:
            kwargs.setdefault("project_id", settings.project)
        super().__init__(
            region=settings.region,
            batch=dataproc.batch(settings),
            deferrable=True,
            polling_interval_seconds=30,
            **kwargs,
        )
        self.settings = settings
        self.claims: list[dict[str, Any]] = []
        self.output_uri = ""

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        run = window(context)
        self.claims = list((context["ti"].xcom_pull(task_ids="claim_files") or {}).get("files", []))
        self.batch_id = dataproc.batch_id(run.run_id, context["ti"].try_number)
        self.output_uri = dataproc.output_uri(self.settings, run.key, self.batch_id)
        self.batch["pyspark_batch"]["args"] = dataproc.spark_args(
            run.run_id, self.claims, self.output_uri, logical_end=run.logical_end, settings=self.settings
        )

    def _summary(self) -> dict[str, Any]:
        bucket, name = storage.split_uri(f"{self.output_uri}/metrics.json")
        hook = GCSHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        metrics = json.loads(hook.download(bucket_name=bucket, object_name=name))
        valid = metrics.get("entities", {}).get("transactions", {}).get("rows_valid", 0)
        return {
            "output": self.output_uri,
            "batch_id": self.batch_id,
            "files": len(self.claims),
            "transactions_valid": int(valid),
            "metrics": metrics,
        }

    def execute(self, context: Context) -> dict[str, Any]:
        if not self.claims:
            self.log.info("no new files: no batch")
            return {"output": self.output_uri, "files": 0, "transactions_valid": 0, "metrics": {}}
        super().execute(context)  # defers until the batch ends
        return self._summary()

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:  # type: ignore[override]
        super().execute_complete(context, event)  # raises unless the batch SUCCEEDED
        return self._summary()


# --- BigQuery --------------------------------------------------------------------------------------

# Job ids and label values BigQuery accepts (REST `JobReference.jobId`; "Requirements for labels").
_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


class GoldQueryOperator(BigQueryInsertJobOperator):
    """One gold SQL file as one query job, with the run's dates bound as query parameters.

    `partitions` steps: a MERGE replacing the affected day partitions; `table` steps: the file into
    the table with WRITE_TRUNCATE_DATA (see `pipeline.gcp.bigquery`).
    """

    def __init__(self, *, step: plan.GoldStep, settings: Settings, **kwargs: Any) -> None:
        if settings.project:
            kwargs.setdefault("project_id", settings.project)
        super().__init__(
            configuration=bigquery.gold_configuration(step, settings.project),
            location=settings.bq_location,
            deferrable=True,
            **kwargs,
        )
        self.step = step
        self.settings = settings

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        from pipeline.gcp import restate  # imports this module

        super().render_template_fields(context, jinja_env)
        restate.finalize_gold(self.step, self.configuration, context, self.settings)

    def execute(self, context: Context) -> Any:
        from pipeline.gcp import restate

        clean = context["ti"].xcom_pull(task_ids="clean_raw") or {}
        days = restate.gold_values(self.step, context, self.settings)["days"]  # with restated days
        if plan.nothing_new(int(clean.get("files", 0)), days):
            self.log.info("%s: nothing new, nothing rebuilt", self.step.table)
            return {"rows": 0, "skipped": "nothing new"}
        return super().execute(context)


@dataclass(frozen=True)
class Job:
    """One BigQuery job of a multi-job step: its name (key of its result) and REST configuration."""

    name: str
    configuration: dict[str, Any]
    fetch: bool = False
    """Keep the rows of its (last) statement as the job's result."""


class BigQueryJobsOperator(BigQueryInsertJobOperator):
    """A short, fixed sequence of BigQuery jobs run in order, deferring while each one runs.

    Subclasses plan the jobs from the run and the results so far (`jobs`) and turn the results into
    the task's return value (`finish`). The plan is recomputed before each job, so a job may take its
    parameters from the results of the jobs before it, and only the position and the results so far
    travel through the trigger.

    It reaches only the provider's public API (read in the installed provider, 22.8.0): the operator's
    constructor arguments, `BigQueryHook.insert_job(..., nowait=True)` / `get_job` / `cancel_job`,
    `BigQueryInsertJobTrigger` and `BaseOperator.defer`; a job's outcome is read from the
    google-cloud-bigquery job (`state`, `error_result`, `errors`, `result()`). Nothing of the
    provider operator's own submit/reattach machinery (`submit_job`, `_job`, `_handle_job_error`) is
    used, so a provider upgrade that changes it cannot change this path. It stays a
    `BigQueryInsertJobOperator` for its arguments, templating and `on_kill` (which cancels `job_id`).
    Each submission gets a fresh job id (the provider's `force_rerun=True` default does the same): a
    retry re-runs the step, whose SQL is idempotent.
    """

    def __init__(self, *, settings: Settings, **kwargs: Any) -> None:
        if settings.project:
            kwargs.setdefault("project_id", settings.project)
        super().__init__(configuration={}, location=settings.bq_location, deferrable=True, **kwargs)
        self.settings = settings

    def jobs(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> list[Job]:
        """The jobs, in order; the job at a position may depend on the results of those before it
        (`results`: by job name), which are all there when it is submitted."""
        raise NotImplementedError

    def finish(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> Any:
        raise NotImplementedError

    def _hook(self) -> BigQueryHook:
        if self.hook is None:
            self.hook = BigQueryHook(
                gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain
            )
        return self.hook

    def _project(self) -> str:
        return str(self.project_id or self._hook().project_id)

    def _location(self) -> str | None:
        return self.location or self._hook().location

    def _job_id(self, context: Context, index: int) -> str:
        """`<dag>_<task>_<run>_<try>_<index>_<random>`: readable in the console, unique per submission
        (ids: letters, digits, `_` and `-`, at most 1,024 characters; REST `JobReference`)."""
        run = window(context)
        parts = (self.dag_id, self.task_id, run.key, f"try{context['ti'].try_number}", f"job{index}")
        readable = _JOB_ID_UNSAFE.sub("_", "_".join(parts))[:900]
        return f"{readable}_{uuid.uuid4().hex[:12]}"

    def _labels(self) -> dict[str, str]:
        """The dag and task as job labels, where they are valid label values."""
        labels = {"airflow-dag": self.dag_id.lower(), "airflow-task": self.task_id.lower().replace(".", "-")}
        return {k: v for k, v in labels.items() if _LABEL_VALUE.match(v)}

    def _raise_on_error(self, job: Any) -> None:
        """Fail the task on a job that ended with an error: a DONE job failed when its `errorResult`
        is set; `errors` need not mean failure
        (https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobStatus)."""
        for error in job.errors or []:
            self.log.error("BigQuery job %s error: %s", job.job_id, error)
        if job.error_result:
            raise AirflowException(f"BigQuery job {job.job_id} failed: {job.error_result}")
        if job.state != "DONE":
            raise AirflowException(f"BigQuery job {job.job_id} ended in state {job.state}")

    def _result(self, spec: Job, job: Any) -> list[dict[str, Any]]:
        if "load" in spec.configuration:
            return [{"output_rows": int(job.output_rows or 0)}]
        if not spec.fetch:
            return []
        return [{k: _jsonable(v) for k, v in row.items()} for row in job.result()]

    def _submit(self, context: Context, index: int, spec: Job) -> Any:
        configuration = {**spec.configuration}
        configuration["labels"] = {**self._labels(), **configuration.get("labels", {})}
        self.configuration = configuration
        self.job_id = self._job_id(context, index)
        self.log.info("job %s (%s): %s", self.job_id, spec.name, configuration)
        return self._hook().insert_job(
            configuration=configuration,
            job_id=self.job_id,
            project_id=self._project(),
            location=self._location(),
            nowait=True,
        )

    def _run(self, context: Context, start: int, results: dict[str, list[dict[str, Any]]]) -> Any:
        index = start
        while index < len(planned := self.jobs(context, results)):
            spec = planned[index]
            job = self._submit(context, index, spec)
            if job.running():
                self.defer(
                    timeout=self.execution_timeout,
                    trigger=BigQueryInsertJobTrigger(
                        conn_id=self.gcp_conn_id,
                        job_id=job.job_id,
                        project_id=self._project(),
                        location=self._location(),
                        poll_interval=self.poll_interval,
                        impersonation_chain=self.impersonation_chain,
                        cancel_on_kill=self.cancel_on_kill,
                    ),
                    method_name="resume",
                    kwargs={"index": index, "results": results},
                )
            self._raise_on_error(job)
            results[spec.name] = self._result(spec, job)
            index += 1
        return self.finish(context, results)

    def execute(self, context: Context) -> Any:
        return self._run(context, 0, {})

    def resume(
        self,
        context: Context,
        event: dict[str, Any],
        index: int,
        results: dict[str, list[dict[str, Any]]],
    ) -> Any:
        """Called when the job at `index` ends: record its result and go on with the next one."""
        if event["status"] == "error":
            raise AirflowException(event["message"])
        spec = self.jobs(context, results)[index]
        self.job_id = event["job_id"]
        job = self._hook().get_job(
            job_id=event["job_id"], project_id=self._project(), location=self._location()
        )
        self._raise_on_error(job)
        results[spec.name] = self._result(spec, job)
        return self._run(context, index + 1, results)


class LoadSilverOperator(BigQueryJobsOperator):
    """Stage the Spark job's Parquet (load jobs), read the affected days, and merge the staging into
    silver (one script, one transaction): the files the local target runs (`plan.SILVER_*_FILES`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._present: set[str] | None = None

    def staged_folders(self, output: str) -> set[str]:
        """Folders under the batch output holding Parquet (`silver/transactions`, `quarantine`, ...)."""
        bucket, prefix = storage.split_uri(output.rstrip("/") + "/")
        hook = GCSHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        names = hook.list(bucket_name=bucket, prefix=prefix, match_glob="**/*.parquet")
        return {name[len(prefix) :].rsplit("/", 1)[0] for name in names if "/" in name[len(prefix) :]}

    def jobs(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> list[Job]:
        clean = context["ti"].xcom_pull(task_ids="clean_raw") or {}
        if not clean.get("files"):
            # Nothing new, but a run that died may have left days for the gold build.
            return [Job("silver", bigquery.file_job(plan.PENDING_DAYS_SQL), fetch=True)]
        output = str(clean["output"]).rstrip("/")
        if self._present is None:  # the plan is recomputed before each job: list the output once
            self._present = self.staged_folders(output)
        present = self._present
        project = self.settings.project
        planned = []
        for qualified, folder in plan.STAGED_TABLES.items():
            staging = bigquery.staging_table(qualified)
            parse = bigquery.parse_json_file(qualified)
            if folder in present:
                uris = [f"{output}/{folder}/*.parquet"]
                load = bigquery.load_parquet_job(project, uris, bigquery.load_table(qualified), qualified)
                planned.append(Job(staging, load))
                if parse is not None:
                    planned.append(Job(f"{staging}:json", bigquery.file_job(parse)))
            else:
                planned.append(Job(staging, bigquery.file_job(bigquery.empty_staging_file(qualified))))
        currency = plan.currency_parameters(
            reporting_currency=self.settings.reporting_currency, fx_max_gap_days=self.settings.fx_max_gap_days
        )
        planned.append(
            Job("affected_days", bigquery.file_job("silver/affected_days.sql", currency), fetch=True)
        )
        # The load's parameters: the run id and the affected days with their bounds, as locally.
        days = sorted(date.fromisoformat(str(r["day"])) for r in results.get("affected_days", []))
        values = {"run_id": window(context).run_id, "days": days, **plan.day_bounds(days), **currency}
        planned.append(Job("silver", bigquery.query_job(bigquery.silver_script(), values), fetch=True))
        return planned

    def finish(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
        if "silver" not in results:
            return {"affected_days": [], "merged": {}}
        merged = {
            e: sum(r.get("output_rows", 0) for r in results.get(f"silver.{e}_staging", []))
            for e in plan.SILVER_ENTITIES
        }
        return {"affected_days": sorted(str(r["day"]) for r in results["silver"]), "merged": merged}


def _check_results(
    checks: Sequence[plan.Check], results: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The result of each check that has run, as `pipeline.dq.run_checks` makes it."""
    return [plan.check_result(c, results[c.name][0]) for c in checks if c.name in results]


class ChecksOperator(BigQueryJobsOperator):
    """The data-quality checks of one stage (`sql/checks/*.sql`), recorded in audit.dq_results.

    An error-severity failure fails the task without retries (the data will not change on retry) and
    so stops the gold build; warnings go to the report.
    """

    def __init__(self, *, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage

    def _checks(self) -> tuple[plan.Check, ...]:
        return plan.checks(self.stage, on_bad_file=self.settings.on_bad_file)

    def jobs(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> list[Job]:
        """Each check file as its own query job, then `dq/results_merge.sql` recording the results:
        the statements the local target runs (`pipeline.dq.run_checks`)."""
        checks = self._checks()
        if not checks:
            return []
        values = run_values(context, self.settings)
        planned = [Job(check.name, bigquery.file_job(check.sql, values), fetch=True) for check in checks]
        recorded = plan.check_result_parameters(_check_results(checks, results))
        record = bigquery.file_job(plan.CHECK_RESULTS_SQL, {"run_id": values["run_id"], **recorded})
        return [*planned, Job("recorded", record)]

    def finish(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
        rows = _check_results(self._checks(), results)
        for r in rows:
            if not r["passed"]:
                self.log.warning("check %s (%s) failed: %s", r["check_name"], r["severity"], r["detail"])
        failed = [r for r in rows if r["severity"] == "error" and not r["passed"]]
        if failed:
            names = ", ".join(f"{r['check_name']} ({r['detail']})" for r in failed)
            raise AirflowFailException(f"data-quality checks with severity error failed: {names}")
        return {"results": rows}

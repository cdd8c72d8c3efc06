"""Thin subclasses of the Google provider's operators for the steps of `customer_analytics`.

They add only what the provider's operators cannot know: which files the run claimed, which days it
touched and the run's query parameters. Each finishes the templated body in `render_template_fields`,
so what Airflow shows as the rendered field is exactly the request sent (and what tests/gcp validates).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

    Subclasses plan the jobs from the run (`jobs`) and turn the results into the task's return value
    (`finish`). The plan is recomputed on resume, so only the position and the results so far travel
    through the trigger. Job ids, labels, reattach and error handling are the provider's.
    """

    def __init__(self, *, settings: Settings, **kwargs: Any) -> None:
        if settings.project:
            kwargs.setdefault("project_id", settings.project)
        super().__init__(configuration={}, location=settings.bq_location, deferrable=True, **kwargs)
        self.settings = settings

    def jobs(self, context: Context) -> list[Job]:
        raise NotImplementedError

    def finish(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> Any:
        raise NotImplementedError

    def _hook(self) -> BigQueryHook:
        if self.hook is None:
            self.hook = BigQueryHook(
                gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain
            )
        return self.hook

    def _result(self, spec: Job, job: Any) -> list[dict[str, Any]]:
        if "load" in spec.configuration:
            return [{"output_rows": int(job.output_rows or 0)}]
        if not spec.fetch:
            return []
        return [{k: _jsonable(v) for k, v in row.items()} for row in job.result()]

    def _run(self, context: Context, start: int, results: dict[str, list[dict[str, Any]]]) -> Any:
        planned = self.jobs(context)
        for index in range(start, len(planned)):
            spec = planned[index]
            self.configuration = spec.configuration
            self.job_id = self._configured_job_id = None
            self.submit_job(context)
            job = self._job
            if job.running():
                self.defer(
                    timeout=self.execution_timeout,
                    trigger=BigQueryInsertJobTrigger(
                        conn_id=self.gcp_conn_id,
                        job_id=self.job_id,
                        project_id=self.project_id,
                        location=self.location or self._hook().location,
                        poll_interval=self.poll_interval,
                        impersonation_chain=self.impersonation_chain,
                        cancel_on_kill=self.cancel_on_kill,
                    ),
                    method_name="resume",
                    kwargs={"index": index, "results": results},
                )
            self._handle_job_error(job)
            results[spec.name] = self._result(spec, job)
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
        spec = self.jobs(context)[index]
        job = self._hook().get_job(job_id=event["job_id"], project_id=self.project_id, location=self.location)
        results[spec.name] = self._result(spec, job)
        return self._run(context, index + 1, results)


class LoadSilverOperator(BigQueryJobsOperator):
    """Stage the Spark job's Parquet (load jobs) and merge it into silver (one script, one transaction)."""

    def staged_folders(self, output: str) -> set[str]:
        """Folders under the batch output holding Parquet (`silver/transactions`, `quarantine`, ...)."""
        bucket, prefix = storage.split_uri(output.rstrip("/") + "/")
        hook = GCSHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        names = hook.list(bucket_name=bucket, prefix=prefix, match_glob="**/*.parquet")
        return {name[len(prefix) :].rsplit("/", 1)[0] for name in names if "/" in name[len(prefix) :]}

    def jobs(self, context: Context) -> list[Job]:
        clean = context["ti"].xcom_pull(task_ids="clean_raw") or {}
        if not clean.get("files"):
            # Nothing new, but a run that died may have left days for the gold build.
            return [Job("silver", bigquery.query_job(bigquery.PENDING_DAYS_SQL), fetch=True)]
        output = str(clean["output"]).rstrip("/")
        present = self.staged_folders(output)
        project = self.settings.project
        planned = []
        folders = {f"silver.{e}": f"silver/{e}" for e in plan.SILVER_ENTITIES}
        folders.update({t: t.split(".", 1)[1] for t in bigquery.STAGED_AUDIT_TABLES})
        for qualified, folder in folders.items():
            staging = bigquery.staging_table(qualified)
            if folder in present:
                config = bigquery.load_parquet_job(
                    project, [f"{output}/{folder}/*.parquet"], staging, qualified
                )
                planned.append(Job(staging, config))
                parse = bigquery.parse_json_job(staging, qualified)
                if parse is not None:
                    planned.append(Job(f"{staging}:json", parse))
            else:
                planned.append(Job(staging, bigquery.empty_staging_job(qualified)))
        script = bigquery.silver_script()
        planned.append(
            Job("silver", bigquery.query_job(script, run_values(context, self.settings)), fetch=True)
        )
        return planned

    def finish(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
        if "silver" not in results:
            return {"affected_days": [], "merged": {}}
        merged = {
            e: sum(r.get("output_rows", 0) for r in results.get(f"silver.{e}_staging", []))
            for e in plan.SILVER_ENTITIES
        }
        return {"affected_days": sorted(str(r["day"]) for r in results["silver"]), "merged": merged}


class ChecksOperator(BigQueryJobsOperator):
    """The data-quality checks of one stage (`sql/checks/*.sql`), recorded in audit.dq_results.

    An error-severity failure fails the task without retries (the data will not change on retry) and
    so stops the gold build; warnings go to the report.
    """

    def __init__(self, *, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage

    def jobs(self, context: Context) -> list[Job]:
        checks = plan.checks(self.stage, on_bad_file=self.settings.on_bad_file)
        if not checks:
            return []
        values = {**run_values(context, self.settings), "check_names": [c.name for c in checks]}
        return [Job("checks", bigquery.query_job(bigquery.checks_script(checks), values), fetch=True)]

    def finish(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
        rows = [
            {k: r[k] for k in ("check_name", "severity", "passed", "failures", "detail")}
            for r in results.get("checks", [])
        ]
        for r in rows:
            if not r["passed"]:
                self.log.warning("check %s (%s) failed: %s", r["check_name"], r["severity"], r["detail"])
        failed = [r for r in rows if r["severity"] == "error" and not r["passed"]]
        if failed:
            names = ", ".join(f"{r['check_name']} ({r['detail']})" for r in failed)
            raise AirflowFailException(f"data-quality checks with severity error failed: {names}")
        return {"results": rows}

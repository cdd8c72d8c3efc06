"""Restating gold on BigQuery: the gcp side of `pipeline.restate`, with the same SQL files and plan.

- `plan_gold` (`GoldPlanOperator`): two query jobs, the recorded fingerprints and the days in silver,
  then `restate.make_plan` (a changed SQL over too long a history fails the task without retries,
  naming the manual trigger that restates it);
- the gold steps (`pipeline.gcp.operators.GoldQueryOperator`) bind the days the plan restates for
  them (`gold_values`), and a restated `merge` step runs as one script: its reset, then its MERGE, in
  one transaction (`finalize_gold`);
- `archive_files` records the fingerprints once gold is built (`record_fingerprints`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pipeline import plan, restate
from pipeline.config import Settings
from pipeline.gcp import GCP_CONN_ID, bigquery
from pipeline.gcp.operators import BigQueryJobsOperator, Job, run_values
from sql import catalog


class GoldPlanOperator(BigQueryJobsOperator):
    """Which gold tables the run restates (`pipeline.restate`): the recorded fingerprints and the days
    in silver, read with the same files as the local target, then the same plan."""

    def jobs(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> list[Job]:
        return [
            Job("recorded", bigquery.file_job(restate.RECORDED_SQL), fetch=True),
            Job("history", bigquery.file_job(restate.HISTORY_SQL), fetch=True),
        ]

    def finish(self, context: Context, results: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
        recorded = {str(r["table_name"]): str(r["fingerprint"]) for r in results.get("recorded", [])}
        history = [date.fromisoformat(str(r["day"])) for r in results.get("history", [])]
        try:
            return restate.make_plan(
                current=restate.fingerprints(),
                recorded=recorded,
                history=history,
                rebuild=restate.rebuild_request(context["params"]),
                settings=self.settings,
            )
        except (restate.RestateLimitError, ValueError) as err:
            # Neither the SQL nor the params change on retry.
            raise AirflowFailException(str(err)) from err


def gold_values(step: plan.GoldStep, context: Context, settings: Settings) -> dict[str, Any]:
    """The run's query parameters for a gold step, with the days the plan restates for it."""
    gold_plan = context["ti"].xcom_pull(task_ids=plan.GOLD_PLAN_TASK_ID)
    return restate.step_params(step, run_values(context, settings), gold_plan)


def reset_then_merge(step: plan.GoldStep, merge_text: str) -> str:
    """A restated merge step as one script: its state emptied, then its MERGE, in one transaction (a
    failure leaves the old state, never an empty one)."""
    return bigquery.script(
        catalog.read_sql(plan.BEGIN_SQL),
        catalog.read_sql(restate.reset_sql(step)),
        merge_text,
        catalog.read_sql(plan.COMMIT_SQL),
    )


def finalize_gold(
    step: plan.GoldStep, configuration: dict[str, Any], context: Context, settings: Settings
) -> None:
    """`bigquery.finalize_gold` with the step's restated days; a restated merge step resets first."""
    values = gold_values(step, context, settings)
    bigquery.finalize_gold(step, configuration, values)
    if restate.resets(step, context["ti"].xcom_pull(task_ids=plan.GOLD_PLAN_TASK_ID)):
        query = configuration["query"]
        query["query"] = reset_then_merge(step, query["query"])
        query["queryParameters"] = bigquery.query_parameters(query["query"], values)


def record_job(gold_plan: Mapping[str, Any] | None, run_id: str) -> dict[str, Any] | None:
    """The query job recording the fingerprints the plan names (None: nothing to record)."""
    values = restate.records(gold_plan)
    if not values["table_names"]:
        return None
    return bigquery.file_job(restate.RECORD_SQL, {**values, "run_id": run_id})


def record_fingerprints(settings: Settings, gold_plan: Mapping[str, Any] | None, run_id: str) -> list[str]:
    """Run `record_job` (from `archive_files`, once gold is built); the tables recorded."""
    configuration = record_job(gold_plan, run_id)
    if configuration is None:
        return []
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    hook = BigQueryHook(gcp_conn_id=GCP_CONN_ID, location=settings.bq_location)
    job = hook.insert_job(
        configuration=configuration,
        project_id=settings.project or hook.project_id,
        location=settings.bq_location,
    )
    job.result()
    return list(restate.records(gold_plan)["table_names"])

"""Run the gcp DAG once through Airflow's `dag.test()`, in its own process and AIRFLOW_HOME, as the
local end-to-end tests run `cdi run`:

    python -m tests.gcp.dag_runner --output DIR --run-after TS --dataproc HOST:PORT

The environment names the stand-ins: `STORAGE_EMULATOR_HOST`, `BIGQUERY_EMULATOR_HOST` and the
Airflow connections (`AIRFLOW_CONN_*`). Before the run: the metadata DB (a copy of the migrated
template `cdi run` caches), the pools Composer holds, the Dataproc batch clients' channels pointed
at the stand-in (`dataproc_server.redirect_batch_clients`, the one thing no configuration reaches),
deferred tasks resumed as the triggerer resumes them (`resume_like_the_triggerer`), and the DAG's
deadline alerts looked up as the scheduler does when a run succeeds
(`look_up_deadlines_like_the_scheduler`). The DAG is
the production gcp DAG; only its retry delays and polling intervals are shortened, on its tasks
after it is built (the production values are minutes). After the run: `<output>/gcp_run.json` with
every try of every task instance, the XComs, the DAG's edges and the hosts the Dataproc clients
asked for.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.config import DAG_ID, ENV, REPO_ROOT
from pipeline.console import exit_process

RETRY_DELAY = timedelta(seconds=1)
MAX_RETRY_DELAY = timedelta(seconds=2)
DATAPROC_POLL_SECONDS = 1
BIGQUERY_POLL_SECONDS = 0.5


def _configure(output: Path) -> None:
    """What Airflow reads at import: its home, DAG folder and metadata DB (before importing it)."""
    home = output / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            ENV["target"]: "gcp",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "pipeline" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("CDI_LOG_LEVEL", "WARNING"),
        }
    )


def _pools() -> None:
    """The pools the DAG's tasks name, as `pulumi up` makes them in Composer (slots, deferred tasks
    counted)."""
    from airflow.models.pool import Pool

    from infra.components.airflow_pools import INCLUDE_DEFERRED
    from pipeline.gcp import BIGQUERY_POOL, BIGQUERY_POOL_SLOTS, DATAPROC_POOL, DATAPROC_POOL_SLOTS

    for name, slots in ((BIGQUERY_POOL, BIGQUERY_POOL_SLOTS), (DATAPROC_POOL, DATAPROC_POOL_SLOTS)):
        Pool.create_or_update_pool(name, slots, "customer_analytics", include_deferred=INCLUDE_DEFERRED)


def resume_like_the_triggerer() -> None:
    """Resume a deferred task with the kwargs it deferred with plus the trigger's event, as the
    triggerer does (`airflow.models.trigger.handle_event_submit`).

    `dag.test()` of Airflow 3.3.1 (the image's) and 3.3.2 resumes with the event alone, so a resume method taking its own
    kwargs (`BigQueryJobsOperator.resume`) fails there only; apache/airflow#69942 fixes `dag.test()`
    the same way. Until a release has it: keep the DeferTask each run returned, and when its trigger
    fires, put the event into that DeferTask's kwargs and report no event, so that `dag.test()` resumes
    with the DeferTask's kwargs (its path when a trigger ends without an event).
    """
    from airflow.sdk.definitions import dag as dag_module
    from airflow.sdk.execution_time import supervisor
    from airflow.sdk.execution_time.comms import DeferTask
    from airflow.sdk.serde import deserialize, serialize

    deferred: dict[str, Any] = {}
    run_task = supervisor.run_task_in_process
    run_trigger = dag_module._run_inline_trigger

    def run_task_in_process(*, ti: Any, task: Any) -> Any:
        result = run_task(ti=ti, task=task)
        if isinstance(result.msg, DeferTask):
            deferred[str(ti.id)] = result.msg
        return result

    def run_inline_trigger(trigger: Any, task_sdk_ti: Any) -> Any:
        event = run_trigger(trigger, task_sdk_ti)
        msg = deferred.pop(str(task_sdk_ti.id), None)
        if event is None or msg is None:
            return event
        kwargs = deserialize(msg.next_kwargs) if msg.next_kwargs else {}
        kwargs["event"] = event.payload
        msg.next_kwargs = serialize(kwargs)
        return None

    supervisor.run_task_in_process = run_task_in_process  # type: ignore[assignment]
    dag_module._run_inline_trigger = run_inline_trigger  # type: ignore[attr-defined]


def look_up_deadlines_like_the_scheduler() -> None:
    """Let a run of a DAG with a deadline succeed under `dag.test()`.

    `dag.test()` of Airflow 3.3.1 (the Composer image's, versions.toml) and 3.3.2 builds its
    scheduler DAG by an in-memory serialization round trip, which leaves `dag.deadline` holding the encoded alerts where the scheduler's DAG (read from
    `serialized_dag`) holds their ids; when the run succeeds, `DagRun.update_state()` looks each one up
    with `DeadlineAlert.get_by_id()`, which fails on a dict ("'dict' object has no attribute 'hex'").
    apache/airflow#73428 (fix proposed in apache/airflow#73430, not released) reads an encoded alert
    as its definition; so does this, for that call only: ids still go to the table.
    """
    from airflow.models.deadline_alert import DeadlineAlert
    from airflow.serialization.definitions.deadline import DeadlineAlertFields
    from airflow.serialization.enums import Encoding

    get_by_id = DeadlineAlert.get_by_id

    def get_by_id_or_definition(deadline_alert_id: Any, *, session: Any = None) -> Any:
        if isinstance(deadline_alert_id, dict):
            data = deadline_alert_id.get(Encoding.VAR, deadline_alert_id)
            return DeadlineAlert(
                name=data.get(DeadlineAlertFields.NAME),
                reference=data[DeadlineAlertFields.REFERENCE],
                interval=data[DeadlineAlertFields.INTERVAL],
                callback_def=data[DeadlineAlertFields.CALLBACK],
            )
        return get_by_id(deadline_alert_id, **({} if session is None else {"session": session}))

    DeadlineAlert.get_by_id = staticmethod(get_by_id_or_definition)  # type: ignore[method-assign]


def shorten_waits(dag: Any) -> None:
    """Seconds in place of the production minutes between tries and between status polls."""
    from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
    from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator

    for task in dag.tasks:
        task.retry_delay = RETRY_DELAY
        task.max_retry_delay = MAX_RETRY_DELAY
        if isinstance(task, DataprocCreateBatchOperator):
            task.polling_interval_seconds = DATAPROC_POLL_SECONDS
        if isinstance(task, BigQueryInsertJobOperator):
            task.poll_interval = BIGQUERY_POLL_SECONDS


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record(run_id: str) -> dict[str, Any]:
    """Every try of every task instance of the run, and the runs' XComs."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    tries: list[dict[str, Any]] = []
    xcoms: dict[str, Any] = {}
    with create_session() as session:
        for model in (TaskInstanceHistory, TaskInstance):
            query = select(model).where(model.dag_id == DAG_ID, model.run_id == run_id)
            for ti in session.scalars(query):
                tries.append(
                    {
                        "task_id": ti.task_id,
                        "try_number": ti.try_number,
                        "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                        "start_date": _stamp(ti.start_date),
                        "end_date": _stamp(ti.end_date),
                        "current": model is TaskInstance,
                    }
                )
        for xcom in session.scalars(XComModel.get_many(run_id=run_id, dag_ids=DAG_ID, key="return_value")):
            xcoms[xcom.task_id] = XComModel.deserialize_value(xcom)
    return {"tries": sorted(tries, key=lambda t: (t["task_id"], t["try_number"])), "xcoms": xcoms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gcp.dag_runner", description=__doc__)
    parser.add_argument(
        "--output", required=True, type=Path, help="folder of this run (AIRFLOW_HOME under it)"
    )
    parser.add_argument("--run-after", required=True, help="ISO timestamp the run is due at")
    parser.add_argument("--dataproc", required=True, help="host:port of the Dataproc stand-in")
    args = parser.parse_args(argv)
    output = args.output.resolve()
    _configure(output)

    from pipeline.cli import _migrate_airflow_db

    _migrate_airflow_db(output)
    _pools()
    from .dataproc_server import redirect_batch_clients

    asked = redirect_batch_clients(args.dataproc)
    resume_like_the_triggerer()
    look_up_deadlines_like_the_scheduler()
    from pipeline.dag import build_dag

    dag = build_dag("gcp")
    shorten_waits(dag)
    run_after = datetime.fromisoformat(args.run_after).astimezone(UTC)
    dag_run = dag.test(logical_date=run_after, run_after=run_after)
    record = {
        "run_id": dag_run.run_id,
        "state": str(dag_run.state.value if hasattr(dag_run.state, "value") else dag_run.state),
        "dataproc_hosts": sorted(set(asked)),
        "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
        **_record(dag_run.run_id),
    }
    (output / "gcp_run.json").write_text(json.dumps(record, indent=2, default=str))
    return 0


if __name__ == "__main__":
    exit_process(main())  # no last collections of Airflow's objects on the way out

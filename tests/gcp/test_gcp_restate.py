"""Restating gold on the gcp target (`pipeline.gcp.restate`), offline: the DAG's rebuild params, the
`plan_gold` jobs and plan, and the gold and archive jobs of a run that restates, each rendered for the
sample run and validated against BigQuery's discovery document. The same SQL runs on the BigQuery
stand-in in tests/gcp/test_gcp_end_to_end.py."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
from airflow.sdk.exceptions import AirflowFailException

from pipeline import plan, restate
from pipeline.config import Settings
from pipeline.gcp import BIGQUERY_POOL, bigquery
from pipeline.gcp import restate as gcp_restate
from sql import catalog

from .conftest import AFFECTED_DAYS, RUN_ID, render, sample_context, sample_xcoms
from .test_gcp_rendered_bodies import assert_valid_job

HISTORY = [date(2025, 1, 20) + timedelta(days=n) for n in range(10)]
"""Days in silver; the sample run's affected days (2025-01-28, 2025-01-29) are among them."""


def plan_of(*changed: str, max_days: int = 400) -> dict[str, Any]:
    """The plan of a run that finds `changed` tables' SQL changed since they were built (and so the
    fingerprints of the tables built from them)."""
    current = restate.fingerprints()
    recorded = {t: ("x" * 64 if t in restate.dependents(changed) else fp) for t, fp in current.items()}
    return restate.make_plan(
        current=current,
        recorded=recorded,
        history=HISTORY,
        rebuild=None,
        settings=Settings(target="gcp", max_restate_days=max_days),
    )


def xcoms_with(gold_plan: dict[str, Any] | None, **overrides: Any) -> dict[str, Any]:
    return {**sample_xcoms(), plan.GOLD_PLAN_TASK_ID: gold_plan, **overrides}


def parameter(configuration: dict[str, Any], name: str) -> Any:
    found = next(p for p in configuration["query"]["queryParameters"] if p["name"] == name)
    values = found["parameterValue"]
    return [v["value"] for v in values["arrayValues"]] if "arrayValues" in values else values["value"]


# --- the DAG -------------------------------------------------------------------------------------------


def test_the_dag_has_the_rebuild_params_of_the_trigger_form(gcp_dag: Any) -> None:
    from pipeline.dag import build_dag

    params = gcp_dag.params
    assert set(params) == {restate.REBUILD_TABLES, restate.REBUILD_FROM, restate.REBUILD_TO}
    tables = params.get_param(restate.REBUILD_TABLES).schema
    assert tables["type"] == "array"
    assert tables["items"]["enum"] == [s.name for s in plan.GOLD_STEPS]
    for day in (restate.REBUILD_FROM, restate.REBUILD_TO):
        assert params.get_param(day).schema["format"] == "date"
    assert params.validate() == {
        restate.REBUILD_TABLES: [],
        restate.REBUILD_FROM: None,
        restate.REBUILD_TO: None,
    }
    assert build_dag("local").params.dump() == params.dump()


def test_plan_gold_is_a_deferrable_bigquery_task_between_the_gate_and_gold(gcp_dag: Any) -> None:
    task = gcp_dag.get_task(plan.GOLD_PLAN_TASK_ID)
    assert isinstance(task, gcp_restate.GoldPlanOperator)
    assert isinstance(task, BigQueryInsertJobOperator)
    assert task.deferrable
    assert task.pool == BIGQUERY_POOL
    assert task.upstream_task_ids == {"dq_checks"}
    roots = {s.task_id for s in plan.GOLD_STEPS if not s.after}
    assert roots <= task.downstream_task_ids


# --- plan_gold -------------------------------------------------------------------------------------------


def test_plan_gold_reads_the_fingerprints_and_the_days_with_the_sql_files(gcp_dag: Any) -> None:
    task = render(gcp_dag, plan.GOLD_PLAN_TASK_ID)
    jobs = task.jobs(sample_context(gcp_dag, task), {})
    assert [(j.name, j.fetch) for j in jobs] == [("recorded", True), ("history", True)]
    for job, relative in zip(jobs, (restate.RECORDED_SQL, restate.HISTORY_SQL), strict=True):
        assert_valid_job(job.configuration)
        assert job.configuration["query"]["query"] == catalog.read_sql(relative)
        assert job.configuration["query"]["queryParameters"] == []


def finish(gcp_dag: Any, recorded: dict[str, str], params: dict[str, Any] | None = None) -> dict[str, Any]:
    task = render(gcp_dag, plan.GOLD_PLAN_TASK_ID)
    context = {**sample_context(gcp_dag, task), "params": params or {}}
    results = {
        "recorded": [{"table_name": t, "fingerprint": fp} for t, fp in recorded.items()],
        "history": [{"day": d.isoformat()} for d in HISTORY],  # as BigQueryJobsOperator keeps rows
    }
    return task.finish(context, results)  # type: ignore[no-any-return]


def test_plan_gold_restates_what_changed_and_what_the_params_ask_for(gcp_dag: Any) -> None:
    current = restate.fingerprints()
    assert finish(gcp_dag, current)["restate"] == {}
    assert finish(gcp_dag, {})["record"] == list(current)  # an empty warehouse: recorded as they are
    changed = finish(gcp_dag, {**current, "gold.peak_hours_daily": "x" * 64, "gold.peak_hours": "y" * 64})
    assert list(changed["restate"]) == ["gold.peak_hours_daily", "gold.peak_hours"]
    assert changed["history"] == [d.isoformat() for d in HISTORY]
    conf = restate.rebuild_conf(["agent_performance"], HISTORY[2], HISTORY[3])
    asked = finish(gcp_dag, current, conf)
    assert asked["restate"] == {
        "gold.agent_performance": {"first_day": HISTORY[2].isoformat(), "last_day": HISTORY[3].isoformat()}
    }


def test_plan_gold_over_the_limit_fails_without_retry_naming_the_trigger(
    gcp_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDI_MAX_RESTATE_DAYS", "5")
    task = copy.copy(gcp_dag.get_task(plan.GOLD_PLAN_TASK_ID))
    task.settings = Settings.from_env()
    context = {**sample_context(gcp_dag, task), "params": {}}
    recorded = {**restate.fingerprints(), "gold.aov_daily": "x" * 64}
    results = {
        "recorded": [{"table_name": t, "fingerprint": fp} for t, fp in recorded.items()],
        "history": [{"day": d.isoformat()} for d in HISTORY],
    }
    with pytest.raises(AirflowFailException) as raised:
        task.finish(context, results)
    message = str(raised.value)
    assert """airflow dags trigger customer_analytics --conf '{"rebuild_tables": ["aov_daily"]}'""" in message
    assert "CDI_MAX_RESTATE_DAYS=5" in message


def test_bad_rebuild_params_fail_plan_gold(gcp_dag: Any) -> None:
    with pytest.raises(AirflowFailException, match="is after"):
        finish(
            gcp_dag,
            restate.fingerprints(),
            {restate.REBUILD_FROM: "2025-02-01", restate.REBUILD_TO: "2025-01-01"},
        )


# --- gold and archive ----------------------------------------------------------------------------------


def test_a_restated_daily_table_replaces_every_day_of_history(gcp_dag: Any) -> None:
    gold_plan = plan_of("gold.customer_daily")
    task = render(gcp_dag, "gold_customer_daily", xcoms=xcoms_with(gold_plan))
    assert_valid_job(task.configuration)
    days = sorted({*AFFECTED_DAYS, *(d.isoformat() for d in HISTORY)})
    assert parameter(task.configuration, "days") == days
    assert (parameter(task.configuration, "first_day"), parameter(task.configuration, "last_day")) == (
        days[0],
        days[-1],
    )
    assert task.configuration["query"]["query"].startswith("MERGE gold.customer_daily AS target")
    # Not restated: the run's affected days only.
    other = render(gcp_dag, "gold_aov_daily", xcoms=xcoms_with(gold_plan))
    assert parameter(other.configuration, "days") == AFFECTED_DAYS


def test_a_restated_state_is_reset_then_merged_in_one_transaction(gcp_dag: Any) -> None:
    task = render(gcp_dag, "gold_customer_state", xcoms=xcoms_with(plan_of("gold.customer_daily")))
    configuration = task.configuration
    assert_valid_job(configuration)
    step = next(s for s in plan.GOLD_STEPS if s.table == "gold.customer_state")
    reset = bigquery.statement(catalog.read_sql(restate.reset_sql(step)))
    merge = bigquery.statement(catalog.read_sql(step.sql))
    begin, commit = (bigquery.statement(catalog.read_sql(f)) for f in (plan.BEGIN_SQL, plan.COMMIT_SQL))
    assert configuration["query"]["query"] == f"{begin};\n{reset};\n{merge};\n{commit};\n"
    assert begin.endswith("begin transaction")
    assert commit.endswith("commit transaction")
    assert parameter(configuration, "first_day") == HISTORY[0].isoformat()
    assert parameter(configuration, "run_date") == "2025-01-30"
    assert {p["name"] for p in configuration["query"]["queryParameters"]} == bigquery.used_parameters(merge)
    # The same step without a restatement: the MERGE file alone.
    plain = render(gcp_dag, "gold_customer_state", xcoms=xcoms_with(None))
    assert plain.configuration["query"]["query"] == catalog.read_sql(step.sql).removesuffix("\n")


def test_a_restated_step_is_built_even_when_nothing_is_new(
    gcp_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with no file and no affected day rebuilds nothing (`plan.nothing_new`), except what the
    plan restates."""
    submitted: list[str] = []
    monkeypatch.setattr(
        BigQueryInsertJobOperator, "execute", lambda self, context: submitted.append(self.task_id) or "job"
    )
    nothing = {"clean_raw": {"files": 0, "transactions_valid": 0}, "load_silver": {"affected_days": []}}
    xcoms = xcoms_with(plan_of("gold.peak_hours_daily"), **nothing)
    for task_id in ("gold_peak_hours_daily", "gold_peak_hours", "gold_aov_daily"):
        task = render(gcp_dag, task_id, xcoms=xcoms)
        task.execute(sample_context(gcp_dag, task, xcoms=xcoms))
    assert submitted == ["gold_peak_hours_daily", "gold_peak_hours"]


def test_archive_records_the_fingerprints_of_what_the_run_built_whole() -> None:
    gold_plan = plan_of("gold.peak_hours_daily")
    configuration = gcp_restate.record_job(gold_plan, RUN_ID)
    assert configuration is not None
    assert_valid_job(configuration)
    assert configuration["query"]["query"] == catalog.read_sql(restate.RECORD_SQL)
    tables = ["gold.peak_hours_daily", "gold.peak_hours"]
    assert parameter(configuration, "table_names") == tables
    assert parameter(configuration, "fingerprints") == [gold_plan["fingerprints"][t] for t in tables]
    assert parameter(configuration, "run_id") == RUN_ID
    assert gcp_restate.record_job(plan_of(), RUN_ID) is None
    assert gcp_restate.record_job(None, RUN_ID) is None


# --- on the BigQuery stand-in -----------------------------------------------------------------------------

STAND_IN_DAYS = [date(2025, 1, 15) + timedelta(days=n) for n in range(15)]
"""Days in silver for the stand-in run: up to the sample run's last affected day, 2025-01-29."""
REQUIRED_FILTERS = {
    t.qualified_name: t.partition_field
    for t in catalog.tables()
    if t.require_partition_filter and t.partition_field is not None
}


def run_job(con: Any, configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """A query job as the BigQuery stand-in runs it (its script interpreter over DuckDB), and its rows
    as `BigQueryJobsOperator` keeps them."""
    from .bigquery_server import Script, parameters

    query = configuration["query"]
    result = Script(con, parameters(query), REQUIRED_FILTERS).run(query["query"])
    names = [f["name"] for f in result.fields]
    return [
        {n: v.isoformat() if isinstance(v, date) else v for n, v in zip(names, row, strict=True)}
        for row in result.rows
    ]


@pytest.fixture
def stand_in(tmp_path: Any) -> Any:
    """A warehouse as the stand-in provisions it, with silver orders over `STAND_IN_DAYS` and gold built
    from them for the sample run's date."""
    from datetime import UTC, datetime

    from pipeline import warehouse

    con = warehouse.connect(tmp_path / "bigquery.duckdb")
    statuses = ["completed", "completed", "refunded", "completed", "cancelled", "completed"]
    rows = [
        (
            f"T{d:%m%d}-{n}",
            datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=3 * n + 1),
            f"C{(n + d.day) % 7}",
            f"{10 + n * 3 + d.day}.25",
            statuses[(n + d.day) % len(statuses)],
            n + 1,
        )
        for d in STAND_IN_DAYS
        for n in range(6)
    ]
    con.executemany(
        "insert into silver.transactions (transaction_id, transaction_ts, customer_id, quantity, amount,"
        " currency, status, source_file, record_number, run_id)"
        " values (?, ?, ?, 1, ?, 'USD', ?, 'landing/t.csv', ?, 'run-0')",
        rows,
    )
    con.execute("update silver.transactions set amount_reporting = amount")  # as the silver load converts
    warehouse.replace_table(con, "silver.transaction_keys", "silver/transaction_keys.sql", {})
    params = plan.query_parameters(
        run_id="run-0",
        days=STAND_IN_DAYS,
        run_date=date(2025, 1, 30),
        reporting_tz="Europe/Paris",
        rows_valid=0,
    )
    for step in plan.GOLD_STEPS:
        warehouse.build_gold_step(con, step, params)
    yield con
    con.close()


def test_a_restatement_runs_on_the_bigquery_stand_in(gcp_dag: Any, stand_in: Any) -> None:
    con = stand_in
    state = con.sql("select * from gold.customer_state order by all").fetchall()
    assert state
    task = render(gcp_dag, plan.GOLD_PLAN_TASK_ID)

    def plan_gold(params: dict[str, Any] | None = None) -> dict[str, Any]:
        context = {**sample_context(gcp_dag, task), "params": params or {}}
        results = {j.name: run_job(con, j.configuration) for j in task.jobs(context, {})}
        return task.finish(context, results)  # type: ignore[no-any-return]

    # An empty audit table: the fingerprints are recorded as they are.
    first = plan_gold()
    assert first["adopted"]
    assert first["history"] == []
    run_job(con, gcp_restate.record_job(first, "run-0") or {})
    assert dict(con.sql("select table_name, fingerprint from audit.gold_fingerprints").fetchall()) == (
        restate.fingerprints()
    )
    # customer_daily's SQL changed since it was built (its recorded fingerprint is another), and a
    # customer the SQL would not build sits in the state.
    con.execute(
        "update audit.gold_fingerprints set fingerprint = 'old' where table_name = 'gold.customer_daily'"
    )
    con.execute(
        "insert into gold.customer_state values ('ghost', 1, 1.00, date '2025-01-15', date '2025-01-15')"
    )
    gold_plan = plan_gold()
    assert gold_plan["history"] == [d.isoformat() for d in STAND_IN_DAYS]
    assert list(gold_plan["restate"]) == ["gold.customer_daily"]  # its dependents' records still match
    # The dependents' fingerprints hold customer_daily's: a real change of its file changes them too.
    con.execute(
        "update audit.gold_fingerprints set fingerprint = 'old' where table_name = 'gold.customer_state'"
    )
    gold_plan = plan_gold()
    assert list(gold_plan["restate"]) == ["gold.customer_daily", "gold.customer_state"]
    xcoms = xcoms_with(gold_plan)
    daily = con.sql("select * from gold.customer_daily order by all").fetchall()
    for task_id in ("gold_customer_daily", "gold_customer_state"):
        run_job(con, render(gcp_dag, task_id, xcoms=xcoms).configuration)
    assert con.sql("select * from gold.customer_daily order by all").fetchall() == daily
    assert con.sql("select * from gold.customer_state order by all").fetchall() == state
    run_job(con, gcp_restate.record_job(gold_plan, RUN_ID) or {})
    recorded = dict(con.sql("select table_name, run_id from audit.gold_fingerprints").fetchall())
    assert {t for t, run in recorded.items() if run == RUN_ID} == {
        "gold.customer_daily",
        "gold.customer_state",
    }
    assert plan_gold()["restate"] == {}

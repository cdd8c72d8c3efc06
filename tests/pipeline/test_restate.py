"""The restatement plan (`pipeline.restate`): fingerprints of the real SQL files (and of a copy with
one file changed), what a run restates and records, the limit and its message, the rebuild params
as Airflow validates them. The SQL itself runs on DuckDB in tests/sql/test_sql_restate.py, and
through the DAG in tests/e2e/test_restate_runs.py."""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline import plan, restate
from pipeline.config import Settings
from sql import catalog

TABLES = [s.table for s in plan.GOLD_STEPS]
HISTORY = [date(2025, 1, 1) + timedelta(days=n) for n in range(10)]
LOCAL = Settings(output_dir=Path("/data/out"), max_restate_days=30)


def sql_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of sql/ that `sql.catalog` reads from (what a deployment with edited files reads)."""
    copy = tmp_path / "sql"
    shutil.copytree(catalog.SQL_DIR, copy)
    monkeypatch.setattr(catalog, "SQL_DIR", copy)
    return copy


def test_every_gold_table_has_a_sha256_fingerprint_that_is_stable() -> None:
    current = restate.fingerprints()
    assert list(current) == TABLES
    assert all(re.fullmatch(r"[0-9a-f]{64}", fp) for fp in current.values())
    assert len(set(current.values())) == len(TABLES)
    assert restate.fingerprints() == current


def test_a_merge_step_is_fingerprinted_with_its_reset() -> None:
    state = next(s for s in plan.GOLD_STEPS if s.mode == "merge")
    assert restate.step_files(state) == ("gold/customer_state_merge.sql", "gold/customer_state_reset.sql")
    for step in plan.GOLD_STEPS:
        for relative in restate.step_files(step):
            assert catalog.sql_path(relative).is_file()


@pytest.mark.parametrize(
    "relative", sorted({f for s in plan.GOLD_STEPS for f in restate.step_files(s)}), ids=lambda f: f
)
def test_changing_a_gold_file_changes_its_table_and_what_is_built_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: str
) -> None:
    before = restate.fingerprints()
    copy = sql_copy(tmp_path, monkeypatch)
    (copy / relative).write_text((copy / relative).read_text() + "\n-- edited\n")
    after = restate.fingerprints()
    owner = next(s.table for s in plan.GOLD_STEPS if relative in restate.step_files(s))
    changed = [t for t in TABLES if after[t] != before[t]]
    assert changed == restate.dependents([owner])
    assert owner in changed


def test_dependents_follow_the_after_graph() -> None:
    assert restate.dependents(["gold.customer_daily"]) == [
        "gold.customer_daily",
        "gold.customer_state",
        "gold.customer_rfm",
        "gold.cohort_retention",
        "gold.segment_migration",
    ]
    assert restate.dependents(["gold.peak_hours_daily"]) == ["gold.peak_hours_daily", "gold.peak_hours"]
    assert restate.dependents(["gold.customer_rfm"]) == ["gold.customer_rfm", "gold.segment_migration"]
    assert restate.dependents(["gold.cohort_retention"]) == ["gold.cohort_retention"]
    assert restate.dependents(["gold.aov_daily", "gold.customer_state"]) == [
        "gold.aov_daily",
        "gold.customer_state",
        "gold.customer_rfm",
        "gold.segment_migration",
    ]


# --- the plan ----------------------------------------------------------------------------------------


def changed_fingerprints(*tables: str) -> tuple[dict[str, str], dict[str, str]]:
    """(current, recorded) where the tables given (and those built from them) differ."""
    current = restate.fingerprints()
    recorded = {t: ("old" + fp[3:] if t in restate.dependents(tables) else fp) for t, fp in current.items()}
    return current, recorded


def test_a_warehouse_without_fingerprints_records_them_and_restates_nothing() -> None:
    current = restate.fingerprints()
    made = restate.make_plan(current=current, recorded={}, history=HISTORY, rebuild=None, settings=LOCAL)
    assert made["adopted"] is True
    assert made["restate"] == {}
    assert made["record"] == TABLES
    assert restate.records(made) == {"table_names": TABLES, "fingerprints": [current[t] for t in TABLES]}
    for step in plan.GOLD_STEPS:
        assert restate.restated_days(step, made) == []
        assert not restate.resets(step, made)


def test_unchanged_sql_restates_and_records_nothing() -> None:
    current = restate.fingerprints()
    made = restate.make_plan(current=current, recorded=current, history=HISTORY, rebuild=None, settings=LOCAL)
    assert (made["changed"], made["restate"], made["record"], made["history"]) == ([], {}, [], [])
    params = {"days": [HISTORY[-1]], **plan.day_bounds([HISTORY[-1]])}
    for step in plan.GOLD_STEPS:
        assert restate.step_params(step, params, made) == params


def test_a_changed_table_and_its_dependents_are_restated_over_all_history() -> None:
    current, recorded = changed_fingerprints("gold.customer_daily")
    made = restate.make_plan(
        current=current, recorded=recorded, history=HISTORY, rebuild=None, settings=LOCAL
    )
    expected = [
        "gold.customer_daily",
        "gold.customer_state",
        "gold.customer_rfm",
        "gold.cohort_retention",
        "gold.segment_migration",
    ]
    assert made["changed"] == expected
    assert list(made["restate"]) == expected
    assert made["record"] == expected
    steps = {s.table: s for s in plan.GOLD_STEPS}
    # The run's own affected day is built too; the restated days come on top of it.
    affected = [date(2025, 1, 11)]
    params = {"days": affected, **plan.day_bounds(affected), "run_date": date(2025, 1, 12)}
    daily = restate.step_params(steps["gold.customer_daily"], params, made)
    assert daily["days"] == [*HISTORY, *affected]
    assert (daily["first_day"], daily["last_day"]) == (HISTORY[0], affected[0])
    assert daily["run_date"] == params["run_date"]
    # The state is reset; its days reach the first day of history (its MERGE's rebuild path).
    assert restate.resets(steps["gold.customer_state"], made)
    assert restate.step_params(steps["gold.customer_state"], params, made)["first_day"] == HISTORY[0]
    assert not restate.resets(steps["gold.customer_daily"], made)
    assert restate.step_params(steps["gold.aov_daily"], params, made) == params


def test_over_the_limit_the_run_stops_with_the_command_that_restates() -> None:
    current, recorded = changed_fingerprints("gold.customer_daily")
    settings = Settings(output_dir=Path("/data/my out"), max_restate_days=len(HISTORY) - 1)
    with pytest.raises(restate.RestateLimitError) as raised:
        restate.make_plan(
            current=current, recorded=recorded, history=HISTORY, rebuild=None, settings=settings
        )
    message = str(raised.value)
    assert "cdi rebuild --output '/data/my out' --table customer_daily\n" in message
    assert "gold.customer_daily (sql/gold/customer_daily.sql)" in message
    built_from = "gold.customer_state, gold.customer_rfm, gold.cohort_retention, gold.segment_migration"
    assert f"{built_from} built from it" in message
    assert f"all {len(HISTORY)} days in silver" in message
    assert f"CDI_MAX_RESTATE_DAYS={len(HISTORY) - 1}" in message
    # At the limit, the run restates.
    at_limit = Settings(output_dir=Path("/data/out"), max_restate_days=len(HISTORY))
    made = restate.make_plan(
        current=current, recorded=recorded, history=HISTORY, rebuild=None, settings=at_limit
    )
    assert "gold.customer_daily" in made["restate"]


def test_the_limit_names_each_changed_root_once() -> None:
    current, recorded = changed_fingerprints("gold.customer_daily", "gold.peak_hours_daily")
    with pytest.raises(restate.RestateLimitError, match="--table customer_daily --table peak_hours_daily\n"):
        restate.make_plan(
            current=current,
            recorded=recorded,
            history=HISTORY,
            rebuild=None,
            settings=Settings(max_restate_days=1),
        )


def test_a_whole_table_mart_is_replaced_on_every_run_so_it_has_no_limit() -> None:
    current, recorded = changed_fingerprints("gold.customer_rfm")
    made = restate.make_plan(
        current=current,
        recorded=recorded,
        history=HISTORY,
        rebuild=None,
        settings=Settings(max_restate_days=1),
    )
    assert list(made["restate"]) == ["gold.customer_rfm", "gold.segment_migration"]


def test_on_gcp_the_message_names_the_manual_trigger_with_the_params() -> None:
    current, recorded = changed_fingerprints("gold.aov_daily")
    settings = Settings(target="gcp", max_restate_days=1)
    with pytest.raises(restate.RestateLimitError) as raised:
        restate.make_plan(
            current=current, recorded=recorded, history=HISTORY, rebuild=None, settings=settings
        )
    assert """airflow dags trigger customer_analytics --conf '{"rebuild_tables": ["aov_daily"]}'""" in str(
        raised.value
    )


def test_a_rebuild_restates_a_range_of_the_daily_tables_and_the_rest_whole() -> None:
    current = restate.fingerprints()
    rebuild = restate.rebuild_request(restate.rebuild_conf(["customer_daily"], HISTORY[2], HISTORY[4]))
    assert rebuild is not None
    made = restate.make_plan(
        current=current, recorded=current, history=HISTORY, rebuild=rebuild, settings=LOCAL
    )
    steps = {s.table: s for s in plan.GOLD_STEPS}
    assert restate.restated_days(steps["gold.customer_daily"], made) == HISTORY[2:5]
    assert restate.restated_days(steps["gold.customer_state"], made) == HISTORY
    assert restate.restated_days(steps["gold.customer_rfm"], made) == HISTORY
    assert restate.resets(steps["gold.customer_state"], made)
    # Part of the history only: its fingerprint is not recorded; the state and the marts built from
    # customer_daily were rebuilt whole.
    assert made["record"] == [
        "gold.customer_state",
        "gold.customer_rfm",
        "gold.cohort_retention",
        "gold.segment_migration",
    ]


def test_a_whole_rebuild_has_no_limit_and_records_everything() -> None:
    current, recorded = changed_fingerprints("gold.aov_daily")
    rebuild = restate.rebuild_request(restate.rebuild_conf())
    settings = Settings(max_restate_days=1)
    made = restate.make_plan(
        current=current, recorded=recorded, history=HISTORY, rebuild=rebuild, settings=settings
    )
    assert list(made["restate"]) == TABLES
    assert made["record"] == TABLES


def test_a_range_covering_all_history_records_the_table() -> None:
    current = restate.fingerprints()
    conf = restate.rebuild_conf(["aov_daily"], HISTORY[0] - timedelta(days=3), HISTORY[-1])
    made = restate.make_plan(
        current=current,
        recorded=current,
        history=HISTORY,
        rebuild=restate.rebuild_request(conf),
        settings=LOCAL,
    )
    assert made["record"] == ["gold.aov_daily"]


def test_a_changed_table_outside_a_rebuild_request_still_counts_against_the_limit() -> None:
    current, recorded = changed_fingerprints("gold.agent_performance")
    rebuild = restate.rebuild_request(restate.rebuild_conf(["peak_hours"]))
    with pytest.raises(restate.RestateLimitError, match="--table agent_performance"):
        restate.make_plan(
            current=current,
            recorded=recorded,
            history=HISTORY,
            rebuild=rebuild,
            settings=Settings(max_restate_days=1),
        )


# --- the rebuild params ------------------------------------------------------------------------------


def test_a_scheduled_run_asks_for_no_rebuild() -> None:
    assert restate.rebuild_request(None) is None
    assert restate.rebuild_request({restate.REBUILD_TABLES: [], restate.REBUILD_FROM: None}) is None


def test_rebuild_params_are_read_as_tables_and_days() -> None:
    request = restate.rebuild_request(
        {restate.REBUILD_TABLES: ["gold.peak_hours_daily"], restate.REBUILD_FROM: "2025-01-02"}
    )
    assert request == restate.Rebuild(("gold.peak_hours_daily", "gold.peak_hours"), date(2025, 1, 2), None)
    days_only = restate.rebuild_request({restate.REBUILD_TO: "2025-01-05"})
    assert days_only is not None
    assert days_only.tables == tuple(TABLES)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({restate.REBUILD_TABLES: ["customers"]}, "no gold table 'customers'"),
        ({restate.REBUILD_FROM: "2025-02-01", restate.REBUILD_TO: "2025-01-01"}, "is after"),
        ({restate.REBUILD_FROM: "01/02/2025"}, "expected a day"),
    ],
)
def test_bad_rebuild_params_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        restate.rebuild_request(params)


def test_the_dag_params_validate_what_cdi_rebuild_sends_and_refuse_the_rest() -> None:
    """As a task resolves its params (`airflow.sdk.definitions.param.process_params`): the DAG's
    params updated with the run's conf, then validated."""
    from airflow.sdk.definitions.param import ParamsDict

    def resolved(conf: dict[str, object]) -> dict[str, object]:
        params = ParamsDict(restate.dag_params())
        params.update(conf)
        return params.validate()

    assert resolved({}) == {restate.REBUILD_TABLES: [], restate.REBUILD_FROM: None, restate.REBUILD_TO: None}
    conf = restate.rebuild_conf(["aov_daily"], date(2025, 1, 2), date(2025, 1, 3))
    assert resolved(conf) == conf
    assert restate.rebuild_request(resolved(conf)) == restate.Rebuild(
        ("gold.aov_daily",), date(2025, 1, 2), date(2025, 1, 3)
    )
    for bad in ({restate.REBUILD_TABLES: ["nope"]}, {restate.REBUILD_FROM: "yesterday"}):
        with pytest.raises(Exception, match="Invalid input for param rebuild_"):
            resolved(bad)

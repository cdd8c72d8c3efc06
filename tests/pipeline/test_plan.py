"""The shared plan: gold build order and the data-quality checks both targets run."""

from __future__ import annotations

from pipeline import plan


def test_every_check_has_a_severity_and_a_stage() -> None:
    checks = plan.checks()
    assert {c.stage for c in checks} == {"silver", "gold"}
    assert all(c.severity in ("error", "warn") for c in checks)
    assert plan.checks("silver") + plan.checks("gold") == tuple(
        sorted(checks, key=lambda c: (c.stage != "silver", c.name))
    )


def test_a_bad_file_fails_the_run_by_default_and_only_warns_when_configured() -> None:
    default = {c.name: c.severity for c in plan.checks("gold")}
    warned = {c.name: c.severity for c in plan.checks("gold", on_bad_file="warn")}
    assert default[plan.BAD_FILE_CHECK] == "error"
    assert warned[plan.BAD_FILE_CHECK] == "warn"
    assert {k: v for k, v in warned.items() if k != plan.BAD_FILE_CHECK} == {
        k: v for k, v in default.items() if k != plan.BAD_FILE_CHECK
    }


def test_gold_steps_come_after_what_they_read() -> None:
    names = [s.name for s in plan.GOLD_STEPS]
    for step in plan.GOLD_STEPS:
        assert all(names.index(dep) < names.index(step.name) for dep in step.after)

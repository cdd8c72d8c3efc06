-- Record the run's row of audit.pipeline_runs (the report task), replacing the row an earlier
-- attempt of the run wrote. Grain: one row per run.
-- `target` and `files` are columns of the table (RF04).
merge audit.pipeline_runs as runs
using (
    select
        @run_id as run_id,
        @logical_date as logical_date,
        @target as target,  -- noqa: RF04
        @files as files,  -- noqa: RF04
        @rows_read as rows_read,
        @rows_valid as rows_valid,
        @rows_quarantined as rows_quarantined,
        @affected_days as affected_days,
        @step_seconds as step_seconds,
        @outcome as outcome
) as this_run
    on runs.run_id = this_run.run_id
when matched then
    update set
        logical_date = this_run.logical_date,
        target = this_run.target,
        files = this_run.files,
        rows_read = this_run.rows_read,
        rows_valid = this_run.rows_valid,
        rows_quarantined = this_run.rows_quarantined,
        affected_days = this_run.affected_days,
        step_seconds = this_run.step_seconds,
        outcome = this_run.outcome
when not matched then
    insert (
        run_id,
        logical_date,
        target,
        files,
        rows_read,
        rows_valid,
        rows_quarantined,
        affected_days,
        step_seconds,
        outcome
    )
    values (
        this_run.run_id,
        this_run.logical_date,
        this_run.target,
        this_run.files,
        this_run.rows_read,
        this_run.rows_valid,
        this_run.rows_quarantined,
        this_run.affected_days,
        this_run.step_seconds,
        this_run.outcome
    )

-- Every recorded run, for `cdi runs` (pipeline/run_history.py, which orders them by when they were
-- due, newest first): its outcome and figures, the days it touched and its steps' seconds as JSON
-- text. Grain: one row per run.
with

runs as (
    select
        run_id,
        logical_date,
        outcome,
        files,
        rows_read,
        rows_valid,
        rows_quarantined,
        affected_days,
        step_seconds
    from audit.pipeline_runs
),

final as (
    select * from runs
)

select * from final

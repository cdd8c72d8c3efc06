-- Every recorded run, for `cdi runs` (pipeline/run_history.py, which orders them by when they were
-- due, newest first) and the health page's latest runs (pipeline/health_page.py, which lists the
-- newest few): its outcome and figures, the days it touched and its steps' seconds as JSON text.
-- Grain: one row per run (a few hundred a year: read whole, ordered by the reader).
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

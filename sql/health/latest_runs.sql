-- The 20 latest recorded runs (by when they were due): their outcome and figures.
with

runs as (
    select
        run_id,
        logical_date,
        outcome,
        files,
        rows_read,
        rows_valid,
        rows_quarantined
    from audit.pipeline_runs
),

final as (
    select * from runs
    order by logical_date desc, run_id desc
    limit 20
)

select * from final

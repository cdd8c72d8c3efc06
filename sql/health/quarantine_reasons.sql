-- Quarantined rows by run, reason and source file: the run-health page's quarantine reasons over
-- time and the files they came from (a run not recorded yet, such as the one publishing, has no
-- logical_date).
with

quarantined as (
    select
        run_id,
        reason,
        source_file,
        count(*) as rows_quarantined
    from audit.quarantine
    group by run_id, reason, source_file
),

runs as (
    select
        run_id,
        logical_date
    from audit.pipeline_runs
),

final as (
    select
        quarantined.run_id,
        runs.logical_date,
        quarantined.reason,
        quarantined.source_file,
        quarantined.rows_quarantined
    from quarantined
    left join runs on quarantined.run_id = runs.run_id
)

select * from final

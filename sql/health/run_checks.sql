-- The data-quality results of run @run_id: what the run-health page shows as the run's
-- data-quality status (the page orders them, failed first).
with

run_results as (
    select
        check_name,
        severity,
        passed,
        failures,
        detail
    from audit.dq_results
    where run_id = @run_id
),

final as (
    select * from run_results
)

select * from final

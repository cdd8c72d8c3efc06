-- The rows run @run_id quarantined, by reason: the dashboard's status strip shows them beside the
-- data-quality results, so a run that set rows aside never looks like a clean one.
with

run_rows as (
    select reason
    from audit.quarantine
    where run_id = @run_id
),

final as (
    select
        reason,
        count(*) as rows_quarantined
    from run_rows
    group by reason
    order by rows_quarantined desc, reason asc
)

select * from final

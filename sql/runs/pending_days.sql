-- Every day whose gold is not rebuilt yet: the days this run queued and those a run that died
-- left. Grain: one row per day.
with

run_days as (
    select * from audit.run_days
),

final as (
    select distinct day
    from run_days
    where status = 'pending'
)

select * from final

-- Queue the run's affected days (@days, from silver/affected_days.sql) for the gold build; a run
-- that dies leaves them pending for the next one. Grain of audit.run_days: one row per run and day.
insert into audit.run_days (run_id, day, status)
select
    @run_id as run_id,
    day,
    'pending' as status
from unnest(@days) as day
where day not in (
    select recorded.day from audit.run_days as recorded
    where recorded.run_id = @run_id
)

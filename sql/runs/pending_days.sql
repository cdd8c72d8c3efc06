-- Every day whose gold is not rebuilt yet: the days this run queued and those a run that died
-- left. Grain: one row per day.
select distinct day
from audit.run_days
where status = 'pending'
order by day

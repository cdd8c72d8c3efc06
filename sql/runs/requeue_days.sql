-- A rerun of a run queues again every day the run recorded before: a committed MERGE hides the old
-- day of a moved row from a recomputation of the affected days.
update audit.run_days
set status = 'pending'
where run_id = @run_id

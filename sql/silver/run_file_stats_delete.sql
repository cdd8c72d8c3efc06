-- Before the run's staged file stats go in: take out what an earlier attempt of this run wrote.
delete from audit.file_stats
where run_id = @run_id

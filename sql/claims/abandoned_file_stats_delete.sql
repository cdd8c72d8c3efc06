-- A file claimed by a run that died (@run_id) is taken over by the next run: take out the dead
-- run's stats of it, so the figures count the file once.
delete from audit.file_stats
where run_id = @run_id and source_file = @source_file

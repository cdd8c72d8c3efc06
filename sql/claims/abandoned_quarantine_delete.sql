-- A file claimed by a run that died (@run_id) is taken over by the next run: take out what the
-- dead run quarantined of it, so the figures count the file once. Its MERGE into silver is keyed,
-- so silver needs nothing.
delete from audit.quarantine
where run_id = @run_id and source_file = @source_file

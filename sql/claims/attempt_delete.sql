-- Forget one claim of a file's bytes by one run, in the claim's transaction: the run's own before
-- it records the claim again (a rerun), or that of a run that died, which this run takes over.
delete from audit.processed_files
where
    source_file = @source_file
    and content_sha256 = @content_sha256
    and run_id = @run_id

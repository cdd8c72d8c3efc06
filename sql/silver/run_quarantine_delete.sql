-- Before the run's staged quarantine rows go in: take out the rows an earlier attempt of this run
-- wrote for the same files. The DUPLICATE_KEY rows the run displaced from earlier files stay (after
-- a committed MERGE a rerun cannot find them again).
delete from audit.quarantine
where
    run_id = @run_id
    and source_file in (
        select staged_file_stats.source_file
        from audit.file_stats_staging as staged_file_stats
    )

-- End the run's claims once its files are loaded: `rejected` for a file rejected whole (an error in
-- its audit.file_stats row of the run: unreadable, or a required column missing), which waits for
-- a settings change or a `cdi reprocess`; `processed` for every other file.
update audit.processed_files as claims
set
    status = case
        when exists (
            select 1 from audit.file_stats as stats
            where
                stats.run_id = claims.run_id
                and stats.source_file = claims.source_file
                and stats.error is not null
        ) then 'rejected'
        else 'processed'
    end
where claims.run_id = @run_id

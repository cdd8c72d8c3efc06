-- In the load's transaction, once the run's quarantine rows are in: take out the quarantine rows
-- earlier attempts of the files the run claims again left (@source_files, from
-- claims/retried_files.sql), but for those of the runs that claimed other bytes at their path
-- (@kept_runs, from claims/retried_files.sql: another version's rows). The new attempt decides
-- again about every raw row of the file.
delete from audit.quarantine
where
    run_id != @run_id
    -- A subquery, not `in unnest`: DuckDB joins it, not a search of the list per row.
    and source_file in (select retried_file from unnest(@source_files) as retried_file)
    and run_id not in unnest(@kept_runs)

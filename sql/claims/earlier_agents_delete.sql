-- In the load's transaction, before its MERGE: take out the silver rows earlier attempts of the
-- files the run claims again left (@source_files, from claims/retried_files.sql), but for those of
-- the runs that claimed other bytes at their path (@kept_runs, from claims/retried_files.sql:
-- another version's rows), so each raw row of the files is once in silver or quarantine, as the
-- new attempt decides.
delete from silver.agents
where
    -- A subquery, not `in unnest`: DuckDB joins it, not a search of the list per row.
    source_file in (select retried_file from unnest(@source_files) as retried_file)
    and run_id not in unnest(@kept_runs)

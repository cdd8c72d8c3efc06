-- The UTC days of the silver transactions claims/earlier_transactions_delete.sql takes out: the
-- load rebuilds them too (a row the new attempt quarantines leaves its day). @source_files: files
-- the run claims again (claims/retried_files.sql); @kept_runs: the runs whose rows of them stay,
-- having claimed other bytes at their path (claims/retried_files.sql). Grain: one row per day.
with

transactions as (
    select * from silver.transactions
),

final as (
    select distinct date(transaction_ts) as day
    from transactions
    where
        -- A subquery, not `in unnest`: DuckDB joins it, not a search of the list per row.
        source_file in (select retried_file from unnest(@source_files) as retried_file)
        and run_id not in unnest(@kept_runs)
)

select * from final

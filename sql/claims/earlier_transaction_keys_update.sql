-- In the load's transaction, before claims/earlier_transactions_delete.sql: keep the key -> day
-- index silver.transaction_keys in step with it, one row less for each silver transaction it takes
-- out (same @source_files and @kept_runs). A key left with no row on a day leaves the index after
-- (claims/emptied_transaction_keys_delete.sql).
update silver.transaction_keys as transaction_keys
set row_count = transaction_keys.row_count - withdrawn_keys.row_count
from (
    select
        farm_fingerprint(transaction_id) as key_fingerprint,
        date(transaction_ts) as transaction_date,
        count(*) as row_count
    from silver.transactions
    where
        -- A subquery, not `in unnest`: DuckDB joins it, not a search of the list per row.
        source_file in (select retried_file from unnest(@source_files) as retried_file)
        and run_id not in unnest(@kept_runs)
    group by key_fingerprint, transaction_date
) as withdrawn_keys
where
    transaction_keys.key_fingerprint = withdrawn_keys.key_fingerprint
    and transaction_keys.transaction_date = withdrawn_keys.transaction_date

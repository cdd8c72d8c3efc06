-- Keep the key -> day index silver.transaction_keys in step with the staged transactions load:
-- one row less for each silver row the load replaces (on the day it sits now), one row more for
-- each staged row (on its day). Runs in the load's transaction, before
-- silver/transactions_merge.sql (it reads the rows that MERGE replaces). Grain of the index: one
-- row per key fingerprint and UTC day; a rerun of the same load changes nothing (-1 and +1 on the
-- same day). @days must be what silver/affected_days.sql returned for the staged rows: every
-- replaced row and every staged row sits on one of them, so the index changes only there.
merge silver.transaction_keys as transaction_keys
using (
    with

    staged_transactions as (
        select * from silver.transactions_staging
    ),

    -- Only the affected days: every staged key already in silver sits on one of them. The range
    -- on the column itself is what DuckDB prunes with.
    current_transactions as (
        select * from silver.transactions
        where
            date(transaction_ts) in unnest(@days)
            and transaction_ts >= timestamp(@first_day)
            and transaction_ts < timestamp(@last_day + 1)
    ),

    replaced_transactions as (
        select
            current_transactions.transaction_id,
            current_transactions.transaction_ts
        from current_transactions
        inner join staged_transactions
            on current_transactions.transaction_id = staged_transactions.transaction_id
    ),

    row_changes as (
        select
            transaction_id,
            date(transaction_ts) as transaction_date,
            -1 as row_change
        from replaced_transactions
        union all
        select
            transaction_id,
            date(transaction_ts) as transaction_date,
            1 as row_change
        from staged_transactions
    ),

    net_changes as (
        select
            farm_fingerprint(transaction_id) as key_fingerprint,
            transaction_date,
            sum(row_change) as net_change
        from row_changes
        group by key_fingerprint, transaction_date
    ),

    final as (
        select
            key_fingerprint,
            transaction_date,
            net_change as row_change
        from net_changes
        where net_change != 0
    )

    select * from final
) as key_changes
    on
        transaction_keys.key_fingerprint = key_changes.key_fingerprint
        and transaction_keys.transaction_date = key_changes.transaction_date
        -- Only the affected days' partitions of the index (pruned on both engines).
        and transaction_keys.transaction_date in unnest(@days)
        and transaction_keys.transaction_date between @first_day and @last_day
when matched and transaction_keys.row_count + key_changes.row_change <= 0 then
    delete
when matched then
    update set row_count = transaction_keys.row_count + key_changes.row_change
-- A replaced row missing from the index (-1 with nothing to match) is an index out of step with
-- silver: checks/silver_transaction_keys_complete.sql reports it.
when not matched and key_changes.row_change > 0 then
    insert (key_fingerprint, transaction_date, row_count)
    values (key_changes.key_fingerprint, key_changes.transaction_date, key_changes.row_change)

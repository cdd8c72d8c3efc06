-- severity: error
-- stage: silver
-- description: transaction_id is unique in silver.transactions (keys on the checked days)
-- A write only adds a duplicate through a row on a day it touched, so the keys of @days are
-- checked against every day.
with

checked_transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
),

-- Every partition on purpose: the second row of a key can sit on any day. The bound is always
-- true and only satisfies require_partition_filter.
all_transactions as (
    select * from silver.transactions
    where transaction_ts >= timestamp '0001-01-01 00:00:00+00'
),

checked_keys as (
    select distinct transaction_id
    from checked_transactions
),

duplicated_keys as (
    select
        all_transactions.transaction_id,
        count(*) as row_count
    from all_transactions
    inner join checked_keys
        on all_transactions.transaction_id = checked_keys.transaction_id
    group by all_transactions.transaction_id
    having count(*) > 1
),

ranked_keys as (
    select
        transaction_id,
        row_number() over (order by transaction_id) as example_rank
    from duplicated_keys
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' transaction_id values have more than one row',
            coalesce(concat(
                ', e.g. ',
                string_agg(
                    if(example_rank <= 5, transaction_id, null), ', ' order by transaction_id
                )
            ), '')
        ) as detail
    from ranked_keys
)

select * from final

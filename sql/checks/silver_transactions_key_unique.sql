-- severity: error
-- stage: silver
-- description: transaction_id is unique in silver.transactions (keys on the checked days)
-- A write only adds a duplicate through a row on a day it touched, so the keys of @days are
-- checked against each other and, through the key -> day index silver.transaction_keys, against
-- every other day: a narrow scan of 64-bit fingerprints and dates instead of every transaction_id
-- of silver. The index is written in the load's transaction, and
-- checks/silver_transaction_keys_complete.sql checks that it counts every silver row. A checked
-- key sharing its fingerprint with a key of another day is reported as a duplicate too (odds about
-- checked keys x silver rows / 2^63: 4e-8 for 30k keys against 11M rows).
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

transaction_keys as (
    select * from silver.transaction_keys
),

checked_keys as (
    select
        transaction_id,
        farm_fingerprint(transaction_id) as key_fingerprint,
        date(transaction_ts) as transaction_date
    from checked_transactions
),

keys_repeated_on_checked_days as (
    select transaction_id
    from checked_keys
    group by transaction_id
    having count(*) > 1
),

keys_also_on_other_days as (
    select checked_keys.transaction_id
    from checked_keys
    inner join transaction_keys
        on
            checked_keys.key_fingerprint = transaction_keys.key_fingerprint
            and checked_keys.transaction_date != transaction_keys.transaction_date
),

duplicated_keys as (
    select transaction_id from keys_repeated_on_checked_days
    union distinct
    select transaction_id from keys_also_on_other_days
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

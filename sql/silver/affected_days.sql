-- UTC days a staged transactions load touches, read before the merge.
-- Grain: one row per day. A staged row touches its own day and, when its key is already in
-- silver, the day that row sits on now: an order that moved changes its old day too.
--
-- The days of the keys already in silver come from the key -> day index silver.transaction_keys
-- (64-bit fingerprints and a date: a narrow scan instead of every transaction_id of silver). Two
-- keys sharing a fingerprint only add a day that did not need rebuilding.
with

staged_transactions as (
    select * from silver.transactions_staging
),

transaction_keys as (
    select * from silver.transaction_keys
),

staged_keys as (
    select distinct farm_fingerprint(transaction_id) as key_fingerprint
    from staged_transactions
),

replaced_days as (
    select transaction_keys.transaction_date as day
    from transaction_keys
    inner join staged_keys
        on transaction_keys.key_fingerprint = staged_keys.key_fingerprint
),

touched_days as (
    select date(transaction_ts) as day from staged_transactions
    union all
    select day from replaced_days
),

final as (
    select distinct day
    from touched_days
)

select * from final

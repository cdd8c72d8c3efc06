-- UTC days a staged transactions load touches, read before the merge.
-- Grain: one row per day. A staged row touches its own day and, when its key is already in
-- silver, the day that row sits on now: an order that moved changes its old day too.
with

staged_transactions as (
    select * from silver.transactions_staging
),

-- Every partition on purpose: a staged key can replace a row on any earlier day. The bound is
-- always true and only satisfies require_partition_filter.
current_transactions as (
    select * from silver.transactions
    where transaction_ts >= timestamp '0001-01-01 00:00:00+00'
),

replaced_transactions as (
    select current_transactions.transaction_ts
    from current_transactions
    inner join staged_transactions
        on current_transactions.transaction_id = staged_transactions.transaction_id
),

touched_days as (
    select date(transaction_ts) as day from staged_transactions
    union all
    select date(transaction_ts) as day from replaced_transactions
),

final as (
    select distinct day
    from touched_days
)

select * from final

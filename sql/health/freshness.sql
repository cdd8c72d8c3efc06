-- The run-health page's freshness: the latest transaction in silver and how many days of
-- transactions the last 400 days hold (400: the history a restatement covers by default). Reads
-- only the partitions from @run_date - 400 on.
with

recent_transactions as (
    select transaction_ts from silver.transactions
    where date(transaction_ts) >= @run_date - 400
),

final as (
    select
        max(transaction_ts) as latest_transaction,
        count(distinct date(transaction_ts)) as days_with_transactions
    from recent_transactions
)

select * from final

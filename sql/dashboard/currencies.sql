-- The currencies of the completed orders behind the dashboard's amounts, over the last 400 days
-- (the history a restatement covers by default; reads only those partitions). More than one
-- currency means the gold amounts add different currencies, and the page says so.
with

completed as (
    select currency
    from silver.transactions
    where
        date(transaction_ts) >= @run_date - 400
        and status = 'completed'
),

final as (
    select
        currency,
        count(*) as orders
    from completed
    group by currency
    order by orders desc, currency asc
)

select * from final

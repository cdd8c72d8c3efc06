-- The currencies of the completed orders behind the dashboard's amounts, over the last 400 days
-- (the history a restatement covers by default; reads only those partitions): how many orders
-- each holds and how many have no amount in the reporting currency (no usable rate: left out of
-- every gold amount, and checks/fx_rate_missing.sql fails), so the page says what it converted
-- and what it could not.
with

completed as (
    select
        currency,
        amount_reporting
    from silver.transactions
    where
        date(transaction_ts) >= @run_date - 400
        and status = 'completed'
),

final as (
    select
        currency,
        count(*) as orders,
        countif(amount_reporting is null) as unconverted
    from completed
    group by currency
    order by orders desc, currency asc
)

select * from final

-- The days of orders in the reporting currency whose amount_reporting is not set: only a
-- warehouse whose silver predates the column holds them (silver/transactions_convert.sql sets
-- every such order to its amount), so the local load adds these days to its affected days once,
-- converting them and rebuilding their gold; afterwards this finds none.
with

unconverted as (
    select distinct date(transaction_ts) as day
    from silver.transactions
    where
        amount_reporting is null
        and currency = @reporting_currency
),

final as (
    select day from unconverted
    order by day
)

select * from final

-- Completed orders and revenue per customer and UTC day, for the days in @days (the runner
-- overwrites those partitions). Grain: one row per customer_id and order_date with any order
-- (0 completed orders when the day had only refunds or cancellations). This is the compact
-- per-customer state gold/customer_rfm.sql reads instead of rescanning silver.
-- Amounts are in the reporting currency: amount_reporting, converted once by the silver load
-- (silver/transactions_convert.sql; the silver gate fails the run when an order has no rate).
with

transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
),

final as (
    select
        date(transaction_ts) as order_date,
        customer_id,
        countif(status = 'completed') as orders,
        sum(if(status = 'completed', amount_reporting, 0)) as revenue
    from transactions
    group by order_date, customer_id
)

select * from final

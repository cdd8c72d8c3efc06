-- Average order value per UTC day and sales channel, for the days in @days (the runner overwrites
-- those partitions). Grain: one row per order_date and channel with any order. Only completed
-- orders count as orders and revenue; refunded and cancelled amounts are reported beside them.
-- Orders without a channel count under 'unknown'.
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

dated_transactions as (
    select
        date(transaction_ts) as order_date,
        coalesce(channel, 'unknown') as channel,
        status,
        amount_reporting
    from transactions
),

channel_days as (
    select
        order_date,
        channel,
        countif(status = 'completed') as orders,
        sum(if(status = 'completed', amount_reporting, 0)) as revenue,
        sum(if(status = 'refunded', amount_reporting, 0)) as refunded_amount,
        sum(if(status = 'cancelled', amount_reporting, 0)) as cancelled_amount
    from dated_transactions
    group by order_date, channel
),

final as (
    select
        order_date,
        channel,
        orders,
        revenue,
        -- Rounds whole cents: DuckDB divides NUMERIC as FLOAT64, where 0.075 is 0.07499..., and a
        -- cents quotient keeps halves exact, so both engines round half away from zero alike.
        round(safe_divide(revenue * 100, orders)) / 100 as aov,
        refunded_amount,
        cancelled_amount
    from channel_days
)

select * from final

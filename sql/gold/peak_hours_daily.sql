-- Completed orders and revenue per UTC day, by day of week and hour of day in @reporting_tz, for
-- the days in @days (the runner overwrites those partitions; gold/peak_hours.sql sums them).
-- Grain: one row per order_date, day_of_week and hour_of_day with completed orders. order_date
-- stays the UTC day (the partition), so one local day can span two partitions; day_of_week is
-- ISO (1 = Monday) and both follow the zone's DST rules.
-- Amounts are in the reporting currency: amount_reporting, converted once by the silver load
-- (silver/transactions_convert.sql; the silver gate fails the run when an order has no rate).
with

completed_transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
        and status = 'completed'
),

localized_transactions as (
    select
        date(transaction_ts) as order_date,
        -- format_date('%u') rather than extract(dayofweek): ISO numbering on both engines.
        cast(format_date('%u', date(transaction_ts, @reporting_tz)) as int64) as day_of_week,
        extract(hour from transaction_ts at time zone @reporting_tz) as hour_of_day,
        amount_reporting
    from completed_transactions
),

final as (
    select
        order_date,
        day_of_week,
        hour_of_day,
        count(*) as orders,
        sum(amount_reporting) as revenue
    from localized_transactions
    group by order_date, day_of_week, hour_of_day
)

select * from final

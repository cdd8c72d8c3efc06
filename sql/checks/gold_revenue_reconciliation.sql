-- severity: error
-- stage: gold
-- description: completed revenue per checked day in silver equals revenue in the daily gold tables
-- gold.aov_daily, gold.customer_daily and gold.peak_hours_daily each hold a day's whole completed
-- revenue (in the reporting currency: amount_reporting), split by channel, customer or hour; a
-- day missing on one side counts as 0 there.
with

checked_days as (
    select distinct day
    from unnest(@days) as day
),

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

aov_daily as (
    select * from gold.aov_daily
    where
        order_date in unnest(@days)
        and order_date between @first_day and @last_day
),

customer_daily as (
    select * from gold.customer_daily
    where
        order_date in unnest(@days)
        and order_date between @first_day and @last_day
),

peak_hours_daily as (
    select * from gold.peak_hours_daily
    where
        order_date in unnest(@days)
        and order_date between @first_day and @last_day
),

silver_revenue as (
    select
        date(transaction_ts) as day,
        sum(amount_reporting) as revenue
    from completed_transactions
    group by day
),

aov_daily_revenue as (
    select
        order_date as day,
        sum(revenue) as revenue
    from aov_daily
    group by day
),

customer_daily_revenue as (
    select
        order_date as day,
        sum(revenue) as revenue
    from customer_daily
    group by day
),

peak_hours_daily_revenue as (
    select
        order_date as day,
        sum(revenue) as revenue
    from peak_hours_daily
    group by day
),

day_revenues as (
    select
        checked_days.day,
        coalesce(silver_revenue.revenue, 0) as silver_revenue,
        coalesce(aov_daily_revenue.revenue, 0) as aov_daily_revenue,
        coalesce(customer_daily_revenue.revenue, 0) as customer_daily_revenue,
        coalesce(peak_hours_daily_revenue.revenue, 0) as peak_hours_daily_revenue
    from checked_days
    left join silver_revenue
        on checked_days.day = silver_revenue.day
    left join aov_daily_revenue
        on checked_days.day = aov_daily_revenue.day
    left join customer_daily_revenue
        on checked_days.day = customer_daily_revenue.day
    left join peak_hours_daily_revenue
        on checked_days.day = peak_hours_daily_revenue.day
),

mismatched_days as (
    select * from day_revenues
    where
        aov_daily_revenue != silver_revenue
        or customer_daily_revenue != silver_revenue
        or peak_hours_daily_revenue != silver_revenue
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' days where gold revenue differs from silver',
            coalesce(concat(
                ': ',
                string_agg(
                    concat(
                        cast(day as string),
                        ' silver=', cast(silver_revenue as string),
                        ' aov_daily=', cast(aov_daily_revenue as string),
                        ' customer_daily=', cast(customer_daily_revenue as string),
                        ' peak_hours_daily=', cast(peak_hours_daily_revenue as string)
                    ),
                    ', ' order by day
                )
            ), '')
        ) as detail
    from mismatched_days
)

select * from final

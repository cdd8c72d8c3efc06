-- The dashboard's heatmap: completed orders per day, ISO day of week and hour in the reporting
-- time zone, summed over the chosen dates on the page.
with

hour_days as (
    select
        order_date,
        day_of_week,
        hour_of_day,
        orders,
        cast(round(revenue * 100) as int64) as revenue_cents
    from gold.peak_hours_daily
    where orders > 0
),

final as (
    select * from hour_days
    order by order_date, day_of_week, hour_of_day
)

select * from final

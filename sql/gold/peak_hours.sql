-- Completed orders and revenue by day of week and hour of day in the reporting time zone, over
-- all history, summed from gold.peak_hours_daily. Grain: 168 rows, every ISO day_of_week
-- (1 = Monday) and hour_of_day (0-23), zero-filled.
with

peak_hours_daily as (
    select * from gold.peak_hours_daily
),

week_hours as (
    select
        day_of_week,
        hour_of_day
    from unnest(generate_array(1, 7)) as day_of_week
    cross join unnest(generate_array(0, 23)) as hour_of_day
),

hourly_totals as (
    select
        day_of_week,
        hour_of_day,
        sum(orders) as orders,
        sum(revenue) as revenue
    from peak_hours_daily
    group by day_of_week, hour_of_day
),

final as (
    select
        week_hours.day_of_week,
        week_hours.hour_of_day,
        coalesce(hourly_totals.orders, 0) as orders,
        coalesce(hourly_totals.revenue, 0) as revenue
    from week_hours
    left join hourly_totals
        on
            week_hours.day_of_week = hourly_totals.day_of_week
            and week_hours.hour_of_day = hourly_totals.hour_of_day
)

select * from final

-- severity: warn
-- stage: silver
-- description: each checked day has 50%-200% of the rows of its trailing 7-day median
-- The median is over the days among the 7 before the checked day that hold rows, and a day is
-- judged only when there are at least 3 of them. Date arithmetic uses date - int64: the DuckDB
-- transpile of date_sub yields a TIMESTAMP.
with

checked_days as (
    select distinct day
    from unnest(@days) as day
),

-- Only the partitions of the trailing windows: 7 days before the first checked day to the last,
-- as a range on the column itself (scalar-subquery bounds are not pushed into DuckDB's scan).
window_transactions as (
    select * from silver.transactions
    where
        transaction_ts >= timestamp(@first_day - 7)
        and transaction_ts < timestamp(@last_day + 1)
),

daily_counts as (
    select
        date(transaction_ts) as day,
        count(*) as row_count
    from window_transactions
    group by day
),

trailing_counts as (
    select
        checked_days.day,
        daily_counts.row_count
    from checked_days
    inner join daily_counts
        on daily_counts.day between checked_days.day - 7 and checked_days.day - 1
),

trailing_medians as (
    select distinct
        day,
        count(*) over (partition by day) as prior_days,
        percentile_cont(row_count, 0.5) over (partition by day) as median_rows
    from trailing_counts
),

judged_days as (
    select
        checked_days.day,
        coalesce(daily_counts.row_count, 0) as row_count,
        trailing_medians.prior_days,
        trailing_medians.median_rows
    from checked_days
    left join daily_counts
        on checked_days.day = daily_counts.day
    left join trailing_medians
        on checked_days.day = trailing_medians.day
),

anomalous_days as (
    select * from judged_days
    where
        prior_days >= 3
        and (row_count < 0.5 * median_rows or row_count > 2 * median_rows)
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' checked days outside 50%-200% of their trailing 7-day median',
            coalesce(concat(
                ': ',
                string_agg(
                    concat(
                        cast(day as string),
                        ' rows=', cast(row_count as string),
                        ' median=', cast(median_rows as string)
                    ),
                    ', ' order by day
                )
            ), '')
        ) as detail
    from anomalous_days
)

select * from final

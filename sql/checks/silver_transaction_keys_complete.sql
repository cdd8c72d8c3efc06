-- severity: error
-- stage: silver
-- description: the key -> day index silver.transaction_keys counts every row of silver.transactions
-- The load finds the days of keys already in silver through the index (silver/affected_days.sql),
-- so a row missing from it could be duplicated by a later load. Compared: the rows of each checked
-- day (@days, pruned), and the whole tables' row counts (DuckDB reads both from metadata; BigQuery
-- at most the index's row_count column and silver's partition column).
with

checked_days as (
    select distinct day
    from unnest(@days) as day
),

checked_transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
),

checked_transaction_keys as (
    select * from silver.transaction_keys
    where
        transaction_date in unnest(@days)
        and transaction_date between @first_day and @last_day
),

-- Every partition on purpose: the bound is always true and only satisfies require_partition_filter.
all_transactions as (
    select * from silver.transactions
    where transaction_ts >= timestamp '0001-01-01 00:00:00+00'
),

all_transaction_keys as (
    select * from silver.transaction_keys
),

silver_day_rows as (
    select
        date(transaction_ts) as day,
        count(*) as row_count
    from checked_transactions
    group by day
),

indexed_day_rows as (
    select
        transaction_date as day,
        sum(row_count) as row_count
    from checked_transaction_keys
    group by day
),

day_counts as (
    select
        checked_days.day,
        coalesce(silver_day_rows.row_count, 0) as silver_rows,
        coalesce(indexed_day_rows.row_count, 0) as indexed_rows
    from checked_days
    left join silver_day_rows
        on checked_days.day = silver_day_rows.day
    left join indexed_day_rows
        on checked_days.day = indexed_day_rows.day
),

silver_total as (
    select count(*) as silver_rows
    from all_transactions
),

indexed_total as (
    select coalesce(sum(row_count), 0) as indexed_rows
    from all_transaction_keys
),

total_counts as (
    select
        silver_total.silver_rows,
        indexed_total.indexed_rows
    from silver_total
    cross join indexed_total
),

mismatches as (
    select
        cast(day as string) as scope,
        silver_rows,
        indexed_rows
    from day_counts
    where silver_rows != indexed_rows
    union all
    select
        'all days' as scope,
        silver_rows,
        indexed_rows
    from total_counts
    where silver_rows != indexed_rows
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' mismatches between silver.transactions and silver.transaction_keys',
            coalesce(concat(
                ': ',
                string_agg(
                    concat(
                        scope,
                        ' silver=', cast(silver_rows as string),
                        ' indexed=', cast(indexed_rows as string)
                    ),
                    ', ' order by scope
                )
            ), '')
        ) as detail
    from mismatches
)

select * from final

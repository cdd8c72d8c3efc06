-- severity: error
-- stage: silver
-- description: status of silver.transactions is completed, refunded or cancelled
with

checked_transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
),

rejected_statuses as (
    select
        coalesce(status, 'NULL') as rejected_status,
        count(*) as row_count
    from checked_transactions
    where status is null or status not in ('completed', 'refunded', 'cancelled')
    group by rejected_status
),

final as (
    select
        coalesce(sum(row_count), 0) as failures,
        concat(
            cast(coalesce(sum(row_count), 0) as string),
            ' rows with a status outside completed, refunded, cancelled',
            coalesce(concat(
                ': ',
                string_agg(
                    concat(rejected_status, '=', cast(row_count as string)),
                    ', ' order by rejected_status
                )
            ), '')
        ) as detail
    from rejected_statuses
)

select * from final

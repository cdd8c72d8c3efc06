-- severity: warn
-- stage: silver
-- description: the latest transaction is at most 2 days older than @run_date
-- Reads only the partitions from @run_date - 2 days on: the data is fresh when any row sits there.
-- Date arithmetic uses date - int64: the DuckDB transpile of date_sub yields a TIMESTAMP.
with

recent_transactions as (
    select * from silver.transactions
    where date(transaction_ts) >= @run_date - 2
),

recent_days as (
    select max(date(transaction_ts)) as latest_day
    from recent_transactions
),

final as (
    select
        if(latest_day is null, 1, 0) as failures,
        if(
            latest_day is null,
            concat(
                'no transaction on or after ',
                cast(@run_date - 2 as string),
                ' (run date ', cast(@run_date as string), ')'
            ),
            concat('latest transaction day ', cast(latest_day as string))
        ) as detail
    from recent_days
)

select * from final

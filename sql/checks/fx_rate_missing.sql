-- severity: error
-- stage: silver
-- description: every order in another currency than the reporting one has a rate within the gap
-- An order whose amount_reporting is null (silver/transactions_convert.sql found no rate of its
-- currency on its UTC day nor up to @fx_max_gap_days before) would drop out of every gold amount:
-- the run stops before gold, naming each currency and the days lacking a rate. Landing the rates
-- (fx_rates/) re-converts those days and queues them for gold on the next run. A shop whose
-- orders are all in one other currency (EUR only) needs no rates: its reporting currency is set
-- to that one instead, which the detail says too.
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

unconverted_days as (
    select
        currency,
        date(transaction_ts) as transaction_date,
        count(*) as row_count
    from checked_transactions
    where amount_reporting is null
    group by currency, transaction_date
),

unconverted_currencies as (
    select
        currency,
        sum(row_count) as row_count,
        string_agg(cast(transaction_date as string), ', ' order by transaction_date) as days
    from unconverted_days
    group by currency
),

final as (
    select
        coalesce(sum(row_count), 0) as failures,
        concat(
            cast(coalesce(sum(row_count), 0) as string),
            ' orders with no rate into ', @reporting_currency,
            ' on their day or up to ', cast(@fx_max_gap_days as string), ' days before',
            coalesce(concat(
                ': ',
                string_agg(
                    concat(
                        currency, ' (', cast(row_count as string), ' orders) on ', days
                    ),
                    '; ' order by currency
                ),
                '; land their rates under fx_rates/, or, when the orders are all in one',
                ' currency, make it the reporting one (CDI_REPORTING_CURRENCY;',
                ' reportingCurrency under cdi:pipeline in the stack)'
            ), '')
        ) as detail
    from unconverted_currencies
)

select * from final

-- UTC days a staged transactions load touches, read before the merge.
-- Grain: one row per day. A staged row touches its own day and, when its key is already in
-- silver, the day that row sits on now: an order that moved changes its old day too.
--
-- The days of the keys already in silver come from the key -> day index silver.transaction_keys
-- (64-bit fingerprints and a date: a narrow scan instead of every transaction_id of silver). Two
-- keys sharing a fingerprint only add a day that did not need rebuilding.
--
-- A staged exchange rate that is new or differs from the one held can change the amount in the
-- reporting currency of its currency's orders from its day to @fx_max_gap_days later
-- (silver/transactions_convert.sql): the days in that range holding orders are touched too (any
-- order, from the index: a day without an order of that currency is only rebuilt for nothing).
with

staged_transactions as (
    select * from silver.transactions_staging
),

transaction_keys as (
    select * from silver.transaction_keys
),

staged_keys as (
    select distinct farm_fingerprint(transaction_id) as key_fingerprint
    from staged_transactions
),

replaced_days as (
    select transaction_keys.transaction_date as day
    from transaction_keys
    inner join staged_keys
        on transaction_keys.key_fingerprint = staged_keys.key_fingerprint
),

staged_fx_rates as (
    select * from silver.fx_rates_staging
),

fx_rates as (
    select * from silver.fx_rates
),

changed_rates as (
    select
        staged_fx_rates.date,
        staged_fx_rates.currency
    from staged_fx_rates
    left join fx_rates
        on
            staged_fx_rates.date = fx_rates.date
            and staged_fx_rates.currency = fx_rates.currency
    where fx_rates.rate is null or fx_rates.rate != staged_fx_rates.rate
),

rate_days as (
    select transaction_keys.transaction_date as day
    from transaction_keys
    inner join changed_rates
        on
            transaction_keys.transaction_date
            between changed_rates.date and changed_rates.date + @fx_max_gap_days
),

touched_days as (
    select date(transaction_ts) as day from staged_transactions
    union all
    select day from replaced_days
    union all
    select day from rate_days
),

final as (
    select distinct day
    from touched_days
)

select * from final

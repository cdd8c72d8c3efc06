-- Convert the amounts of the affected days (@days) into the reporting currency
-- (@reporting_currency): amount_reporting = amount x the rate of the order's currency on its UTC
-- day, or on the latest earlier day within @fx_max_gap_days (a rates feed has no weekends or
-- holidays), rounded to cents half away from zero; an order in the reporting currency is its
-- amount; an order with no such rate gets null, which checks/fx_rate_missing.sql fails on.
-- Grain: one silver.transactions row per order, updated in place.
--
-- Why here, once, and not in each gold file: every gold amount (aov_daily, agent_performance,
-- customer_daily, peak_hours_daily, and the revenue reconciliation) then sums one column, and
-- the rule "which rate applies" has one home. A rate that arrives or changes later re-converts
-- the days it can reach: silver/affected_days.sql adds them to @days, which also queues them for
-- the gold build. Run after the transactions and fx_rates MERGEs, in their transaction.
update silver.transactions as transactions
set amount_reporting = converted.amount_reporting
from (
    with

    day_transactions as (
        select
            transaction_id,
            date(transaction_ts) as transaction_date,
            amount,
            currency
        from silver.transactions
        where
            date(transaction_ts) in unnest(@days)
            and transaction_ts >= timestamp(@first_day)
            and transaction_ts < timestamp(@last_day + 1)
    ),

    fx_rates as (
        select * from silver.fx_rates
        where date between @first_day - @fx_max_gap_days and @last_day
    ),

    -- The latest rate of the order's currency on its day or up to @fx_max_gap_days before.
    usable_rates as (
        select
            day_transactions.transaction_id,
            fx_rates.rate
        from day_transactions
        inner join fx_rates
            on
                day_transactions.currency = fx_rates.currency
                and fx_rates.date between day_transactions.transaction_date - @fx_max_gap_days
                and day_transactions.transaction_date
        where day_transactions.currency != @reporting_currency
        qualify row_number() over (
            partition by day_transactions.transaction_id order by fx_rates.date desc
        ) = 1
    ),

    final as (
        select
            day_transactions.transaction_id,
            day_transactions.transaction_date,
            cast(
                if(
                    day_transactions.currency = @reporting_currency,
                    day_transactions.amount,
                    round(day_transactions.amount * usable_rates.rate, 2)
                ) as numeric
            ) as amount_reporting
        from day_transactions
        left join usable_rates
            on day_transactions.transaction_id = usable_rates.transaction_id
    )

    select * from final
) as converted
where
    transactions.transaction_id = converted.transaction_id
    and date(transactions.transaction_ts) = converted.transaction_date
    and date(transactions.transaction_ts) in unnest(@days)
    and transactions.transaction_ts >= timestamp(@first_day)
    and transactions.transaction_ts < timestamp(@last_day + 1)

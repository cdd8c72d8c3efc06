-- Recency, frequency and monetary scores per customer as of @run_date, from the compact
-- per-customer state gold.customer_state (totals up to the watermark @run_date - 7, advanced by
-- gold/customer_state_merge.sql just before) and the days of gold.customer_daily after the
-- watermark: never by rescanning silver, and without reading every customer-day. Grain: one row
-- per customer with a completed order on or before as_of_date.
--
-- as_of_date = least(@run_date, the day after the latest order day in gold.customer_daily): a run
-- on historical input scores as of the day after its latest order. Orders after as_of_date are
-- left out, so a backfill of an old run date scores as of that date and recency is never negative.
-- The state holds no day after as_of_date: either as_of_date is @run_date, after the watermark, or
-- every order is before as_of_date.
--
-- Scores are quintiles, ntile(5), over a total order: ties are broken by customer_id so that every
-- engine returns the same rows. r_score 5 = most recent, f_score 5 = most completed orders,
-- m_score 5 = highest revenue.
--
-- segment is the first rule matching (r_score, f_score); together they cover all 25 cells:
--   Champions          r >= 4 and f >= 4
--   Loyal              r >= 3 and f >= 3
--   New                r >= 4 and f <= 2
--   About to sleep     r  = 3 and f <= 2
--   Cannot lose them   r <= 2 and f >= 4
--   At risk            r <= 2 and f  = 3
--   Hibernating        r <= 2 and f <= 2
with

customer_state as (
    select * from gold.customer_state
),

-- The days after the state's watermark, and any after @run_date (there on a backfill).
recent_customer_days as (
    select * from gold.customer_daily
    where order_date > @run_date - 7
),

latest_days as (
    select max(order_date) as latest_day
    from recent_customer_days
    union all
    select max(last_active_date) as latest_day
    from customer_state
),

as_of as (
    -- date + int64 rather than date_add(): the DuckDB transpile of date_add yields a TIMESTAMP.
    select least(@run_date, max(latest_day) + 1) as as_of_date
    from latest_days
),

customer_periods as (
    select
        customer_id,
        orders,
        revenue,
        last_order_date
    from customer_state
    union all
    select
        recent_customer_days.customer_id,
        recent_customer_days.orders,
        recent_customer_days.revenue,
        if(
            recent_customer_days.orders > 0, recent_customer_days.order_date, null
        ) as last_order_date
    from recent_customer_days
    cross join as_of
    where recent_customer_days.order_date <= as_of.as_of_date
),

customer_totals as (
    select
        customer_periods.customer_id,
        as_of.as_of_date,
        max(customer_periods.last_order_date) as last_order_date,
        sum(customer_periods.orders) as frequency,
        sum(customer_periods.revenue) as monetary
    from customer_periods
    cross join as_of
    group by customer_periods.customer_id, as_of.as_of_date
    having sum(customer_periods.orders) > 0
),

customer_recency as (
    select
        customer_id,
        as_of_date,
        date_diff(as_of_date, last_order_date, day) as recency_days,
        frequency,
        monetary
    from customer_totals
),

customer_scores as (
    select
        customer_id,
        as_of_date,
        recency_days,
        frequency,
        monetary,
        ntile(5) over (order by recency_days desc, customer_id asc) as r_score,
        ntile(5) over (order by frequency, customer_id) as f_score,
        ntile(5) over (order by monetary, customer_id) as m_score
    from customer_recency
),

final as (
    select
        customer_id,
        as_of_date,
        recency_days,
        frequency,
        monetary,
        r_score,
        f_score,
        m_score,
        case
            when r_score >= 4 and f_score >= 4 then 'Champions'
            when r_score >= 3 and f_score >= 3 then 'Loyal'
            when r_score >= 4 and f_score <= 2 then 'New'
            when r_score = 3 and f_score <= 2 then 'About to sleep'
            when r_score <= 2 and f_score >= 4 then 'Cannot lose them'
            when r_score <= 2 and f_score = 3 then 'At risk'
            when r_score <= 2 and f_score <= 2 then 'Hibernating'
        end as segment
    from customer_scores
)

select * from final

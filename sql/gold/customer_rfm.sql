-- Recency, frequency and monetary scores per customer as of @run_date, computed from the compact
-- per-customer state gold.customer_daily, never by rescanning silver. Grain: one row per customer
-- with a completed order on or before as_of_date.
--
-- as_of_date = least(@run_date, the day after the latest order day in gold.customer_daily): a run
-- on historical input scores as of the day after its latest order. Orders after as_of_date are
-- left out, so a backfill of an old run date scores as of that date and recency is never negative.
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

customer_daily as (
    select * from gold.customer_daily
),

as_of as (
    -- date + int64 rather than date_add(): the DuckDB transpile of date_add yields a TIMESTAMP.
    select least(@run_date, max(order_date) + 1) as as_of_date
    from customer_daily
),

customer_totals as (
    select
        customer_daily.customer_id,
        as_of.as_of_date,
        max(customer_daily.order_date) as last_order_date,
        sum(customer_daily.orders) as frequency,
        sum(customer_daily.revenue) as monetary
    from customer_daily
    cross join as_of
    where
        customer_daily.orders > 0
        and customer_daily.order_date <= as_of.as_of_date
    group by customer_daily.customer_id, as_of.as_of_date
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

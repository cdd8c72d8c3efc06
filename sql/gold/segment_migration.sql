-- Customers moving between RFM segments since the previous month end: for the as_of_date of
-- gold.customer_rfm, each customer's segment on the last day of the month before (from_segment)
-- against their segment now (to_segment). Grain: one row per as_of_date, from_segment and
-- to_segment with at least one customer; a customer who kept their segment counts in the row
-- where from_segment = to_segment, so the rows of an as_of_date add up to gold.customer_rfm.
-- from_segment is 'No prior order' for a customer with no completed order on or before the
-- previous month end (not 'New', which is an RFM segment).
--
-- to_segment is read from gold.customer_rfm itself, not recomputed. from_segment is RFM as it
-- would have been scored with as_of_date = previous month end: the same rules as
-- gold/customer_rfm.sql (completed orders on or before that day; recency from that day; ntile(5)
-- quintiles with ties broken by customer_id; the first segment rule matching r_score, f_score).
-- They are restated here, not shared: customer_rfm.sql scores only as of the run date, from the
-- state gold.customer_state (totals up to the run date - 7, which may be after the previous month
-- end), so it cannot score an earlier day. tests/sql/test_sql_gold.py checks that the scoring and
-- the segment rules of the two files are the same expressions, and that both give the same
-- segments for the same orders. m_score is not computed: no segment rule reads it.
--
-- A whole table on every run (`table` mode), like gold.customer_rfm: it reads gold.customer_daily
-- up to the previous month end.
with

customer_rfm as (
    select * from gold.customer_rfm
),

as_of as (
    -- last_day() of a day in the month before: a DATE on both engines (the DuckDB transpile of
    -- date_trunc and date_sub yields a TIMESTAMP, which last_day turns back into a DATE).
    select distinct
        as_of_date,
        last_day(date_sub(as_of_date, interval 1 month), month) as previous_month_end
    from customer_rfm
),

customer_daily as (
    select * from gold.customer_daily
    where orders > 0
),

previous_totals as (
    select
        customer_daily.customer_id,
        as_of.previous_month_end,
        max(customer_daily.order_date) as last_order_date,
        sum(customer_daily.orders) as frequency
    from customer_daily
    cross join as_of
    where customer_daily.order_date <= as_of.previous_month_end
    group by customer_daily.customer_id, as_of.previous_month_end
),

previous_recency as (
    select
        customer_id,
        date_diff(previous_month_end, last_order_date, day) as recency_days,
        frequency
    from previous_totals
),

previous_scores as (
    select
        customer_id,
        ntile(5) over (order by recency_days desc, customer_id asc) as r_score,
        ntile(5) over (order by frequency, customer_id) as f_score
    from previous_recency
),

previous_segments as (
    select
        customer_id,
        case
            when r_score >= 4 and f_score >= 4 then 'Champions'
            when r_score >= 3 and f_score >= 3 then 'Loyal'
            when r_score >= 4 and f_score <= 2 then 'New'
            when r_score = 3 and f_score <= 2 then 'About to sleep'
            when r_score <= 2 and f_score >= 4 then 'Cannot lose them'
            when r_score <= 2 and f_score = 3 then 'At risk'
            when r_score <= 2 and f_score <= 2 then 'Hibernating'
        end as segment
    from previous_scores
),

customer_moves as (
    select
        customer_rfm.as_of_date,
        coalesce(previous_segments.segment, 'No prior order') as from_segment,
        customer_rfm.segment as to_segment
    from customer_rfm
    left join previous_segments
        on customer_rfm.customer_id = previous_segments.customer_id
),

final as (
    select
        as_of_date,
        from_segment,
        to_segment,
        count(*) as customers
    from customer_moves
    group by as_of_date, from_segment, to_segment
)

select * from final

-- The dashboard's RFM segments: customers, revenue and average scores per segment as of the
-- latest scoring day. RFM is a snapshot, so the page's date filter does not apply to it.
with

latest as (
    select max(as_of_date) as as_of_date from gold.customer_rfm
),

scored as (
    select customer_rfm.*
    from gold.customer_rfm
    inner join latest on customer_rfm.as_of_date = latest.as_of_date
),

final as (
    select
        segment,
        any_value(as_of_date) as as_of_date,
        count(*) as customers,
        cast(round(sum(monetary) * 100) as int64) as revenue_cents,
        avg(recency_days) as avg_recency_days,
        avg(frequency) as avg_frequency
    from scored
    group by segment
    order by customers desc, segment asc
)

select * from final

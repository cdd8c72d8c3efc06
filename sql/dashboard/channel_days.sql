-- The dashboard's daily figures per channel: what its date filter and channel selection sum into
-- the KPI tiles, the revenue chart and the AOV chart. Amounts in cents, so that the page's sums
-- are exact.
with

channel_days as (
    select
        order_date,
        channel,
        orders,
        cast(round(revenue * 100) as int64) as revenue_cents,
        cast(round(refunded_amount * 100) as int64) as refunded_cents,
        cast(round(cancelled_amount * 100) as int64) as cancelled_cents
    from gold.aov_daily
),

final as (
    select * from channel_days
    order by order_date, channel
)

select * from final

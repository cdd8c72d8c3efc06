-- Agent performance per UTC day, for the days in @days (the runner overwrites those partitions).
-- Grain: one row per agent_id and order_date with any order; self-service orders (no agent) are
-- left out. Orders, revenue, aov and distinct_customers count completed orders only; refund_rate
-- is refunded / (completed + refunded) orders; rank_in_day ranks agents by revenue within the day
-- (1 = highest, ties share a rank).
-- Amounts are in the reporting currency: amount_reporting, converted once by the silver load
-- (silver/transactions_convert.sql; the silver gate fails the run when an order has no rate).
with

transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
        and agent_id is not null
),

agents as (
    select * from silver.agents
),

agent_days as (
    select
        date(transaction_ts) as order_date,
        agent_id,
        countif(status = 'completed') as orders,
        countif(status = 'refunded') as refunded_orders,
        sum(if(status = 'completed', amount_reporting, 0)) as revenue,
        count(distinct if(status = 'completed', customer_id, null)) as distinct_customers
    from transactions
    group by order_date, agent_id
),

final as (
    select
        agent_days.order_date,
        agent_days.agent_id,
        agents.agent_name,
        agent_days.orders,
        agent_days.revenue,
        -- Rounds whole cents: see gold/aov_daily.sql.
        round(safe_divide(agent_days.revenue * 100, agent_days.orders)) / 100 as aov,
        agent_days.distinct_customers,
        safe_divide(
            agent_days.refunded_orders, agent_days.orders + agent_days.refunded_orders
        ) as refund_rate,
        rank() over (
            partition by agent_days.order_date
            order by agent_days.revenue desc
        ) as rank_in_day
    from agent_days
    left join agents
        on agent_days.agent_id = agents.agent_id
)

select * from final

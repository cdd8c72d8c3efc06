-- The dashboard's agent leaderboard: each agent's completed orders and revenue per day, summed
-- over the chosen dates on the page. The name is the agent's latest known one.
with

agent_days as (
    select
        order_date,
        agent_id,
        orders,
        cast(round(revenue * 100) as int64) as revenue_cents
    from gold.agent_performance
),

named_days as (
    select
        agent_id,
        agent_name,
        row_number() over (partition by agent_id order by order_date desc) as newest_first
    from gold.agent_performance
    where agent_name is not null
),

agent_names as (
    select
        agent_id,
        agent_name
    from named_days
    where newest_first = 1
),

final as (
    select
        agent_days.order_date,
        agent_days.agent_id,
        agent_names.agent_name,
        agent_days.orders,
        agent_days.revenue_cents
    from agent_days
    left join agent_names on agent_days.agent_id = agent_names.agent_id
    order by agent_days.order_date, agent_days.agent_id
)

select * from final

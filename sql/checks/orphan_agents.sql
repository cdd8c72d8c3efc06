-- severity: warn
-- stage: silver
-- description: transactions of the checked days whose agent_id is not in silver.agents
-- Self-service orders (agent_id null) are not orphans.
with

checked_transactions as (
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

orphan_transactions as (
    select checked_transactions.agent_id
    from checked_transactions
    left join agents
        on checked_transactions.agent_id = agents.agent_id
    where agents.agent_id is null
),

orphan_agents as (
    select
        agent_id,
        count(*) as row_count,
        row_number() over (order by agent_id) as example_rank
    from orphan_transactions
    group by agent_id
),

final as (
    select
        coalesce(sum(row_count), 0) as failures,
        concat(
            cast(coalesce(sum(row_count), 0) as string),
            ' transactions name ',
            cast(count(*) as string),
            ' agent_id values missing from silver.agents',
            coalesce(concat(
                ', e.g. ',
                string_agg(if(example_rank <= 5, agent_id, null), ', ' order by agent_id)
            ), '')
        ) as detail
    from orphan_agents
)

select * from final

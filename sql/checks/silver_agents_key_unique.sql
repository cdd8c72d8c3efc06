-- severity: error
-- stage: silver
-- description: agent_id is unique in silver.agents
with

agents as (
    select * from silver.agents
),

duplicated_keys as (
    select
        agent_id,
        count(*) as row_count
    from agents
    group by agent_id
    having count(*) > 1
),

ranked_keys as (
    select
        agent_id,
        row_number() over (order by agent_id) as example_rank
    from duplicated_keys
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' agent_id values have more than one row',
            coalesce(concat(
                ', e.g. ',
                string_agg(if(example_rank <= 5, agent_id, null), ', ' order by agent_id)
            ), '')
        ) as detail
    from ranked_keys
)

select * from final

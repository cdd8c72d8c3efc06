-- Upsert the staged agents into silver on agent_id (current state: the latest record wins).
-- Grain: one row per agent.
merge silver.agents as agents
using silver.agents_staging as staged_agents
    on agents.agent_id = staged_agents.agent_id
when matched then
    update set
        agent_name = staged_agents.agent_name,
        team = staged_agents.team,
        hire_date = staged_agents.hire_date,
        extra = staged_agents.extra,
        source_file = staged_agents.source_file,
        record_number = staged_agents.record_number,
        run_id = staged_agents.run_id
when not matched then
    insert (
        agent_id,
        agent_name,
        team,
        hire_date,
        extra,
        source_file,
        record_number,
        run_id
    )
    values (
        staged_agents.agent_id,
        staged_agents.agent_name,
        staged_agents.team,
        staged_agents.hire_date,
        staged_agents.extra,
        staged_agents.source_file,
        staged_agents.record_number,
        staged_agents.run_id
    )

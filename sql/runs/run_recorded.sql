-- How many rows audit.pipeline_runs holds for the run id: a rebuild or a reprocess is a run of its
-- own and must not take the id of a run that exists (pipeline/rebuild.py, pipeline/reprocess.py).
with

pipeline_runs as (
    select * from audit.pipeline_runs
),

final as (
    select count(*) as runs
    from pipeline_runs
    where run_id = @run_id
)

select * from final

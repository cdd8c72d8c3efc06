-- How many files the run ended (claims/run_attempts_end.sql): its claims no longer `claimed`.
with

processed_files as (
    select * from audit.processed_files
),

final as (
    select count(*) as ended_files
    from processed_files
    where run_id = @run_id and status != 'claimed'
)

select * from final

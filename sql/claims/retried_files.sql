-- The files the run claims again: an earlier run claimed the same path with the same bytes (a file
-- rejected whole, claimed again after a settings change, or a `cdi reprocess`). What the earlier
-- attempts left in silver and quarantine gives way to the run's rows (claims/earlier_*.sql), but
-- for the rows of the runs that claimed other bytes at the path (`kept_run`): another version's,
-- which stay (their @kept_runs). Grain: one row per retried file and such run; a file no other
-- version of which was claimed has one row, its kept_run null.
with

processed_files as (
    select * from audit.processed_files
),

run_claims as (
    select
        source_file,
        content_sha256,
        run_id
    from processed_files
    where run_id = @run_id
),

retried as (
    select
        run_claims.source_file,
        run_claims.content_sha256
    from run_claims
    where exists (
        select 1 from processed_files as earlier_claims
        where
            earlier_claims.source_file = run_claims.source_file
            and earlier_claims.content_sha256 = run_claims.content_sha256
            and earlier_claims.run_id != run_claims.run_id
    )
),

final as (
    select
        retried.source_file,
        other_claims.run_id as kept_run
    from retried
    left join processed_files as other_claims
        on
            retried.source_file = other_claims.source_file
            and retried.content_sha256 != other_claims.content_sha256
)

select * from final

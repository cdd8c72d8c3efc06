-- The files the run claims again: an earlier run claimed the same path with the same bytes (a file
-- rejected whole, claimed again after a settings change, or a `cdi reprocess`). What the earlier
-- attempts left in silver and quarantine gives way to the run's rows (claims/earlier_*.sql).
-- Grain: one row per claim of the run.
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

final as (
    select run_claims.source_file
    from run_claims
    where exists (
        select 1 from processed_files as earlier_claims
        where
            earlier_claims.source_file = run_claims.source_file
            and earlier_claims.content_sha256 = run_claims.content_sha256
            and earlier_claims.run_id != run_claims.run_id
    )
)

select * from final

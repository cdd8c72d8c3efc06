-- The runs that claimed other bytes at a path the run claims: their rows are another version's of
-- the file, and stay when the run takes back what earlier attempts of its bytes left
-- (claims/earlier_*.sql, their @kept_runs). Grain: one row per such claim.
with

processed_files as (
    select * from audit.processed_files
),

run_claims as (
    select
        source_file,
        content_sha256
    from processed_files
    where run_id = @run_id
),

final as (
    select
        other_claims.source_file,
        other_claims.run_id
    from run_claims
    inner join processed_files as other_claims
        on
            run_claims.source_file = other_claims.source_file
            and run_claims.content_sha256 != other_claims.content_sha256
)

select * from final

-- Every claim recorded in the ledger audit.processed_files: what `cdi run` claims next, a rerun
-- reads again and `cdi reprocess` can claim again (pipeline/claim.py). Grain: one row per file,
-- content hash and run that claimed it (one row per attempt). An OUTPUT from before attempts were
-- counted has no attempt number: it reads as attempt 1.
with

processed_files as (
    select * from audit.processed_files
),

final as (
    select * replace (coalesce(attempt, 1) as attempt)
    from processed_files
)

select * from final

-- Every claim recorded in the ledger audit.processed_files: what `cdi run` claims next, a rerun
-- reads again and `cdi reprocess` can claim again (pipeline/claim.py). Grain: one row per file,
-- content hash and run that claimed it (one row per attempt). An OUTPUT from before attempts were
-- counted has no attempt number: it reads as attempt 1.
with

processed_files as (
    select * from audit.processed_files
),

final as (
    select
        source_file,
        content_sha256,
        entity,
        size_bytes,
        run_id,
        archive_path,
        status,
        settings_sha256,
        coalesce(attempt, 1) as attempt
    from processed_files
)

select * from final

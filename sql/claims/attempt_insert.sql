-- Record the run's claim of a file, after claims/attempt_delete.sql took out what a rerun recorded
-- before: a claim stays `claimed` until the run ends it (claims/run_attempts_end.sql).
-- Grain of audit.processed_files: one row per file, content hash and run (one row per attempt).
insert into audit.processed_files (
    source_file,
    content_sha256,
    entity,
    size_bytes,
    run_id,
    archive_path,
    status,
    settings_sha256,
    attempt
)
select
    @source_file as source_file,
    @content_sha256 as content_sha256,
    @entity as entity,
    @size_bytes as size_bytes,
    @run_id as run_id,
    @archive_path as archive_path,
    'claimed' as status,
    @settings_sha256 as settings_sha256,
    @attempt as attempt

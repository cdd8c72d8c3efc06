-- The run's per-file statistics, as the cleaning job staged them.
insert into audit.file_stats (
    run_id,
    entity,
    source_file,
    file_format,
    rows_read,
    rows_valid,
    rows_quarantined,
    columns_added,
    columns_missing,
    columns_renamed,
    types_coerced,
    error,
    read_settings,
    max_quarantine_pct
)
select
    run_id,
    entity,
    source_file,
    file_format,
    rows_read,
    rows_valid,
    rows_quarantined,
    columns_added,
    columns_missing,
    columns_renamed,
    types_coerced,
    error,
    read_settings,
    max_quarantine_pct
from audit.file_stats_staging

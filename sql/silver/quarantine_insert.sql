-- The run's quarantined rows, as the cleaning job staged them.
insert into audit.quarantine (
    run_id, entity, source_file, record_number, reason, detail, raw_record
)
select
    run_id,
    entity,
    source_file,
    record_number,
    reason,
    detail,
    raw_record
from audit.quarantine_staging

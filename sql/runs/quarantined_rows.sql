-- The rejected rows `cdi quarantine` shows (pipeline/quarantine_rows.py orders them and spreads
-- raw_record into columns): those of run @run_id, with reason code @reason in any case, from file
-- @file (its landing path, or the end of it after a `/`); a null parameter filters nothing.
-- Grain: one row per rejected row or unreadable file.
with

rejected_rows as (
    select * from audit.quarantine
    where
        (@run_id is null or run_id = @run_id)
        and (@reason is null or upper(reason) = upper(@reason))
        and (
            @file is null
            or source_file = @file
            or ends_with(source_file, concat('/', @file))
        )
),

final as (
    select * from rejected_rows
)

select * from final

-- severity: error
-- stage: gold
-- description: no file of this run was rejected whole (UNREADABLE_FILE or MISSING_COLUMN)
-- Staged at gold so that a bad file fails the run only after the good files are loaded and built.
with

-- A file rejected for a missing column has every row in quarantine: one row per file here.
rejected_files as (
    select distinct
        source_file,
        entity,
        reason
    from audit.quarantine
    where
        run_id = @run_id
        and reason in ('UNREADABLE_FILE', 'MISSING_COLUMN')
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' files rejected whole',
            coalesce(concat(
                ': ',
                string_agg(
                    concat(source_file, ' (', entity, ', ', reason, ')'),
                    ', ' order by source_file
                )
            ), '')
        ) as detail
    from rejected_files
)

select * from final

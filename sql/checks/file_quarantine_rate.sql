-- severity: error
-- stage: gold
-- description: no file of this run quarantined more than its max_quarantine_pct share of rows
-- A format change (a new date order, another decimal separator) rejects most rows of a file one by
-- one, which would otherwise pass as a warning. Staged at gold: the file's good rows are loaded and
-- built first. Files rejected whole are the unreadable_files check's.
with

run_files as (
    select * from audit.file_stats
    where
        run_id = @run_id
        and error is null
        and rows_read > 0
        and max_quarantine_pct is not null
),

over_threshold as (
    select
        source_file,
        rows_read,
        rows_quarantined,
        max_quarantine_pct,
        round(100 * rows_quarantined / rows_read, 1) as quarantined_pct
    from run_files
    where 100 * rows_quarantined > max_quarantine_pct * rows_read
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' files above their max_quarantine_pct',
            coalesce(concat(
                ': ',
                string_agg(
                    concat(
                        source_file, ' (', cast(rows_quarantined as string), ' of ',
                        cast(rows_read as string), ' rows, ', cast(quarantined_pct as string),
                        '% > ', cast(max_quarantine_pct as string),
                        '%: see `cdi quarantine --file`, fix its settings, `cdi reprocess` it)'
                    ),
                    ', ' order by source_file
                )
            ), '')
        ) as detail
    from over_threshold
)

select * from final

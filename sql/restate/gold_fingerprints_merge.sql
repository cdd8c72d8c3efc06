-- Record, once a run's gold build is done, that gold table @table_names[i] now holds its whole
-- history as built by SQL of fingerprint @fingerprints[i] (pipeline/restate.py), by run @run_id.
-- The two arrays are parallel (a STRUCT array is not a parameter both targets bind). Grain of
-- audit.gold_fingerprints: one row per gold table; a rerun rewrites the same rows.
merge audit.gold_fingerprints as gold_fingerprints
using (
    with

    built_tables as (
        select
            table_name,
            fingerprint
        from unnest(@table_names) as table_name with offset as table_position
        inner join unnest(@fingerprints) as fingerprint with offset as fingerprint_position
            on table_position = fingerprint_position
    ),

    final as (
        select
            table_name,
            fingerprint,
            @run_id as run_id,
            current_timestamp() as recorded_at
        from built_tables
    )

    select * from final
) as built
    on gold_fingerprints.table_name = built.table_name
when matched then
    update set
        fingerprint = built.fingerprint,
        run_id = built.run_id,
        recorded_at = built.recorded_at
when not matched then
    insert (table_name, fingerprint, run_id, recorded_at)
    values (built.table_name, built.fingerprint, built.run_id, built.recorded_at)

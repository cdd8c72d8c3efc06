-- The fingerprint of the SQL that last built each gold table over its whole history (see
-- pipeline/restate.py): a gold table whose current fingerprint differs is restated. Grain: one row
-- per gold table recorded; none on a warehouse no run has finished building yet.
with

gold_fingerprints as (
    select * from audit.gold_fingerprints
),

final as (
    select
        table_name,
        fingerprint
    from gold_fingerprints
)

select * from final

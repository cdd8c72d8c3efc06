-- The dashboard's segment migration: customers by RFM segment at the previous month end and now,
-- for the latest as_of_date (a snapshot, like the segments).
with

latest as (
    select max(as_of_date) as as_of_date from gold.segment_migration
),

moves as (
    select
        segment_migration.as_of_date,
        segment_migration.from_segment,
        segment_migration.to_segment,
        segment_migration.customers
    from gold.segment_migration
    inner join latest on segment_migration.as_of_date = latest.as_of_date
),

final as (
    select * from moves
    order by from_segment, to_segment
)

select * from final

-- UTC days present in silver: the whole history a restated gold table is rebuilt over (see
-- pipeline/restate.py). Read from the key -> day index silver.transaction_keys, one narrow DATE
-- column, rather than from silver.transactions (every row, and a partition filter BigQuery
-- requires). Grain: one row per day with at least one row in silver.transactions.
with

transaction_keys as (
    select * from silver.transaction_keys
),

final as (
    select distinct transaction_date as day
    from transaction_keys
    where row_count > 0
)

select * from final

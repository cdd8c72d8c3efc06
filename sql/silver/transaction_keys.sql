-- The key -> day index of silver.transactions (silver.transaction_keys), computed from every row.
-- Grain: one row per key fingerprint and UTC day with rows. The load keeps the index up to date
-- with silver/transaction_keys_merge.sql; this full computation fills it once for a warehouse
-- whose silver predates the index (the local load does that by itself; on BigQuery run it once
-- into silver.transaction_keys).
with

-- Every partition on purpose: the bound is always true and only satisfies require_partition_filter.
transactions as (
    select * from silver.transactions
    where transaction_ts >= timestamp '0001-01-01 00:00:00+00'
),

final as (
    select
        farm_fingerprint(transaction_id) as key_fingerprint,
        date(transaction_ts) as transaction_date,
        count(*) as row_count
    from transactions
    group by key_fingerprint, transaction_date
)

select * from final

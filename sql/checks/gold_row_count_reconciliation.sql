-- severity: error
-- stage: gold
-- description: silver.transactions holds as many rows of this run as Spark reported valid
-- Rows of a run sit only on the days it touched, so @days bounds the partitions read.
with

run_transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
        and run_id = @run_id
),

run_counts as (
    select count(*) as silver_rows
    from run_transactions
),

final as (
    select
        abs(silver_rows - @rows_valid) as failures,
        concat(
            'silver.transactions holds ', cast(silver_rows as string),
            ' rows of run ', @run_id,
            '; Spark reported ', cast(@rows_valid as string), ' valid rows'
        ) as detail
    from run_counts
)

select * from final

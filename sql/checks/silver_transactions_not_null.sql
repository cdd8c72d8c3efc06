-- severity: error
-- stage: silver
-- description: keys and required columns of silver.transactions are set (not null, not blank)
-- BigQuery enforces REQUIRED against nulls only, so blank strings are counted too; the null
-- tests still guard a table whose modes were relaxed.
with

checked_transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        -- The range on the column itself is what prunes: DuckDB pushes it into the scan (zone maps)
        -- but not the IN UNNEST above; BigQuery prunes the partitions with either.
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
),

failing_transactions as (
    select * from checked_transactions
    where
        transaction_id is null or trim(transaction_id) = ''
        or transaction_ts is null
        or customer_id is null or trim(customer_id) = ''
        or quantity is null
        or amount is null
        or currency is null or trim(currency) = ''
        or status is null or trim(status) = ''
        or source_file is null or trim(source_file) = ''
        or record_number is null
        or run_id is null or trim(run_id) = ''
),

final as (
    select
        count(*) as failures,
        -- The per-column counts are built only when some row fails: over no rows, countif is 0 on
        -- BigQuery but null on DuckDB.
        if(
            count(*) = 0,
            '0 rows lack a required value',
            concat(
                cast(count(*) as string),
                ' rows lack a required value; missing per column:',
                ' transaction_id=', cast(
                    countif(transaction_id is null or trim(transaction_id) = '') as string
                ),
                ' transaction_ts=', cast(countif(transaction_ts is null) as string),
                ' customer_id=', cast(
                    countif(customer_id is null or trim(customer_id) = '') as string
                ),
                ' quantity=', cast(countif(quantity is null) as string),
                ' amount=', cast(countif(amount is null) as string),
                ' currency=', cast(countif(currency is null or trim(currency) = '') as string),
                ' status=', cast(countif(status is null or trim(status) = '') as string),
                ' source_file=', cast(
                    countif(source_file is null or trim(source_file) = '') as string
                ),
                ' record_number=', cast(countif(record_number is null) as string),
                ' run_id=', cast(countif(run_id is null or trim(run_id) = '') as string)
            )
        ) as detail
    from failing_transactions
)

select * from final

-- severity: warn
-- stage: silver
-- description: transactions of the checked days whose customer_id is not in silver.customers
-- Counted even when silver.customers is empty (no customers file landed yet): every order is then
-- an orphan, which is what the report should say.
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

customers as (
    select * from silver.customers
),

orphan_transactions as (
    select checked_transactions.customer_id
    from checked_transactions
    left join customers
        on checked_transactions.customer_id = customers.customer_id
    where customers.customer_id is null
),

orphan_customers as (
    select
        customer_id,
        count(*) as row_count,
        row_number() over (order by customer_id) as example_rank
    from orphan_transactions
    group by customer_id
),

final as (
    select
        coalesce(sum(row_count), 0) as failures,
        concat(
            cast(coalesce(sum(row_count), 0) as string),
            ' transactions name ',
            cast(count(*) as string),
            ' customer_id values missing from silver.customers',
            coalesce(concat(
                ', e.g. ',
                string_agg(if(example_rank <= 5, customer_id, null), ', ' order by customer_id)
            ), '')
        ) as detail
    from orphan_customers
)

select * from final

-- severity: error
-- stage: silver
-- description: customer_id is unique in silver.customers
with

customers as (
    select * from silver.customers
),

duplicated_keys as (
    select
        customer_id,
        count(*) as row_count
    from customers
    group by customer_id
    having count(*) > 1
),

ranked_keys as (
    select
        customer_id,
        row_number() over (order by customer_id) as example_rank
    from duplicated_keys
),

final as (
    select
        count(*) as failures,
        concat(
            cast(count(*) as string),
            ' customer_id values have more than one row',
            coalesce(concat(
                ', e.g. ',
                string_agg(if(example_rank <= 5, customer_id, null), ', ' order by customer_id)
            ), '')
        ) as detail
    from ranked_keys
)

select * from final

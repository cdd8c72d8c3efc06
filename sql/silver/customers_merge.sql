-- Upsert the staged customers into silver on customer_id (current state: the latest record wins).
-- Grain: one row per customer.
merge silver.customers as customers
using silver.customers_staging as staged_customers
    on customers.customer_id = staged_customers.customer_id
when matched then
    update set
        full_name = staged_customers.full_name,
        email = staged_customers.email,
        phone = staged_customers.phone,
        country = staged_customers.country,
        city = staged_customers.city,
        signup_date = staged_customers.signup_date,
        extra = staged_customers.extra,
        source_file = staged_customers.source_file,
        record_number = staged_customers.record_number,
        run_id = staged_customers.run_id
when not matched then
    insert (
        customer_id,
        full_name,
        email,
        phone,
        country,
        city,
        signup_date,
        extra,
        source_file,
        record_number,
        run_id
    )
    values (
        staged_customers.customer_id,
        staged_customers.full_name,
        staged_customers.email,
        staged_customers.phone,
        staged_customers.country,
        staged_customers.city,
        staged_customers.signup_date,
        staged_customers.extra,
        staged_customers.source_file,
        staged_customers.record_number,
        staged_customers.run_id
    )

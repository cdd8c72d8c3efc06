-- Monthly cohort retention: customers by the UTC month of their first completed order (the
-- cohort), and how many of them placed a completed order in each month since. Grain: one row per
-- cohort_month and months_since_first, from 0 (the cohort month itself: every customer, a rate of
-- 1.0) up to the latest month with an order, zero-filled: a month in which no customer of the
-- cohort ordered has a row with 0 retained customers.
--
-- Built from gold.customer_daily (completed orders per customer and day), as a whole table on
-- every run (`table` mode): a late or restated day can move a customer's first order, and with
-- it every month of the customer, to another cohort. The result is small (months x months), but
-- the read is every customer-day up to @run_date: there is no per-customer-month state yet.
--
-- Orders after @run_date are left out, as in gold/customer_rfm.sql, so a backfill of an old run
-- date gives the cohorts as they stood then. A customer with only refunded or cancelled orders
-- belongs to no cohort.
with

customer_daily as (
    select * from gold.customer_daily
    where order_date <= @run_date
),

latest_month as (
    select date_trunc(max(order_date), month) as last_month
    from customer_daily
),

customer_months as (
    select distinct
        customer_id,
        date_trunc(order_date, month) as order_month
    from customer_daily
    where orders > 0
),

customer_cohorts as (
    select
        customer_id,
        min(order_month) as cohort_month
    from customer_months
    group by customer_id
),

cohort_sizes as (
    select
        cohort_month,
        count(*) as customers
    from customer_cohorts
    group by cohort_month
),

cohort_activity as (
    select
        customer_cohorts.cohort_month,
        date_diff(
            customer_months.order_month, customer_cohorts.cohort_month, month
        ) as months_since_first,
        count(*) as retained_customers
    from customer_months
    inner join customer_cohorts
        on customer_months.customer_id = customer_cohorts.customer_id
    group by customer_cohorts.cohort_month, months_since_first
),

-- Every month of every cohort up to the latest month, so that a gap month shows as 0.
cohort_months as (
    select
        cohort_sizes.cohort_month,
        cohort_sizes.customers,
        months_since_first
    from cohort_sizes
    cross join latest_month
    cross join
        unnest(
            generate_array(
                0,
                date_diff(latest_month.last_month, cohort_sizes.cohort_month, month)
            )
        ) as months_since_first
),

final as (
    select
        cohort_months.cohort_month,
        cohort_months.months_since_first,
        cohort_months.customers,
        coalesce(cohort_activity.retained_customers, 0) as retained_customers,
        coalesce(cohort_activity.retained_customers, 0)
        / cohort_months.customers as retention_rate
    from cohort_months
    left join cohort_activity
        on
            cohort_months.cohort_month = cohort_activity.cohort_month
            and cohort_months.months_since_first
            = cohort_activity.months_since_first
)

select * from final

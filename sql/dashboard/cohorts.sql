-- The dashboard's cohort retention: every cohort month and month since the first order. A whole
-- history table, so the page's date filter does not apply to it.
with

cohorts as (
    select
        cohort_month,
        months_since_first,
        customers,
        retained_customers,
        retention_rate
    from gold.cohort_retention
),

final as (
    select * from cohorts
    order by cohort_month, months_since_first
)

select * from final

-- Advance gold.customer_state, the per-customer totals gold/customer_rfm.sql reads instead of every
-- customer-day: completed orders, revenue, the latest completed and the latest active day, over the
-- days of gold.customer_daily up to the watermark @run_date - 7. RFM adds the days after it from
-- gold.customer_daily. Grain: one row per customer with an order (any status) up to the watermark.
--
-- Runs once per run, after gold/customer_daily.sql has rebuilt the run's days (@days, from
-- @first_day on). The state's own watermark is its latest last_active_date: no day after it, up to
-- the watermark of the run that wrote it, holds an order (a later change there would be on a
-- rebuilt day). Two paths; a rerun of the same run date changes nothing on either:
--   advance: no rebuilt day is on or before the state's watermark, and the new watermark is not
--     before it. The days in between are folded in: each customer with an order there gets those
--     days' totals added to its row (or as its row). Earlier days are not read.
--   rebuild: otherwise (no state yet; a rerun or backfill of an older run date; late data on or
--     before the watermark). The totals are recomputed from every day up to the new watermark:
--     rows that differ are rewritten and customers without an order up to it are deleted.
-- Either way the table ends as the totals up to @run_date - 7, whatever the path.
--
-- Reads: DuckDB prunes both reads of gold.customer_daily at run time (the days to fold and the
-- rebuild's flag are pushed into the scans), so an advance reads the folded days only. BigQuery
-- prunes on constants only: both reads are bounded by the watermark alone, so every run is
-- billed for gold.customer_daily up to it (four columns), even when the rebuild returns nothing.
merge gold.customer_state as customer_state
using (
    with

    current_state as (
        select * from gold.customer_state
    ),

    -- Read once per path, so that each read is filtered (and pruned) on its own.
    customer_days_to_fold as (
        select * from gold.customer_daily
        where order_date <= @run_date - 7
    ),

    customer_days_to_rebuild as (
        select * from gold.customer_daily
        where order_date <= @run_date - 7
    ),

    state_watermark as (
        select max(last_active_date) as watermark_date
        from current_state
    ),

    state_plan as (
        select
            watermark_date,
            -- A comparison with no state (null) leaves the whole test null: rebuild.
            coalesce(
                watermark_date > @run_date - 7 or @first_day <= watermark_date, true
            ) as is_rebuild
        from state_watermark
    ),

    -- The days after the state's watermark up to the new one (none when rebuilding).
    fold_days as (
        select fold_day
        from state_plan
        cross join
            unnest(generate_date_array(state_plan.watermark_date + 1, @run_date - 7)) as fold_day
        where not state_plan.is_rebuild
    ),

    folded_days as (
        select customer_days_to_fold.*
        from customer_days_to_fold
        inner join fold_days
            on customer_days_to_fold.order_date = fold_days.fold_day
    ),

    rebuilt_days as (
        select customer_days_to_rebuild.*
        from customer_days_to_rebuild
        cross join state_plan
        where state_plan.is_rebuild
    ),

    folded_totals as (
        select
            customer_id,
            sum(orders) as orders,
            sum(revenue) as revenue,
            max(if(orders > 0, order_date, null)) as last_order_date,
            max(order_date) as last_active_date
        from folded_days
        group by customer_id
    ),

    rebuilt_totals as (
        select
            customer_id,
            sum(orders) as orders,
            sum(revenue) as revenue,
            max(if(orders > 0, order_date, null)) as last_order_date,
            max(order_date) as last_active_date
        from rebuilt_days
        group by customer_id
    ),

    -- Advance: each customer's totals over the folded days, added to its row by the MERGE (a
    -- customer new to the state gets them as its row). The folded days are all after the state's,
    -- so their latest days win.
    advanced_rows as (
        select
            customer_id,
            orders,
            revenue,
            last_order_date,
            last_active_date,
            true as is_increment,
            false as is_removed
        from folded_totals
    ),

    -- Rebuild: every customer of either side whose row differs; one no longer there is removed.
    rebuilt_rows as (
        select
            coalesce(rebuilt_totals.customer_id, current_state.customer_id) as customer_id,
            rebuilt_totals.orders,
            rebuilt_totals.revenue,
            rebuilt_totals.last_order_date,
            rebuilt_totals.last_active_date,
            false as is_increment,
            rebuilt_totals.customer_id is null as is_removed
        from rebuilt_totals
        full outer join current_state
            on rebuilt_totals.customer_id = current_state.customer_id
        cross join state_plan
        where
            state_plan.is_rebuild
            and (
                rebuilt_totals.customer_id is null
                or current_state.customer_id is null
                or current_state.orders != rebuilt_totals.orders
                or current_state.revenue != rebuilt_totals.revenue
                or current_state.last_order_date
                is distinct from rebuilt_totals.last_order_date
                or current_state.last_active_date != rebuilt_totals.last_active_date
            )
    ),

    final as (
        select * from advanced_rows
        union all
        select * from rebuilt_rows
    )

    select * from final
) as changed_customers
    on customer_state.customer_id = changed_customers.customer_id
when matched and changed_customers.is_removed then
    delete
when matched and changed_customers.is_increment then
    update set
        orders = customer_state.orders + changed_customers.orders,
        revenue = customer_state.revenue + changed_customers.revenue,
        last_order_date = coalesce(
            changed_customers.last_order_date, customer_state.last_order_date
        ),
        last_active_date = changed_customers.last_active_date
when matched then
    update set
        orders = changed_customers.orders,
        revenue = changed_customers.revenue,
        last_order_date = changed_customers.last_order_date,
        last_active_date = changed_customers.last_active_date
when not matched and not changed_customers.is_removed then
    insert (
        customer_id,
        orders,
        revenue,
        last_order_date,
        last_active_date
    )
    values (
        changed_customers.customer_id,
        changed_customers.orders,
        changed_customers.revenue,
        changed_customers.last_order_date,
        changed_customers.last_active_date
    )

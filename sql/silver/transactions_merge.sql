-- Upsert the staged transactions into silver on transaction_id: a staged row replaces the silver
-- row with its key (on whatever day that row sits) or is inserted. Grain: one row per order.
-- @days must be what silver/affected_days.sql returned for the staged rows.
merge silver.transactions as transactions
using silver.transactions_staging as staged_transactions
    on
        transactions.transaction_id = staged_transactions.transaction_id
        -- Only the affected days (@days, from silver/affected_days.sql): every staged key already
        -- in silver sits on one of them, so no match is lost. The range prunes on DuckDB too.
        and date(transactions.transaction_ts) in unnest(@days)
        and transactions.transaction_ts >= timestamp(@first_day)
        and transactions.transaction_ts < timestamp(@last_day + 1)
when matched then
    update set
        transaction_ts = staged_transactions.transaction_ts,
        customer_id = staged_transactions.customer_id,
        agent_id = staged_transactions.agent_id,
        channel = staged_transactions.channel,
        quantity = staged_transactions.quantity,
        unit_price = staged_transactions.unit_price,
        amount = staged_transactions.amount,
        currency = staged_transactions.currency,
        -- Null from the cleaning job: silver/transactions_convert.sql, next, sets it.
        amount_reporting = staged_transactions.amount_reporting,
        status = staged_transactions.status,
        payment_method = staged_transactions.payment_method,
        extra = staged_transactions.extra,
        source_file = staged_transactions.source_file,
        record_number = staged_transactions.record_number,
        run_id = staged_transactions.run_id
when not matched then
    insert (
        transaction_id,
        transaction_ts,
        customer_id,
        agent_id,
        channel,
        quantity,
        unit_price,
        amount,
        currency,
        amount_reporting,
        status,
        payment_method,
        extra,
        source_file,
        record_number,
        run_id
    )
    values (
        staged_transactions.transaction_id,
        staged_transactions.transaction_ts,
        staged_transactions.customer_id,
        staged_transactions.agent_id,
        staged_transactions.channel,
        staged_transactions.quantity,
        staged_transactions.unit_price,
        staged_transactions.amount,
        staged_transactions.currency,
        staged_transactions.amount_reporting,
        staged_transactions.status,
        staged_transactions.payment_method,
        staged_transactions.extra,
        staged_transactions.source_file,
        staged_transactions.record_number,
        staged_transactions.run_id
    )

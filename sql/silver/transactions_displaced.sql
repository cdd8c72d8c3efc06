-- Quarantine the silver transactions the staged load replaces with a different record (reason
-- DUPLICATE_KEY): run before the merge, in its transaction.
-- Grain: one audit.quarantine row per displaced silver row. Reloading the same file replaces a
-- row with the same record (same source_file and record_number): that is a rerun, not a
-- duplicate.
insert into audit.quarantine (
    run_id, entity, source_file, record_number, reason, detail, raw_record
)

with

staged_transactions as (
    select * from silver.transactions_staging
),

-- Only the affected days (@days, from silver/affected_days.sql): every staged key already in
-- silver sits on one of them. The range on the column itself is what DuckDB prunes with.
current_transactions as (
    select * from silver.transactions
    where
        date(transaction_ts) in unnest(@days)
        and transaction_ts >= timestamp(@first_day)
        and transaction_ts < timestamp(@last_day + 1)
),

-- The JSON of the displaced rows only, after the join (not of every current row).
displaced_records as (
    select
        current_transactions.transaction_id,
        current_transactions.source_file,
        current_transactions.record_number,
        -- The whole current row (a table name as a value): not a column reference to qualify.
        to_json_string(current_transactions) as raw_record,  -- noqa: RF02
        staged_transactions.source_file as winning_source_file,
        staged_transactions.record_number as winning_record_number
    from current_transactions
    inner join staged_transactions
        on current_transactions.transaction_id = staged_transactions.transaction_id
    where
        current_transactions.source_file != staged_transactions.source_file
        or current_transactions.record_number != staged_transactions.record_number
),

final as (
    select
        @run_id as run_id,
        'transactions' as entity,
        source_file,
        record_number,
        'DUPLICATE_KEY' as reason,
        concat(
            'transaction_id ', transaction_id,
            ' replaced by ', winning_source_file,
            ' record ', cast(winning_record_number as string)
        ) as detail,
        raw_record
    from displaced_records
)

select
    run_id,
    entity,
    source_file,
    record_number,
    reason,
    detail,
    raw_record
from final

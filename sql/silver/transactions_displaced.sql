-- Silver transactions the staged load replaces with a different record, shaped as
-- audit.quarantine rows (reason DUPLICATE_KEY), read before the merge.
-- Grain: one row per displaced silver row. Reloading the same file replaces a row with the same
-- record (same source_file and record_number): that is a rerun, not a duplicate.
with

staged_transactions as (
    select * from silver.transactions_staging
),

-- Every partition on purpose: a staged key can replace a row on any earlier day. The bound is
-- always true and only satisfies require_partition_filter.
current_transactions as (
    select * from silver.transactions
    where transaction_ts >= timestamp '0001-01-01 00:00:00+00'
),

current_records as (
    select
        transaction_id,
        source_file,
        record_number,
        to_json_string(current_transactions) as raw_record
    from current_transactions
),

displaced_records as (
    select
        current_records.transaction_id,
        current_records.source_file,
        current_records.record_number,
        current_records.raw_record,
        staged_transactions.source_file as winning_source_file,
        staged_transactions.record_number as winning_record_number
    from current_records
    inner join staged_transactions
        on current_records.transaction_id = staged_transactions.transaction_id
    where
        current_records.source_file != staged_transactions.source_file
        or current_records.record_number != staged_transactions.record_number
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

select * from final

-- An empty silver.transactions_staging with the table's columns (BigQuery load): the run's
-- files carried no transactions rows, so the statements
-- that read the staging see none.
-- The filter on the partition column satisfies require_partition_filter and reads no partition.
create or replace table silver.transactions_staging as
select * from silver.transactions
where transaction_ts < timestamp '0001-01-01 00:00:00+00'

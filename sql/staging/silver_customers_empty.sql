-- An empty silver.customers_staging with the table's columns (BigQuery load): the run's
-- files carried no customers rows, so the statements
-- that read the staging see none.
create or replace table silver.customers_staging as
select * from silver.customers
where false

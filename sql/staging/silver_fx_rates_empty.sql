-- An empty silver.fx_rates_staging with the table's columns (BigQuery load): the run's
-- files carried no fx_rates rows, so the statements
-- that read the staging see none.
create or replace table silver.fx_rates_staging as
select * from silver.fx_rates
where false

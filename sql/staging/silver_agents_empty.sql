-- An empty silver.agents_staging with the table's columns (BigQuery load): the run's
-- files carried no agents rows, so the statements
-- that read the staging see none.
create or replace table silver.agents_staging as
select * from silver.agents
where false

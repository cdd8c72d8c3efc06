-- An empty audit.quarantine_staging with the table's columns (BigQuery load): the run's
-- files carried no quarantine rows, so the statements
-- that read the staging see none.
create or replace table audit.quarantine_staging as
select * from audit.quarantine
where false

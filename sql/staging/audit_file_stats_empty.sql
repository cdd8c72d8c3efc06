-- An empty audit.file_stats_staging with the table's columns (BigQuery load): the run's
-- files carried no file_stats rows, so the statements
-- that read the staging see none.
create or replace table audit.file_stats_staging as
select * from audit.file_stats
where false

-- The staging of silver.fx_rates from its Parquet load (BigQuery load): the load job writes
-- silver.fx_rates_load with the JSON column as STRING (a load job fills a JSON column only from
-- CSV, Avro or JSON files); here it is parsed, so the staging has the schema of the table it is
-- merged into.
create or replace table silver.fx_rates_staging as
select * replace (parse_json(extra) as extra)
from silver.fx_rates_load

-- Open the transaction of a multi-statement step (the silver load, the restatement record).
-- BigQuery: a script's transaction; DuckDB: BEGIN.
begin transaction

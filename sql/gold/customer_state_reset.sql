-- Empty gold.customer_state, so that gold/customer_state_merge.sql run right after (in the same
-- transaction) takes its rebuild path from no state: the restatement of the step when its SQL, or
-- the SQL of gold.customer_daily it folds, changed (pipeline/restate.py). The merge alone rewrites
-- only the rows it finds different; from no state, every row is the new SQL's.
delete from gold.customer_state
where true

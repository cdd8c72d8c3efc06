-- After claims/earlier_transaction_keys_update.sql: a key no silver transaction holds on a day any
-- more leaves the key -> day index for that day.
delete from silver.transaction_keys
where row_count <= 0

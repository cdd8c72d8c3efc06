-- The gold build of @days is done: those days leave the queue (archive_files, once gold is built).
update audit.run_days
set status = 'built'
where status = 'pending' and day in unnest(@days)

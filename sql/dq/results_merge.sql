-- Record the run's check results in audit.dq_results, replacing its earlier result for each check.
-- One element per check in the parallel arrays @check_names, @severities, @failures and @details
-- (an array parameter binds no NULL element: an empty detail stands for none).
-- Grain: one row per run and check.
merge audit.dq_results as results
using (
    select
        @run_id as run_id,
        check_name,
        @severities[offset(position)] as severity,
        @failures[offset(position)] as failures,
        nullif(@details[offset(position)], '') as detail
    from unnest(@check_names) as check_name with offset as position
) as check_results
    on
        results.run_id = check_results.run_id
        and results.check_name = check_results.check_name
when matched then
    update set
        severity = check_results.severity,
        passed = check_results.failures = 0,
        failures = check_results.failures,
        detail = check_results.detail
when not matched then
    insert (run_id, check_name, severity, passed, failures, detail)
    values (
        check_results.run_id,
        check_results.check_name,
        check_results.severity,
        check_results.failures = 0,
        check_results.failures,
        check_results.detail
    )

-- The run's figures for the report (pipeline/report.py locally, pipeline/gcp/report.py on GCP),
-- one row per figure: `kind` names it, `figure`, `a`, `b`, `c` and `detail` hold it. Kinds: file
-- (rows read, valid, quarantined; error), file_record (the file's audit.file_stats row as JSON:
-- drift and read settings), reason (quarantined rows), check (failures, passed; severity),
-- check_detail (the check's detail), gold (rows of each gold table: every table of
-- pipeline/plan.py GOLD_STEPS, tests/sql/test_sql_files.py checks), displaced (rows the run
-- displaced from earlier files), claimed (files the run claimed in audit.processed_files, the
-- local claim ledger: on GCP the claims are objects and the table stays empty), previous_run and
-- last_file_run (files): the run before this one and the latest that claimed a file, by logical
-- date then run id.
with

file_figures as (
    select
        'file' as kind,
        source_file as figure,
        rows_read as a,
        rows_valid as b,
        rows_quarantined as c,
        error as detail
    from audit.file_stats
    where run_id = @run_id
),

file_records as (
    select
        'file_record' as kind,
        run_files.source_file as figure,
        0 as a,
        0 as b,
        0 as c,
        to_json_string(run_files) as detail
    from audit.file_stats as run_files
    where run_files.run_id = @run_id
),

reason_figures as (
    select
        'reason' as kind,
        reason as figure,
        count(*) as a,
        0 as b,
        0 as c,
        cast(null as string) as detail
    from audit.quarantine
    where run_id = @run_id
    group by reason
),

check_figures as (
    select
        'check' as kind,
        check_name as figure,
        failures as a,
        if(passed, 1, 0) as b,
        0 as c,
        severity as detail
    from audit.dq_results
    where run_id = @run_id
),

check_details as (
    select
        'check_detail' as kind,
        check_name as figure,
        0 as a,
        0 as b,
        0 as c,
        detail
    from audit.dq_results
    where run_id = @run_id
),

gold_counts as (
    select
        'gold.aov_daily' as table_name,
        count(*) as row_count
    from gold.aov_daily
    union all
    select
        'gold.agent_performance' as table_name,
        count(*) as row_count
    from gold.agent_performance
    union all
    select
        'gold.customer_daily' as table_name,
        count(*) as row_count
    from gold.customer_daily
    union all
    select
        'gold.peak_hours_daily' as table_name,
        count(*) as row_count
    from gold.peak_hours_daily
    union all
    select
        'gold.customer_state' as table_name,
        count(*) as row_count
    from gold.customer_state
    union all
    select
        'gold.customer_rfm' as table_name,
        count(*) as row_count
    from gold.customer_rfm
    union all
    select
        'gold.peak_hours' as table_name,
        count(*) as row_count
    from gold.peak_hours
    union all
    select
        'gold.cohort_retention' as table_name,
        count(*) as row_count
    from gold.cohort_retention
    union all
    select
        'gold.segment_migration' as table_name,
        count(*) as row_count
    from gold.segment_migration
),

gold_figures as (
    select
        'gold' as kind,
        table_name as figure,
        row_count as a,
        0 as b,
        0 as c,
        cast(null as string) as detail
    from gold_counts
),

displaced_figures as (
    select
        'displaced' as kind,
        'silver.transactions' as figure,
        count(*) as a,
        0 as b,
        0 as c,
        cast(null as string) as detail
    from audit.quarantine
    where
        run_id = @run_id
        and reason = 'DUPLICATE_KEY'
        and source_file not in (
            select run_files.source_file from audit.file_stats as run_files
            where run_files.run_id = @run_id
        )
),

claimed_figures as (
    select
        'claimed' as kind,
        'audit.processed_files' as figure,
        count(*) as a,
        0 as b,
        0 as c,
        cast(null as string) as detail
    from audit.processed_files
    where run_id = @run_id
),

earlier_runs as (
    select
        run_id,
        files,
        logical_date
    from audit.pipeline_runs
    where run_id != @run_id and logical_date <= @logical_date
),

previous_run as (
    select
        'previous_run' as kind,
        run_id as figure,
        files as a,
        0 as b,
        0 as c,
        cast(null as string) as detail
    from earlier_runs
    order by logical_date desc, run_id desc
    limit 1
),

last_file_run as (
    select
        'last_file_run' as kind,
        run_id as figure,
        files as a,
        0 as b,
        0 as c,
        cast(null as string) as detail
    from earlier_runs
    where files > 0
    order by logical_date desc, run_id desc
    limit 1
),

final as (
    select * from file_figures
    union all
    select * from file_records
    union all
    select * from reason_figures
    union all
    select * from check_figures
    union all
    select * from check_details
    union all
    select * from gold_figures
    union all
    select * from displaced_figures
    union all
    select * from claimed_figures
    union all
    select * from previous_run
    union all
    select * from last_file_run
)

select * from final

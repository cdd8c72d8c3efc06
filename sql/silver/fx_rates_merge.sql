-- Upsert the staged exchange rates into silver on (date, currency): a rate sent again replaces the
-- one held (a corrected rate). Grain: one row per day and currency.
merge silver.fx_rates as fx_rates
using silver.fx_rates_staging as staged_fx_rates
    on
        fx_rates.date = staged_fx_rates.date
        and fx_rates.currency = staged_fx_rates.currency
when matched then
    update set
        rate = staged_fx_rates.rate,
        extra = staged_fx_rates.extra,
        source_file = staged_fx_rates.source_file,
        record_number = staged_fx_rates.record_number,
        run_id = staged_fx_rates.run_id
when not matched then
    insert (
        date,
        currency,
        rate,
        extra,
        source_file,
        record_number,
        run_id
    )
    values (
        staged_fx_rates.date,
        staged_fx_rates.currency,
        staged_fx_rates.rate,
        staged_fx_rates.extra,
        staged_fx_rates.source_file,
        staged_fx_rates.record_number,
        staged_fx_rates.run_id
    )

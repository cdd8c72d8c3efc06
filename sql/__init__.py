"""BigQuery SQL and table schemas: the one source of truth every layer reads (see catalog)."""

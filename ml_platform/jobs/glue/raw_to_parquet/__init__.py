"""Raw CSV/JSON to typed, date-partitioned Parquet, with optional Glue Data Quality."""

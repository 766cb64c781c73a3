-- warehouse_meta: one row saying when and how the demo data was generated.
-- Columns: generated_at, seed, base_rows. Parameters: seed, rows.
SELECT now() AS generated_at, $seed AS seed, $rows AS base_rows

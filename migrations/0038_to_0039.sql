-- pg-boss schema 38 -> 39 (pg-boss 12.29), partitioned layout.

-- The claim of the reindex pass.
ALTER TABLE {{schema}}.version ADD COLUMN IF NOT EXISTS reindex_on timestamptz;

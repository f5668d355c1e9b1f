-- pg-boss schema 33 -> 34 (pg-boss 12.23), partitioned layout. Columns added to the partitioned
-- job table reach job_common and every partition.

-- Where a dead-lettered job came from: the failed job's queue, id, creation and retries.
ALTER TABLE {{schema}}.job
  ADD COLUMN IF NOT EXISTS source_name text,
  ADD COLUMN IF NOT EXISTS source_id uuid,
  ADD COLUMN IF NOT EXISTS source_created_on timestamptz,
  ADD COLUMN IF NOT EXISTS source_retry_count integer;

-- pg-boss schema 42 -> 43 (pg-boss 12.35), partitioned layout. Every new column is nullable or
-- has a constant default, so no table (queue_stats included, which can be large) is rewritten,
-- and existing rows are not backfilled.

-- Per-interval created / completed / failed counts kept by the monitor.
ALTER TABLE {{schema}}.queue
  ADD COLUMN created_delta integer NOT NULL DEFAULT 0,
  ADD COLUMN completed_delta integer NOT NULL DEFAULT 0,
  ADD COLUMN failed_delta integer NOT NULL DEFAULT 0,
  ADD COLUMN delta_on timestamptz,
  ADD COLUMN delta_seconds integer;

ALTER TABLE {{schema}}.queue_stats
  ADD COLUMN created_delta integer,
  ADD COLUMN completed_delta integer,
  ADD COLUMN failed_delta integer,
  ADD COLUMN delta_seconds integer,
  ADD COLUMN delta_on timestamptz;

-- Dead-letter lineage: the output a job failed with, and the first job of its chain (indexed by
-- job_i12, queued below for the existing tables).
ALTER TABLE {{schema}}.job
  ADD COLUMN IF NOT EXISTS source_output jsonb,
  ADD COLUMN IF NOT EXISTS source_root_id uuid;

{{create_queue_43}}

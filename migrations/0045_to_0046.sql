-- pg-boss schema 45 -> 46 (pg-boss 12.38), partitioned layout.
--
-- Runs inside the engine's migration transaction (see src/plans/migrate.rs), which checks the
-- version first and records the new one last. {{schema}} is the schema identifier.
--
-- The queue's retained-jobs gauge. Nullable without a default, so no row is rewritten; each
-- queue's next maintenance pass fills it, and until then the monitor keeps using total_count.
ALTER TABLE {{schema}}.queue
  ADD COLUMN IF NOT EXISTS retained_count integer,
  ADD COLUMN IF NOT EXISTS retained_on timestamptz;

-- New partitions get the four monitor indexes (job_i14 .. job_i17) at creation. The tables that
-- exist already get them from the asynchronous builds queued after this script.
{{create_queue_46}}

-- pg-boss schema 32 -> 33 (pg-boss 12.22), partitioned layout.

-- The flow resolver's claim.
ALTER TABLE {{schema}}.version ADD COLUMN IF NOT EXISTS flow_on timestamptz;

-- Before the builds below are queued: they are ordered by created_on, and now() would give every
-- row of this transaction the same one.
ALTER TABLE {{schema}}.bam ALTER COLUMN created_on SET DEFAULT clock_timestamp();

-- New partitions get the flow resolver's index (job_i9) and the slimmer fetch index (job_i5
-- without INCLUDE). The existing tables get both from the builds queued after this script: job_i9,
-- then job_i5 dropped and built again in its new shape (CONCURRENTLY cannot reshape an index).
{{create_queue_33}}

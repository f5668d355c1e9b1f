-- pg-boss schema 39 -> 40 (pg-boss 12.30), partitioned layout.

-- The claim of the monitor's backoff pass.
ALTER TABLE {{schema}}.version ADD COLUMN IF NOT EXISTS monitor_backoff_on timestamptz;

-- The monitor's per-queue claim, started from the pace it already has, so that the first pass
-- after the upgrade does not find every queue due at once.
ALTER TABLE {{schema}}.queue ADD COLUMN IF NOT EXISTS monitor_claim_on timestamptz;
UPDATE {{schema}}.queue SET monitor_claim_on = monitor_on WHERE monitor_claim_on IS NULL;

-- New partitions get the priority-ordered fetch index (job_i11) instead of job_i5. The existing
-- tables get it from the builds queued after this script: job_i11 first, then job_i5 dropped,
-- which the BAM runner holds back on a table until its build there has completed.
{{create_queue_40}}

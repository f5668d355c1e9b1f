-- pg-boss schema 35 -> 36 (pg-boss 12.24.1).

-- Builds queued in one transaction keep their order: now() is the same for all of them.
ALTER TABLE {{schema}}.bam ALTER COLUMN created_on SET DEFAULT clock_timestamp();

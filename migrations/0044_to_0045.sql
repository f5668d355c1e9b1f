-- pg-boss schema 44 -> 45 (pg-boss 12.37), partitioned layout.

-- Marks a job written by upsert(). No existing job has it, so the unique index built on it
-- (job_i13, queued below for the existing tables) starts empty and cannot meet a duplicate.
ALTER TABLE {{schema}}.job ADD COLUMN IF NOT EXISTS upsert_by_key boolean;

{{create_queue_45}}

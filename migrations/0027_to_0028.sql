-- pg-boss schema 27 -> 28 (pg-boss 12.10), partitioned layout.

-- key_strict_fifo orders a queue by singleton key, so a job of that policy needs one. The shared
-- job_common holds such queues' jobs; a key_strict_fifo partition gets the CHECK at creation.
-- (Adding it reads job_common once to validate the rows there.)
SELECT {{schema}}.job_table_run($cmd$ALTER TABLE {{schema}}.job ADD CONSTRAINT job_key_strict_fifo_singleton_key_check CHECK (NOT (policy = 'key_strict_fifo' AND singleton_key IS NULL))$cmd$, 'job_common');

-- The key_strict_fifo policy for new queues: its partitions get the one-per-key index (job_i8)
-- and the CHECK. job_common gets job_i8 from the build queued after this script.
{{create_queue_28}}

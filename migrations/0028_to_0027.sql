-- Rollback of pg-boss schema 28 -> 27, partitioned layout.

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i8$cmd$);
SELECT {{schema}}.job_table_run($cmd$ALTER TABLE {{schema}}.job DROP CONSTRAINT IF EXISTS job_key_strict_fifo_singleton_key_check$cmd$);

{{create_queue_27}}

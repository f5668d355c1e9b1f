-- Rollback of pg-boss schema 43 -> 42, partitioned layout.

{{create_queue_42}}

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i12$cmd$);

ALTER TABLE {{schema}}.queue
  DROP COLUMN created_delta,
  DROP COLUMN completed_delta,
  DROP COLUMN failed_delta,
  DROP COLUMN delta_on,
  DROP COLUMN delta_seconds;

ALTER TABLE {{schema}}.queue_stats
  DROP COLUMN created_delta,
  DROP COLUMN completed_delta,
  DROP COLUMN failed_delta,
  DROP COLUMN delta_seconds,
  DROP COLUMN delta_on;

ALTER TABLE {{schema}}.job
  DROP COLUMN source_output,
  DROP COLUMN source_root_id;

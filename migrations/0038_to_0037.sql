-- Rollback of pg-boss schema 38 -> 37, partitioned layout.

{{create_queue_37}}

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i10$cmd$);

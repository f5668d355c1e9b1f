-- Rollback of pg-boss schema 45 -> 44, partitioned layout.

{{create_queue_43}}

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i13$cmd$);

ALTER TABLE {{schema}}.job DROP COLUMN upsert_by_key;

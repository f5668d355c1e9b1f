-- Rollback of pg-boss schema 33 -> 32, partitioned layout.

{{create_queue_32}}

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i5$cmd$);
SELECT {{schema}}.job_table_run($cmd$CREATE INDEX job_i5 ON {{schema}}.job (name, start_after) INCLUDE (priority, created_on, id) WHERE state < 'active' AND NOT blocked$cmd$);
SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i9$cmd$);

ALTER TABLE {{schema}}.version DROP COLUMN flow_on;

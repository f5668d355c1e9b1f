-- Rollback of pg-boss schema 31 -> 30, partitioned layout.

DROP INDEX IF EXISTS {{schema}}.job_dep_parent_idx;
DROP TABLE IF EXISTS {{schema}}.job_dependency;

{{create_queue_30}}

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i5$cmd$);
SELECT {{schema}}.job_table_run($cmd$CREATE INDEX job_i5 ON {{schema}}.job (name, start_after) INCLUDE (priority, created_on, id) WHERE state < 'active'$cmd$);

ALTER TABLE {{schema}}.job
  DROP COLUMN pending_dependencies,
  DROP COLUMN blocking,
  DROP COLUMN blocked;

-- Rollback of pg-boss schema 46 -> 45, partitioned layout. Runs after the engine has removed the
-- unfinished builds v46 queued, so none of them recreates an index dropped here.

-- create_queue first: a queue created while this runs must not get an index being removed.
{{create_queue_45}}

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i17$cmd$);
SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i16$cmd$);
SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i15$cmd$);
SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i14$cmd$);

ALTER TABLE {{schema}}.queue DROP COLUMN retained_on, DROP COLUMN retained_count;

-- Rollback of pg-boss schema 40 -> 39, partitioned layout. job_i5 is put back before job_i11 is
-- dropped, so no table is ever without a fetch index; IF NOT EXISTS keeps a job_i5 that the
-- queued retire had not dropped yet.

{{create_queue_39}}

SELECT {{schema}}.job_table_run($cmd$CREATE INDEX IF NOT EXISTS job_i5 ON {{schema}}.job (name, start_after) WHERE state < 'active' AND NOT blocked$cmd$);
SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i11$cmd$);

ALTER TABLE {{schema}}.queue DROP COLUMN monitor_claim_on;
ALTER TABLE {{schema}}.version DROP COLUMN monitor_backoff_on;

-- Rollback of pg-boss schema 34 -> 33.

ALTER TABLE {{schema}}.job
  DROP COLUMN source_name,
  DROP COLUMN source_id,
  DROP COLUMN source_created_on,
  DROP COLUMN source_retry_count;

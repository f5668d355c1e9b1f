-- Rollback of pg-boss schema 26 -> 25, partitioned layout.

-- As pg-boss 12.38 rolls it back: job_common's exclusive index goes, and create_queue stays as 26
-- defines it (12.38 restores no older definition), so both rollbacks leave the same catalog.
DROP INDEX {{schema}}.job_i6;

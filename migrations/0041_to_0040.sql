-- Rollback of pg-boss schema 41 -> 40, partitioned layout. The CHECK goes with its column; the
-- timezone default and the zones filled in stay (a 40 instance names the zone on every write).

ALTER TABLE {{schema}}.schedule DROP COLUMN kind;
ALTER TABLE {{schema}}.schedule DROP COLUMN last_job_id;

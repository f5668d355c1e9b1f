-- Rollback of pg-boss schema 35 -> 34: the snapshots go with their table.

ALTER TABLE {{schema}}.queue DROP COLUMN ready_history;
DROP TABLE IF EXISTS {{schema}}.queue_stats;

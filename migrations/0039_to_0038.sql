-- Rollback of pg-boss schema 39 -> 38.

ALTER TABLE {{schema}}.version DROP COLUMN reindex_on;

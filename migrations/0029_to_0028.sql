-- Rollback of pg-boss schema 29 -> 28: the warnings go with their table.

DROP TABLE {{schema}}.warning;

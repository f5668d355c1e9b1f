-- Rollback of pg-boss schema 32 -> 31, partitioned layout. create_queue first: its 32 body
-- writes the notify column.

{{create_queue_31}}

ALTER TABLE {{schema}}.queue
  DROP COLUMN ready_count,
  DROP COLUMN failed_count,
  DROP COLUMN notify;

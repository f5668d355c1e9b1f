-- Rollback of pg-boss schema 30 -> 29, partitioned layout. create_queue first: its 30 body
-- writes queue.heartbeat_seconds.

{{create_queue_29}}

ALTER TABLE {{schema}}.queue DROP COLUMN heartbeat_seconds;
ALTER TABLE {{schema}}.job
  DROP COLUMN heartbeat_seconds,
  DROP COLUMN heartbeat_on;

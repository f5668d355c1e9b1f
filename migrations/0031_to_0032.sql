-- pg-boss schema 31 -> 32 (pg-boss 12.21), partitioned layout.

-- Queues that NOTIFY on send, and two more monitor gauges (0 until the next monitor pass).
ALTER TABLE {{schema}}.queue
  ADD COLUMN notify boolean NOT NULL DEFAULT false,
  ADD COLUMN failed_count integer NOT NULL DEFAULT 0,
  ADD COLUMN ready_count integer NOT NULL DEFAULT 0;

-- create_queue takes the notify option.
{{create_queue_32}}

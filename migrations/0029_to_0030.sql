-- pg-boss schema 29 -> 30 (pg-boss 12.12), partitioned layout.

-- Heartbeats: when an active job last reported, and how often it must (per job, or the queue's).
ALTER TABLE {{schema}}.job
  ADD COLUMN heartbeat_on timestamptz,
  ADD COLUMN heartbeat_seconds integer;
ALTER TABLE {{schema}}.queue ADD COLUMN heartbeat_seconds integer;

-- create_queue takes the heartbeatSeconds option.
{{create_queue_30}}

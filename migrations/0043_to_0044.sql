-- pg-boss schema 43 -> 44 (pg-boss 12.36), partitioned layout. Every new column is nullable or
-- has a constant default, so no table is rewritten.

-- The instance registry: one row per running PgBoss object, written by the object itself on
-- start() and on every heartbeat, so it starts empty.
CREATE TABLE {{schema}}.instance (
  id                   uuid        NOT NULL,
  name                 text,
  host                 text        NOT NULL,
  pid                  integer     NOT NULL,
  version              text        NOT NULL,
  node_version         text        NOT NULL,
  application_name     text,
  heartbeat_seconds    integer     NOT NULL,
  supervise            boolean     NOT NULL,
  schedule             boolean     NOT NULL,
  migrate              boolean     NOT NULL,
  persist_queue_stats  boolean     NOT NULL,
  persist_warnings     boolean     NOT NULL,
  pool_max             integer,
  pool_total           integer,
  pool_idle            integer,
  pool_waiting         integer,
  workers              jsonb       NOT NULL DEFAULT '[]',
  metrics              jsonb,
  config               jsonb       NOT NULL DEFAULT '{}',
  crash_restarts       integer     NOT NULL DEFAULT 0,
  crash_restarts_since timestamptz,
  started_on           timestamptz NOT NULL DEFAULT now(),
  heartbeat_on         timestamptz NOT NULL DEFAULT now(),
  stopped_on           timestamptz,
  CONSTRAINT instance_pkey PRIMARY KEY (id)
);

-- Blocked jobs, wait/run histograms and the oldest ready job's age: monitor gauges that read 0 /
-- "not counted" until the next monitor pass.
ALTER TABLE {{schema}}.queue
  ADD COLUMN blocked_count integer NOT NULL DEFAULT 0,
  ADD COLUMN wait_bins integer[],
  ADD COLUMN run_bins integer[],
  ADD COLUMN ready_oldest_seconds integer;

ALTER TABLE {{schema}}.queue_stats
  ADD COLUMN wait_bins integer[],
  ADD COLUMN run_bins integer[],
  ADD COLUMN ready_oldest_seconds integer;

-- OpenTelemetry context carried from send() to the handler.
ALTER TABLE {{schema}}.job ADD COLUMN IF NOT EXISTS trace_context jsonb;

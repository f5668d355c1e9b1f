-- pg-boss schema version 46, fresh install, non-partitioned layout (pg-boss's noTablePartitioning:
-- the "cockroachdb" and "yugabytedb" backends).
--
-- Not a script of its own: each `-- flat: <name>` block below replaces the block of the same name
-- between `-- partitioned: <name>` and `-- partitioned: end` in 0046_install.sql, so every table the
-- two layouts share is written once (src/plans/schema_flat.rs puts them together).
--
-- Target: the catalog pg-boss 12.38 installs with the same backend (dist/schema.json
-- "nonPartitioned", with the backend's two variations):
--   * {{fk_deferrable}}   job's foreign keys are DEFERRABLE INITIALLY DEFERRED unless the backend
--                         has no deferrable constraints (cockroachdb): then checked per statement;
--   * {{include_heads}}, {{include_stats}}
--                         the INCLUDE payloads of job_i10 and queue_stats_i1, left out where the
--                         backend has no covering indexes (cockroachdb).
-- Function bodies are compared by pg-boss token by token (whitespace collapsed): keep their tokens.

-- flat: jobs
-- ---------------------------------------------------------------------------------------------
-- Jobs: one plain table for every queue. It carries the primary key, the foreign keys and every
-- policy's index itself; `partition: true` queues live here too (create_queue ignores it).
-- ---------------------------------------------------------------------------------------------

CREATE TABLE {{schema}}.job (
  id                   uuid                        NOT NULL DEFAULT gen_random_uuid(),
  name                 text                        NOT NULL,
  priority             integer                     NOT NULL DEFAULT 0,
  data                 jsonb,
  state                {{schema}}.job_state        NOT NULL DEFAULT 'created',
  retry_limit          integer                     NOT NULL DEFAULT 2,
  retry_count          integer                     NOT NULL DEFAULT 0,
  retry_delay          integer                     NOT NULL DEFAULT 0,
  retry_backoff        boolean                     NOT NULL DEFAULT false,
  retry_delay_max      integer,
  expire_seconds       integer                     NOT NULL DEFAULT 900,
  deletion_seconds     integer                     NOT NULL DEFAULT 604800,
  singleton_key        text,
  singleton_on         timestamp without time zone,
  group_id             text,
  group_tier           text,
  start_after          timestamptz                 NOT NULL DEFAULT now(),
  created_on           timestamptz                 NOT NULL DEFAULT now(),
  started_on           timestamptz,
  completed_on         timestamptz,
  keep_until           timestamptz                 NOT NULL DEFAULT now() + interval '336 hours',
  output               jsonb,
  dead_letter          text,
  policy               text,
  heartbeat_on         timestamptz,
  heartbeat_seconds    integer,
  blocked              boolean                     NOT NULL DEFAULT false,
  blocking             boolean                     NOT NULL DEFAULT false,
  pending_dependencies integer                     NOT NULL DEFAULT 0,
  source_name          text,
  source_id            uuid,
  source_created_on    timestamptz,
  source_retry_count   integer,
  source_output        jsonb,
  source_root_id       uuid,
  trace_context        jsonb,
  upsert_by_key        boolean,
  CONSTRAINT job_pkey PRIMARY KEY (name, id),
  CONSTRAINT q_fkey FOREIGN KEY (name) REFERENCES {{schema}}.queue (name)
    ON DELETE RESTRICT{{fk_deferrable}},
  CONSTRAINT dlq_fkey FOREIGN KEY (dead_letter) REFERENCES {{schema}}.queue (name)
    ON DELETE RESTRICT{{fk_deferrable}},
  -- key_strict_fifo orders by singleton key, so a job without one is meaningless there
  CONSTRAINT job_key_strict_fifo_singleton_key_check
    CHECK (NOT (policy = 'key_strict_fifo' AND singleton_key IS NULL))
);

-- The same index set job_common carries in the partitioned layout, on job itself.
-- Policy uniqueness: short (i1), singleton (i2), stately (i3), exclusive (i6), key_strict_fifo (i8).
CREATE UNIQUE INDEX job_i1 ON {{schema}}.job (name, COALESCE(singleton_key, ''))
  WHERE state = 'created' AND policy = 'short';
CREATE UNIQUE INDEX job_i2 ON {{schema}}.job (name, COALESCE(singleton_key, ''))
  WHERE state = 'active' AND policy = 'singleton';
CREATE UNIQUE INDEX job_i3 ON {{schema}}.job (name, state, COALESCE(singleton_key, ''))
  WHERE state <= 'active' AND policy = 'stately';
CREATE UNIQUE INDEX job_i6 ON {{schema}}.job (name, COALESCE(singleton_key, ''))
  WHERE state <= 'active' AND policy = 'exclusive';
CREATE UNIQUE INDEX job_i8 ON {{schema}}.job (name, singleton_key)
  WHERE state IN ('active', 'retry', 'failed') AND policy = 'key_strict_fifo';
-- key_strict_fifo head-of-key scan
CREATE INDEX job_i10 ON {{schema}}.job (name, singleton_key, state DESC, created_on, id){{include_heads}}
  WHERE state < 'active' AND NOT blocked AND policy = 'key_strict_fifo';
CREATE UNIQUE INDEX job_i4 ON {{schema}}.job (name, singleton_on, COALESCE(singleton_key, ''))
  WHERE state <> 'cancelled' AND singleton_on IS NOT NULL;
CREATE INDEX job_i11 ON {{schema}}.job (name, priority DESC, created_on, start_after)
  WHERE state < 'active' AND NOT blocked;
CREATE INDEX job_i7 ON {{schema}}.job (name, group_id)
  WHERE state = 'active' AND group_id IS NOT NULL;
CREATE INDEX job_i9 ON {{schema}}.job (name, id)
  WHERE blocking AND state = 'completed';
CREATE INDEX job_i12 ON {{schema}}.job (source_root_id)
  WHERE source_root_id IS NOT NULL;
CREATE UNIQUE INDEX job_i13 ON {{schema}}.job (name, singleton_key)
  WHERE state = 'created' AND upsert_by_key;
CREATE INDEX job_i14 ON {{schema}}.job (name, state, blocked, start_after)
  WHERE state IN ('created', 'retry', 'active', 'failed');
CREATE INDEX job_i15 ON {{schema}}.job (name, created_on);
CREATE INDEX job_i16 ON {{schema}}.job (name, completed_on)
  WHERE completed_on IS NOT NULL;
CREATE INDEX job_i17 ON {{schema}}.job (name, singleton_key, created_on)
  WHERE state < 'active' AND singleton_key IS NOT NULL;

-- flat: queue_stats
-- Monitor snapshots in one plain table; retention deletes rows past queueStatRetentionDays, oldest
-- first, a batch at a time (src/plans/queue_stats.rs).
CREATE TABLE {{schema}}.queue_stats (
  id                   uuid        NOT NULL DEFAULT gen_random_uuid(),
  name                 text        NOT NULL,
  deferred_count       integer     NOT NULL DEFAULT 0,
  queued_count         integer     NOT NULL DEFAULT 0,
  ready_count          integer     NOT NULL DEFAULT 0,
  active_count         integer     NOT NULL DEFAULT 0,
  failed_count         integer     NOT NULL DEFAULT 0,
  total_count          integer     NOT NULL DEFAULT 0,
  created_delta        integer,
  completed_delta      integer,
  failed_delta         integer,
  delta_seconds        integer,
  delta_on             timestamptz,
  wait_bins            integer[],
  run_bins             integer[],
  ready_oldest_seconds integer,
  captured_on          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT queue_stats_pkey PRIMARY KEY (id)
);

-- history lookups per queue
CREATE INDEX queue_stats_i1 ON {{schema}}.queue_stats (name, captured_on DESC){{include_stats}};
-- retention: the rows past it in capture order (id makes the order total for the batch cursor)
CREATE INDEX queue_stats_i2 ON {{schema}}.queue_stats (captured_on, id);

-- flat: functions
-- ---------------------------------------------------------------------------------------------
-- Queue lifecycle functions. No job_table_* helpers: there are no per-queue tables to reach.
-- NOTE: keep the body tokens exactly as they are; pg-boss diffs them (see header).
-- ---------------------------------------------------------------------------------------------

-- Inserts the queue row (no-op when it exists). Every queue's jobs live in job: partition is
-- stored false, and, as in pg-boss's function for this layout, notify is left at its default.
CREATE FUNCTION {{schema}}.create_queue(queue_name text, options jsonb)
  RETURNS void
  LANGUAGE plpgsql
AS $body$
BEGIN
  INSERT INTO {{schema}}.queue (
    name, policy,
    retry_limit, retry_delay, retry_backoff, retry_delay_max,
    expire_seconds, retention_seconds, deletion_seconds,
    warning_queued, dead_letter, partition, table_name,
    heartbeat_seconds, created_on, updated_on
  )
  VALUES (
    queue_name,
    options->>'policy',
    COALESCE((options->>'retryLimit')::int, 2),
    COALESCE((options->>'retryDelay')::int, 0),
    COALESCE((options->>'retryBackoff')::bool, false),
    (options->>'retryDelayMax')::int,
    COALESCE((options->>'expireInSeconds')::int, 900),
    COALESCE((options->>'retentionSeconds')::int, 1209600),
    COALESCE((options->>'deleteAfterSeconds')::int, 604800),
    COALESCE((options->>'warningQueueSize')::int, 0),
    options->>'deadLetter',
    false,
    'job',
    (options->>'heartbeatSeconds')::int,
    {{schema}}.job_now(),
    {{schema}}.job_now()
  )
  ON CONFLICT DO NOTHING;
END;
$body$;

-- Removes a queue and its jobs.
CREATE FUNCTION {{schema}}.delete_queue(queue_name text)
  RETURNS void
  LANGUAGE plpgsql
AS $body$
BEGIN
  DELETE FROM {{schema}}.job WHERE name = queue_name;
  DELETE FROM {{schema}}.queue WHERE name = queue_name;
END;
$body$;

-- pg-boss schema version 46, fresh install, partitioned layout (the default "postgres" backend).
--
-- Target: the catalog pg-boss 12.38 describes in dist/schema.json ("partitioned"), so that its
-- detectSchemaDrift() reports ok and an instance started with migrate: true finds nothing to do.
--
-- Contract with the engine:
--   * {{schema}} is replaced with the (possibly quoted) schema identifier before execution.
--   * The engine runs this whole file as one multi-statement script inside its own transaction
--     (BEGIN / SET LOCAL lock_timeout / advisory lock / COMMIT), so there is no BEGIN/COMMIT here.
--   * The statement under the `-- create-schema` marker is dropped when createSchema is false.
--   * The blocks between `-- partitioned: <name>` and `-- partitioned: end` are this layout's own;
--     the non-partitioned layout (0046_install_flat.sql) puts its `-- flat: <name>` blocks there.
--
-- Things that look arbitrary but are not:
--   * Column order follows pg-boss, so `SELECT *`, `LIKE ... INCLUDING DEFAULTS` copies and
--     positional tooling line up with an instance that pg-boss installed itself.
--   * Constraint names are spelled out and equal the names Postgres would generate for pg-boss's
--     DDL (queue_check, schedule_kind_check, ...), so later migrations can address them by name.
--   * Column defaults read pg_catalog's now(), not job_now(): pg-boss names its timestamps on every
--     write, and partitions copy these defaults, so they must not depend on the clock function.
--   * Function bodies are compared by pg-boss token by token (whitespace collapsed), so their
--     tokens, including spacing between tokens and letter case, must not change. Layout may.

-- create-schema
CREATE SCHEMA IF NOT EXISTS {{schema}};

-- Declaration order is load-bearing: the queries compare states with < and <=, so
-- created < retry < active < completed < cancelled < failed must hold.
CREATE TYPE {{schema}}.job_state AS ENUM (
  'created', 'retry', 'active', 'completed', 'cancelled', 'failed'
);

-- The single clock every pg-boss statement reads. Plain SQL + STABLE with no SET clause so the
-- planner inlines it; a TestClock swaps the body at runtime.
CREATE FUNCTION {{schema}}.job_now()
  RETURNS timestamptz
  LANGUAGE sql
  STABLE
AS $body$
  SELECT pg_catalog.now();
$body$;


-- ---------------------------------------------------------------------------------------------
-- Fixed tables
-- ---------------------------------------------------------------------------------------------

-- One row: the installed schema version plus the per-interval claims of the background passes.
CREATE TABLE {{schema}}.version (
  version            integer,
  cron_on            timestamptz,
  bam_on             timestamptz,
  flow_on            timestamptz,
  reindex_on         timestamptz,
  monitor_backoff_on timestamptz,
  CONSTRAINT version_pkey PRIMARY KEY (version)
);

-- Queue settings plus the monitor's cached gauges / deltas. table_name is where its jobs live:
-- job_common, or the queue's own partition when created with partition: true.
CREATE TABLE {{schema}}.queue (
  name                 text        NOT NULL,
  policy               text        NOT NULL,
  retry_limit          integer     NOT NULL,
  retry_delay          integer     NOT NULL,
  retry_backoff        boolean     NOT NULL,
  retry_delay_max      integer,
  expire_seconds       integer     NOT NULL,
  retention_seconds    integer     NOT NULL,
  deletion_seconds     integer     NOT NULL,
  dead_letter          text,
  partition            boolean     NOT NULL,
  table_name           text        NOT NULL,
  deferred_count       integer     NOT NULL DEFAULT 0,
  blocked_count        integer     NOT NULL DEFAULT 0,
  queued_count         integer     NOT NULL DEFAULT 0,
  ready_count          integer     NOT NULL DEFAULT 0,
  warning_queued       integer     NOT NULL DEFAULT 0,
  active_count         integer     NOT NULL DEFAULT 0,
  failed_count         integer     NOT NULL DEFAULT 0,
  total_count          integer     NOT NULL DEFAULT 0,
  retained_count       integer,
  retained_on          timestamptz,
  created_delta        integer     NOT NULL DEFAULT 0,
  completed_delta      integer     NOT NULL DEFAULT 0,
  failed_delta         integer     NOT NULL DEFAULT 0,
  delta_on             timestamptz,
  delta_seconds        integer,
  wait_bins            integer[],
  run_bins             integer[],
  ready_oldest_seconds integer,
  ready_history        integer[]   NOT NULL DEFAULT '{}',
  heartbeat_seconds    integer,
  notify               boolean     NOT NULL DEFAULT false,
  singletons_active    text[],
  monitor_claim_on     timestamptz,
  monitor_on           timestamptz,
  maintain_on          timestamptz,
  created_on           timestamptz NOT NULL DEFAULT now(),
  updated_on           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT queue_pkey PRIMARY KEY (name),
  -- a dead letter queue is another queue, never the queue itself
  CONSTRAINT queue_dead_letter_fkey FOREIGN KEY (dead_letter) REFERENCES {{schema}}.queue (name),
  CONSTRAINT queue_check CHECK (dead_letter IS DISTINCT FROM name)
);

-- Cron / rrule schedules; `cron` holds the expression whatever its kind (historic column name).
CREATE TABLE {{schema}}.schedule (
  name        text        NOT NULL,
  key         text        NOT NULL DEFAULT '',
  kind        text        NOT NULL DEFAULT 'cron',
  cron        text        NOT NULL,
  timezone    text        DEFAULT 'UTC',
  data        jsonb,
  options     jsonb,
  created_on  timestamptz NOT NULL DEFAULT now(),
  updated_on  timestamptz NOT NULL DEFAULT now(),
  last_job_id uuid,
  CONSTRAINT schedule_pkey PRIMARY KEY (name, key),
  CONSTRAINT schedule_name_fkey FOREIGN KEY (name) REFERENCES {{schema}}.queue (name) ON DELETE CASCADE,
  CONSTRAINT schedule_kind_check CHECK (kind IN ('cron', 'rrule'))
);

-- pub/sub: which queues receive an event.
CREATE TABLE {{schema}}.subscription (
  event      text        NOT NULL,
  name       text        NOT NULL,
  created_on timestamptz NOT NULL DEFAULT now(),
  updated_on timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT subscription_pkey PRIMARY KEY (event, name),
  CONSTRAINT subscription_name_fkey FOREIGN KEY (name) REFERENCES {{schema}}.queue (name) ON DELETE CASCADE
);

-- Background async migration (BAM) commands. created_on uses clock_timestamp() so several enqueues
-- inside one migration transaction keep their order.
CREATE TABLE {{schema}}.bam (
  id           uuid        NOT NULL DEFAULT gen_random_uuid(),
  name         text        NOT NULL,
  version      integer     NOT NULL,
  status       text        NOT NULL DEFAULT 'pending',
  queue        text,
  table_name   text        NOT NULL,
  command      text        NOT NULL,
  error        text,
  created_on   timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_on   timestamptz,
  completed_on timestamptz,
  CONSTRAINT bam_pkey PRIMARY KEY (id)
);


-- partitioned: jobs
-- ---------------------------------------------------------------------------------------------
-- Jobs: `job` is partitioned by queue name. job_common is the DEFAULT partition holding every
-- queue that has no table of its own; create_queue() adds one partition per partition: true queue.
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
  -- 14 days, spelled in hours: pg-boss stores '336:00:00', and '14 days' would shift by DST
  keep_until           timestamptz                 NOT NULL DEFAULT now() + interval '336 hours',
  output               jsonb,
  dead_letter          text,
  policy               text,
  heartbeat_on         timestamptz,
  heartbeat_seconds    integer,
  blocked              boolean                     NOT NULL DEFAULT false,
  blocking             boolean                     NOT NULL DEFAULT false,
  pending_dependencies integer                     NOT NULL DEFAULT 0,
  -- dead-letter provenance, stamped when a job is moved to its dead letter queue
  source_name          text,
  source_id            uuid,
  source_created_on    timestamptz,
  source_retry_count   integer,
  source_output        jsonb,
  source_root_id       uuid,
  trace_context        jsonb,
  upsert_by_key        boolean,
  CONSTRAINT job_pkey PRIMARY KEY (name, id)
) PARTITION BY LIST (name);

-- Built as a plain table from the job template and attached afterwards, the same way
-- create_queue() builds per-queue partitions, so both kinds of partition look alike in the catalog.
CREATE TABLE {{schema}}.job_common (LIKE {{schema}}.job INCLUDING DEFAULTS);

-- Foreign keys live on the leaf tables (not on job) and are deferred, because a queue row and its
-- first jobs are often written in one transaction.
ALTER TABLE {{schema}}.job_common
  ADD CONSTRAINT job_common_pkey PRIMARY KEY (name, id),
  ADD CONSTRAINT q_fkey FOREIGN KEY (name) REFERENCES {{schema}}.queue (name)
    ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  ADD CONSTRAINT dlq_fkey FOREIGN KEY (dead_letter) REFERENCES {{schema}}.queue (name)
    ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  -- key_strict_fifo orders by singleton key, so a job without one is meaningless there
  ADD CONSTRAINT job_key_strict_fifo_singleton_key_check
    CHECK (NOT (policy = 'key_strict_fifo' AND singleton_key IS NULL));

-- job_common serves every policy at once, so it carries every policy's index. A per-queue
-- partition only gets the base set plus its own policy's (see create_queue below).
-- Policy uniqueness: short (i1), singleton (i2), stately (i3), exclusive (i6), key_strict_fifo (i8).
CREATE UNIQUE INDEX job_common_i1 ON {{schema}}.job_common (name, COALESCE(singleton_key, ''))
  WHERE state = 'created' AND policy = 'short';
CREATE UNIQUE INDEX job_common_i2 ON {{schema}}.job_common (name, COALESCE(singleton_key, ''))
  WHERE state = 'active' AND policy = 'singleton';
CREATE UNIQUE INDEX job_common_i3 ON {{schema}}.job_common (name, state, COALESCE(singleton_key, ''))
  WHERE state <= 'active' AND policy = 'stately';
CREATE UNIQUE INDEX job_common_i6 ON {{schema}}.job_common (name, COALESCE(singleton_key, ''))
  WHERE state <= 'active' AND policy = 'exclusive';
CREATE UNIQUE INDEX job_common_i8 ON {{schema}}.job_common (name, singleton_key)
  WHERE state IN ('active', 'retry', 'failed') AND policy = 'key_strict_fifo';
-- key_strict_fifo head-of-key scan; start_after is INCLUDEd so the scan stays index-only
CREATE INDEX job_common_i10 ON {{schema}}.job_common (name, singleton_key, state DESC, created_on, id)
  INCLUDE (start_after)
  WHERE state < 'active' AND NOT blocked AND policy = 'key_strict_fifo';

-- Base set, present on every job table. (i5 was retired in v40 and is not reused.)
-- throttling / debouncing by singleton_on
CREATE UNIQUE INDEX job_common_i4 ON {{schema}}.job_common (name, singleton_on, COALESCE(singleton_key, ''))
  WHERE state <> 'cancelled' AND singleton_on IS NOT NULL;
-- fetch: matches ORDER BY priority DESC, created_on; start_after as trailing key filters in-index
CREATE INDEX job_common_i11 ON {{schema}}.job_common (name, priority DESC, created_on, start_after)
  WHERE state < 'active' AND NOT blocked;
-- group concurrency
CREATE INDEX job_common_i7 ON {{schema}}.job_common (name, group_id)
  WHERE state = 'active' AND group_id IS NOT NULL;
-- flow resolver: completed blocking parents
CREATE INDEX job_common_i9 ON {{schema}}.job_common (name, id)
  WHERE blocking AND state = 'completed';
-- dead letter lineage lookup (crosses queues, so no name)
CREATE INDEX job_common_i12 ON {{schema}}.job_common (source_root_id)
  WHERE source_root_id IS NOT NULL;
-- one waiting upserted job per key
CREATE UNIQUE INDEX job_common_i13 ON {{schema}}.job_common (name, singleton_key)
  WHERE state = 'created' AND upsert_by_key;
-- monitor gauges over live jobs
CREATE INDEX job_common_i14 ON {{schema}}.job_common (name, state, blocked, start_after)
  WHERE state IN ('created', 'retry', 'active', 'failed');
-- created-in-window counts
CREATE INDEX job_common_i15 ON {{schema}}.job_common (name, created_on);
-- finished-in-window counts and latency histograms
CREATE INDEX job_common_i16 ON {{schema}}.job_common (name, completed_on)
  WHERE completed_on IS NOT NULL;
-- update()/upsert() by singleton key among queued jobs
CREATE INDEX job_common_i17 ON {{schema}}.job_common (name, singleton_key, created_on)
  WHERE state < 'active' AND singleton_key IS NOT NULL;

-- Attached last: job_common_pkey then becomes the partition of job_pkey instead of a duplicate.
ALTER TABLE {{schema}}.job ATTACH PARTITION {{schema}}.job_common DEFAULT;
-- partitioned: end


-- ---------------------------------------------------------------------------------------------
-- Remaining fixed tables
-- ---------------------------------------------------------------------------------------------

CREATE TABLE {{schema}}.warning (
  id         uuid        NOT NULL DEFAULT gen_random_uuid(),
  type       text        NOT NULL,
  message    text        NOT NULL,
  data       jsonb,
  created_on timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT warning_pkey PRIMARY KEY (id)
);

CREATE INDEX warning_i1 ON {{schema}}.warning (created_on DESC);

-- partitioned: queue_stats
-- Monitor snapshots, one daily range partition per UTC day (retention drops whole days).
-- captured_on is in the key because a partitioned table's PK must contain the partition key.
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
  CONSTRAINT queue_stats_pkey PRIMARY KEY (id, captured_on)
) PARTITION BY RANGE (captured_on);

-- History lookups per queue; the gauges are INCLUDEd so reads are index-only. Created before the
-- daily partitions so each partition inherits it.
CREATE INDEX queue_stats_i1 ON {{schema}}.queue_stats (name, captured_on DESC)
  INCLUDE (deferred_count, queued_count, ready_count, active_count, failed_count, total_count);

-- Today's and tomorrow's partitions (maintenance keeps creating them later). Names and bounds come
-- from the UTC calendar date at apply time, and the bounds are written as explicit +00 literals so
-- the session TimeZone cannot shift a day boundary.
DO $install$
DECLARE
  today date := (now() AT TIME ZONE 'UTC')::date;
  d     date;
BEGIN
  FOR n IN 0..1 LOOP
    d := today + n;
    EXECUTE format(
      'CREATE TABLE IF NOT EXISTS {{schema}}.%I PARTITION OF {{schema}}.queue_stats FOR VALUES FROM (%L) TO (%L)',
      'queue_stats_' || to_char(d, 'YYYYMMDD'),
      to_char(d, 'YYYY-MM-DD') || ' 00:00:00+00',
      to_char(d + 1, 'YYYY-MM-DD') || ' 00:00:00+00'
    );
  END LOOP;
END
$install$;
-- partitioned: end

-- Flow edges: a child waits for its parents.
CREATE TABLE {{schema}}.job_dependency (
  child_name  text NOT NULL,
  child_id    uuid NOT NULL,
  parent_name text NOT NULL,
  parent_id   uuid NOT NULL,
  CONSTRAINT job_dependency_pkey PRIMARY KEY (child_name, child_id, parent_name, parent_id)
);

-- the resolver walks from a completed parent to its children
CREATE INDEX job_dep_parent_idx ON {{schema}}.job_dependency (parent_name, parent_id);

-- One row per running PgBoss object, written by the object itself at start and on each heartbeat.
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


-- partitioned: functions
-- ---------------------------------------------------------------------------------------------
-- Partition helpers and queue lifecycle functions.
-- NOTE: keep the body tokens exactly as they are; pg-boss diffs them (see header).
-- ---------------------------------------------------------------------------------------------

-- Rewrites a DDL command written against `{{schema}}.job` / `job_iN` so it targets one job table:
-- `.job` becomes `.<table>` and `job_iN` becomes `<table>_iN`. The \y anchors keep `.job_dependency`
-- and a schema name containing `job_i` intact.
CREATE FUNCTION {{schema}}.job_table_format(command text, table_name text)
  RETURNS text
  LANGUAGE sql
  IMMUTABLE
AS $body$
  SELECT format(
    regexp_replace(
      regexp_replace(command, '\.job\y', '.%1$I', 'g'),
      '\yjob_i(\d+)', '%1$s_i\1', 'g'
    ),
    table_name
  );
$body$;

-- Runs a job-table command on one table (by table or queue name), or on job_common plus every
-- per-queue partition when neither is given.
CREATE FUNCTION {{schema}}.job_table_run(command text, tbl_name text DEFAULT NULL, queue_name text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql
AS $body$
DECLARE
  tbl RECORD;
BEGIN
  IF queue_name IS NOT NULL THEN
    SELECT table_name INTO tbl_name FROM {{schema}}.queue WHERE name = queue_name;
  END IF;

  IF tbl_name IS NOT NULL THEN
    EXECUTE {{schema}}.job_table_format(command, tbl_name);
    RETURN;
  END IF;

  EXECUTE {{schema}}.job_table_format(command, 'job_common');

  FOR tbl IN SELECT table_name FROM {{schema}}.queue WHERE partition = true
  LOOP
    EXECUTE {{schema}}.job_table_format(command, tbl.table_name);
  END LOOP;
END;
$body$;

-- Same fan-out as job_table_run, but queued in bam for the background worker instead of run now
-- (used for index builds that must not block a migration).
CREATE FUNCTION {{schema}}.job_table_run_async(command_name text, version integer, command text, tbl_name text DEFAULT NULL, queue_name text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql
AS $body$
BEGIN
  IF queue_name IS NOT NULL THEN
    SELECT table_name INTO tbl_name FROM {{schema}}.queue WHERE name = queue_name;
  END IF;

  IF tbl_name IS NOT NULL THEN
    INSERT INTO {{schema}}.bam (name, version, status, queue, table_name, command)
    VALUES (
      command_name, version, 'pending', queue_name, tbl_name,
      {{schema}}.job_table_format(command, tbl_name)
    );
    RETURN;
  END IF;

  INSERT INTO {{schema}}.bam (name, version, status, queue, table_name, command)
  SELECT
    command_name, version, 'pending', NULL, 'job_common',
    {{schema}}.job_table_format(command, 'job_common')
  UNION ALL
  SELECT
    command_name, version, 'pending', queue.name, queue.table_name,
    {{schema}}.job_table_format(command, queue.table_name)
  FROM {{schema}}.queue
  WHERE partition = true;
END;
$body$;

-- Inserts the queue row (no-op when it exists). For partition: true it then builds the queue's own
-- table: a LIKE copy of job named 'j' || sha224(name), the base index set plus the policy's own
-- indexes, a CHECK pinning it to the one name, and finally attaches it as job's list partition.
CREATE FUNCTION {{schema}}.create_queue(queue_name text, options jsonb)
  RETURNS void
  LANGUAGE plpgsql
AS $body$
DECLARE
  tablename varchar := CASE WHEN options->>'partition' = 'true'
    THEN 'j' || encode(sha224(queue_name::bytea), 'hex')
    ELSE 'job_common'
    END;
  queue_created_on timestamptz;
BEGIN

  WITH q as (
    INSERT INTO {{schema}}.queue (
      name, policy,
      retry_limit, retry_delay, retry_backoff, retry_delay_max,
      expire_seconds, retention_seconds, deletion_seconds,
      warning_queued, dead_letter, partition, table_name,
      heartbeat_seconds, notify, created_on, updated_on
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
      COALESCE((options->>'partition')::bool, false),
      tablename,
      (options->>'heartbeatSeconds')::int,
      COALESCE((options->>'notify')::bool, false),
      {{schema}}.job_now(),
      {{schema}}.job_now()
    )
    ON CONFLICT DO NOTHING
    RETURNING created_on
  )
  SELECT created_on into queue_created_on from q;

  IF queue_created_on IS NULL OR options->>'partition' IS DISTINCT FROM 'true' THEN
    RETURN;
  END IF;

  EXECUTE format('CREATE TABLE {{schema}}.%I (LIKE {{schema}}.job INCLUDING DEFAULTS)', tablename);

  EXECUTE {{schema}}.job_table_format($cmd$ALTER TABLE {{schema}}.job ADD PRIMARY KEY (name, id)$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$ALTER TABLE {{schema}}.job ADD CONSTRAINT q_fkey FOREIGN KEY (name) REFERENCES {{schema}}.queue (name) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$ALTER TABLE {{schema}}.job ADD CONSTRAINT dlq_fkey FOREIGN KEY (dead_letter) REFERENCES {{schema}}.queue (name) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED$cmd$, tablename);

  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i11 ON {{schema}}.job (name, priority DESC, created_on, start_after) WHERE state < 'active' AND NOT blocked$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE UNIQUE INDEX job_i4 ON {{schema}}.job (name, singleton_on, COALESCE(singleton_key, '')) WHERE state <> 'cancelled' AND singleton_on IS NOT NULL$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i7 ON {{schema}}.job (name, group_id) WHERE state = 'active' AND group_id IS NOT NULL$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i9 ON {{schema}}.job (name, id) WHERE blocking AND state = 'completed'$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i12 ON {{schema}}.job (source_root_id) WHERE source_root_id IS NOT NULL$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE UNIQUE INDEX job_i13 ON {{schema}}.job (name, singleton_key) WHERE state = 'created' AND upsert_by_key$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i14 ON {{schema}}.job (name, state, blocked, start_after) WHERE state IN ('created', 'retry', 'active', 'failed')$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i15 ON {{schema}}.job (name, created_on)$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i16 ON {{schema}}.job (name, completed_on) WHERE completed_on IS NOT NULL$cmd$, tablename);
  EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i17 ON {{schema}}.job (name, singleton_key, created_on) WHERE state < 'active' AND singleton_key IS NOT NULL$cmd$, tablename);

  IF options->>'policy' = 'short' THEN
    EXECUTE {{schema}}.job_table_format($cmd$CREATE UNIQUE INDEX job_i1 ON {{schema}}.job (name, COALESCE(singleton_key, '')) WHERE state = 'created' AND policy = 'short'$cmd$, tablename);
  ELSIF options->>'policy' = 'singleton' THEN
    EXECUTE {{schema}}.job_table_format($cmd$CREATE UNIQUE INDEX job_i2 ON {{schema}}.job (name, COALESCE(singleton_key, '')) WHERE state = 'active' AND policy = 'singleton'$cmd$, tablename);
  ELSIF options->>'policy' = 'stately' THEN
    EXECUTE {{schema}}.job_table_format($cmd$CREATE UNIQUE INDEX job_i3 ON {{schema}}.job (name, state, COALESCE(singleton_key, '')) WHERE state <= 'active' AND policy = 'stately'$cmd$, tablename);
  ELSIF options->>'policy' = 'exclusive' THEN
    EXECUTE {{schema}}.job_table_format($cmd$CREATE UNIQUE INDEX job_i6 ON {{schema}}.job (name, COALESCE(singleton_key, '')) WHERE state <= 'active' AND policy = 'exclusive'$cmd$, tablename);
  ELSIF options->>'policy' = 'key_strict_fifo' THEN
    EXECUTE {{schema}}.job_table_format($cmd$CREATE UNIQUE INDEX job_i8 ON {{schema}}.job (name, singleton_key) WHERE state IN ('active', 'retry', 'failed') AND policy = 'key_strict_fifo'$cmd$, tablename);
    EXECUTE {{schema}}.job_table_format($cmd$CREATE INDEX job_i10 ON {{schema}}.job (name, singleton_key, state DESC, created_on, id) INCLUDE (start_after) WHERE state < 'active' AND NOT blocked AND policy = 'key_strict_fifo'$cmd$, tablename);
    EXECUTE {{schema}}.job_table_format($cmd$ALTER TABLE {{schema}}.job ADD CONSTRAINT job_key_strict_fifo_singleton_key_check CHECK (NOT (policy = 'key_strict_fifo' AND singleton_key IS NULL))$cmd$, tablename);
  END IF;

  EXECUTE format('ALTER TABLE {{schema}}.%I ADD CONSTRAINT cjc CHECK (name=%L)', tablename, queue_name);
  EXECUTE format('ALTER TABLE {{schema}}.job ATTACH PARTITION {{schema}}.%I FOR VALUES IN (%L)', tablename, queue_name);
END;
$body$;

-- Removes a queue and its jobs: drops its own partition, or deletes its rows from the shared table.
CREATE FUNCTION {{schema}}.delete_queue(queue_name text)
  RETURNS void
  LANGUAGE plpgsql
AS $body$
DECLARE
  v_table varchar;
  v_partition bool;
BEGIN

  SELECT table_name, partition
  FROM {{schema}}.queue
  WHERE name = queue_name
  INTO v_table, v_partition;

  IF v_partition THEN
    EXECUTE format('DROP TABLE IF EXISTS {{schema}}.%I', v_table);
  ELSE
    EXECUTE format('DELETE FROM {{schema}}.%I WHERE name = %L', v_table, queue_name);
  END IF;

  DELETE FROM {{schema}}.queue WHERE name = queue_name;
END;
$body$;
-- partitioned: end


-- Recorded last: a version row means the install completed.
INSERT INTO {{schema}}.version(version) VALUES (46);

//! Instance registry statements: this instance's row in `<schema>.instance`, written as pg-boss
//! 12.38 writes its own (same columns, same liveness rule, same crash-restart counting and
//! pruning), so each lists the other in `getInstances()`.
//!
//! `$1` is the instance id throughout. The row's values are bound in `ROW_PARAMS` order: id, name,
//! host, pid, version, node_version, heartbeat_seconds, supervise, schedule, migrate,
//! persist_queue_stats, persist_warnings, pool_max, pool_total, pool_idle, pool_waiting, workers,
//! metrics, config (JSON text); `application_name` is the registering session's own.

use crate::names::SchemaName;

/// An instance is live until it misses this many heartbeats (pg-boss's `INSTANCE_QUIET_BEATS`).
pub const QUIET_BEATS: u32 = 3;
/// Dead rows kept per instance name (per host when unnamed) after a registration.
pub const DEAD_KEPT_PER_NAME: u32 = 20;

const COLUMNS: &str = "id, name, host, pid, version, node_version, heartbeat_seconds,
  supervise, schedule, migrate, persist_queue_stats, persist_warnings,
  pool_max, pool_total, pool_idle, pool_waiting, workers, metrics, config, application_name,
  started_on, heartbeat_on";

const ROW_PARAMS: &str = "$1::text::uuid, $2::text, $3::text, $4::text::int, $5::text, $6::text,
  $7::text::int, $8::text::bool, $9::text::bool, $10::text::bool, $11::text::bool, $12::text::bool,
  $13::text::int, $14::text::int, $15::text::int, $16::text::int,
  $17::text::jsonb, $18::text::jsonb, $19::text::jsonb, current_setting('application_name')";

/// What a heartbeat refreshes (a registration too).
const BEAT_SET: &str = "pool_max = EXCLUDED.pool_max, pool_total = EXCLUDED.pool_total,
  pool_idle = EXCLUDED.pool_idle, pool_waiting = EXCLUDED.pool_waiting,
  workers = EXCLUDED.workers, metrics = EXCLUDED.metrics, heartbeat_on = EXCLUDED.heartbeat_on";

/// Dead: stopped, or quiet for `QUIET_BEATS` of its own heartbeats (the complement of `live`).
fn dead(s_: &str) -> String {
    format!(
        "(stopped_on IS NOT NULL OR heartbeat_on < {s_}.job_now() - heartbeat_seconds * {QUIET_BEATS} * interval '1 second')"
    )
}

/// Register (or re-register after a stop): the row is replaced, live again from a new
/// `started_on`, its crash count reset. Returns `started_on` as text, for the heartbeats.
pub fn register(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        "INSERT INTO {s_}.instance ({COLUMNS})
VALUES ({ROW_PARAMS}, {s_}.job_now(), {s_}.job_now())
ON CONFLICT (id) DO UPDATE SET
  name = EXCLUDED.name, host = EXCLUDED.host, pid = EXCLUDED.pid, version = EXCLUDED.version,
  node_version = EXCLUDED.node_version, heartbeat_seconds = EXCLUDED.heartbeat_seconds,
  supervise = EXCLUDED.supervise, schedule = EXCLUDED.schedule, migrate = EXCLUDED.migrate,
  persist_queue_stats = EXCLUDED.persist_queue_stats, persist_warnings = EXCLUDED.persist_warnings,
  application_name = EXCLUDED.application_name, config = EXCLUDED.config,
  started_on = EXCLUDED.started_on, stopped_on = NULL, crash_restarts = 0, crash_restarts_since = NULL,
  {BEAT_SET}
RETURNING started_on::text"
    )
}

/// A heartbeat: an upsert, so a row pruned while this process was paused comes back, keeping the
/// `started_on` it registered with (`$20`).
pub fn heartbeat(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        "INSERT INTO {s_}.instance ({COLUMNS})
VALUES ({ROW_PARAMS}, $20::text::timestamptz, {s_}.job_now())
ON CONFLICT (id) DO UPDATE SET {BEAT_SET}"
    )
}

/// A graceful stop marks the row stopped (a crash leaves it to go quiet).
pub fn stop(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!("UPDATE {s_}.instance SET stopped_on = {s_}.job_now() WHERE id = $1::text::uuid")
}

/// After registering: delete the dead rows of this name (of this host when unnamed) ranked past
/// `DEAD_KEPT_PER_NAME`, newest start first. `$2` name, `$3` host. Ranked before locking, and
/// locked with SKIP LOCKED, so a registration and a maintenance prune at once cannot deadlock.
pub fn prune_lives(s: &SchemaName) -> String {
    let s_ = &s.ident;
    let dead = dead(s_);
    format!(
        "DELETE FROM {s_}.instance WHERE id IN (
  SELECT id FROM {s_}.instance WHERE id IN (
    SELECT id FROM (
      SELECT id, row_number() OVER (ORDER BY started_on DESC, id DESC) AS n
      FROM {s_}.instance
      WHERE id <> $1::text::uuid
        AND (CASE WHEN $2::text IS NULL THEN name IS NULL AND host = $3::text ELSE name = $2::text END)
        AND {dead}
    ) ranked WHERE n > {DEAD_KEPT_PER_NAME}
  )
  FOR UPDATE SKIP LOCKED
)"
    )
}

/// The earlier lives on this name and host that may be this instance's crashed predecessors:
/// `$1` id, `$2` name, `$3` host, `$4` pid, `$5` when this process started (epoch seconds). Lives
/// started before this one whose last heartbeat came no later than its start, since the last one
/// that stopped cleanly; a row of this pid started since this process did is a sibling PgBoss
/// object in this process, never a predecessor.
fn crash_streak(s_: &str) -> String {
    format!(
        "me AS (SELECT id, started_on FROM {s_}.instance WHERE id = $1::text::uuid),
earlier AS (
  SELECT i.* FROM {s_}.instance i, me
  WHERE i.id <> me.id AND i.host = $3::text
    AND (i.name = $2::text OR (i.name IS NULL AND $2::text IS NULL))
    AND i.started_on < me.started_on AND i.heartbeat_on <= me.started_on
    AND NOT (i.pid = $4::text::int AND i.started_on >= to_timestamp($5::text::float8))
),
last_stop AS (SELECT max(started_on) AS at FROM earlier WHERE stopped_on IS NOT NULL),
streak AS (
  SELECT e.* FROM earlier e, last_stop l
  WHERE e.stopped_on IS NULL AND (l.at IS NULL OR e.started_on > l.at)
)"
    )
}

/// A life of the streak that has ended: quiet, or an earlier process that had this pid.
fn crashed(s_: &str) -> String {
    format!(
        "(heartbeat_on < {s_}.job_now() - heartbeat_seconds * {QUIET_BEATS} * interval '1 second'
  OR (pid = $4::text::int AND heartbeat_on < to_timestamp($5::text::float8)))"
    )
}

/// Number the ended lives of the streak from the earliest kept (whose count stands for any pruned
/// before it) and write each later life's count and this instance's, so the counts stay exact.
pub fn count_crash_restarts(s: &SchemaName) -> String {
    let s_ = &s.ident;
    let streak = crash_streak(s_);
    let crashed = crashed(s_);
    format!(
        "WITH {streak},
ended AS (
  SELECT id, crash_restarts, crash_restarts_since, heartbeat_on,
    row_number() OVER (ORDER BY started_on, id) AS n, count(*) OVER () AS k
  FROM streak WHERE {crashed}
),
first_life AS (
  SELECT crash_restarts AS base, COALESCE(crash_restarts_since, heartbeat_on) AS since, k
  FROM ended WHERE n = 1
),
counts AS (
  SELECT e.id, f.base + e.n - 1 AS restarts, f.since FROM ended e, first_life f WHERE e.n > 1
  UNION ALL
  SELECT me.id, COALESCE(f.base + f.k, 0), f.since FROM me LEFT JOIN first_life f ON true
)
UPDATE {s_}.instance i SET crash_restarts = counts.restarts::int, crash_restarts_since = counts.since
FROM counts WHERE i.id = counts.id"
    )
}

/// When the streak's lives that still read live would go quiet (epoch milliseconds as text), or
/// no row's worth (NULL) when there are none: the count is taken again then.
pub fn crash_recount_at(s: &SchemaName) -> String {
    let s_ = &s.ident;
    let streak = crash_streak(s_);
    let crashed = crashed(s_);
    format!(
        "WITH {streak}
SELECT (extract(epoch FROM max(heartbeat_on + heartbeat_seconds * {QUIET_BEATS} * interval '1 second')) * 1000)::bigint::text
FROM streak WHERE NOT {crashed}"
    )
}

/// `getInstances()`: one JSON document per row, camelCase as pg-boss returns it, ordered by
/// `started_on, id`. With `after` (`$1`, the previous page's last id) the rows after that one,
/// limit `$2`; without, limit `$1`.
pub fn get_instances(s: &SchemaName, after: bool) -> String {
    let s_ = &s.ident;
    let (filter, limit) = if after {
        (
            format!(
                "WHERE (started_on, id) > ((SELECT started_on FROM {s_}.instance WHERE id = $1::text::uuid), $1::text::uuid)"
            ),
            "$2",
        )
    } else {
        (String::new(), "$1")
    };
    format!(
        r#"SELECT row_to_json(r)::text FROM (
  SELECT id, name, host, pid, version, node_version AS "nodeVersion",
    application_name AS "applicationName", heartbeat_seconds AS "heartbeatSeconds",
    supervise, schedule, migrate, persist_queue_stats AS "persistQueueStats",
    persist_warnings AS "persistWarnings", pool_max AS "poolMax", pool_total AS "poolTotal",
    pool_idle AS "poolIdle", pool_waiting AS "poolWaiting", workers, metrics, config,
    crash_restarts AS "crashRestarts", crash_restarts_since AS "crashRestartsSince",
    started_on AS "startedOn", heartbeat_on AS "heartbeatOn", stopped_on AS "stoppedOn",
    stopped_on IS NULL AND heartbeat_on >= {s_}.job_now() - heartbeat_seconds * {QUIET_BEATS} * interval '1 second' AS live
  FROM {s_}.instance
  {filter}
  ORDER BY started_on, id
  LIMIT {limit}::text::int
) r"#
    )
}

/// Whether a row with id `$1` exists (an empty page after a pruned `after` is an error).
pub fn instance_exists(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!("SELECT '1' FROM {s_}.instance WHERE id = $1::text::uuid")
}

//! Queue statements.

use super::{literal, locked};
use crate::names::SchemaName;

/// A histogram column with its empty slots (stored as null) handed out as 0, as pg-boss does.
fn bins(column: &str) -> String {
    format!("CASE WHEN {column} IS NULL THEN NULL ELSE array(SELECT coalesce(u.n, 0) FROM unnest({column}) WITH ORDINALITY AS u(n, o) ORDER BY u.o) END")
}

/// Columns of `QueueResult`, camelCased as pg-boss returns them.
fn queue_columns() -> String {
    format!(
        r#"q.name, q.policy,
       q.retry_limit AS "retryLimit", q.retry_delay AS "retryDelay", q.retry_backoff AS "retryBackoff",
       q.retry_delay_max AS "retryDelayMax", q.expire_seconds AS "expireInSeconds",
       q.retention_seconds AS "retentionSeconds", q.deletion_seconds AS "deleteAfterSeconds",
       q.partition, q.heartbeat_seconds AS "heartbeatSeconds", q.notify, q.dead_letter AS "deadLetter",
       q.deferred_count AS "deferredCount", q.blocked_count AS "blockedCount",
       q.warning_queued AS "warningQueueSize", q.queued_count AS "queuedCount",
       q.ready_count AS "readyCount", q.active_count AS "activeCount", q.failed_count AS "failedCount",
       q.total_count AS "totalCount", q.created_delta AS "createdDelta",
       q.completed_delta AS "completedDelta", q.failed_delta AS "failedDelta",
       q.delta_seconds AS "deltaSeconds", q.delta_on AS "deltaOn", {wait_bins} AS "waitBins",
       {run_bins} AS "runBins", q.ready_oldest_seconds AS "readyOldestSeconds",
       q.singletons_active AS "singletonsActive", q.table_name AS "table",
       q.created_on AS "createdOn", q.updated_on AS "updatedOn""#,
        wait_bins = bins("q.wait_bins"),
        run_bins = bins("q.run_bins")
    )
}

/// $1 = JSON array of names or NULL (all), $2 = after (exclusive) or NULL, $3 = limit or NULL.
pub fn get_queues(s: &SchemaName) -> String {
    format!(
        "SELECT row_to_json(r)::text FROM (
           SELECT {cols} FROM {s}.queue q
           WHERE ($1::text IS NULL OR q.name IN (SELECT json_array_elements_text($1::text::json)))
             AND ($2::text IS NULL OR q.name > $2::text)
           ORDER BY q.name
           LIMIT $3::text::int
         ) r",
        cols = queue_columns(),
        s = s.ident
    )
}

/// `create_queue()` under the `create-queue` lock; idempotent by design of the function.
pub fn create_queue(s: &SchemaName, name: &str, options_json: &str) -> String {
    locked(
        s,
        "create-queue",
        &[format!(
            "SELECT {}.create_queue({}, {}::jsonb)",
            s.ident,
            literal(name),
            literal(options_json)
        )],
    )
}

/// `delete_queue()` under the `delete-queue` lock.
pub fn delete_queue(s: &SchemaName, name: &str) -> String {
    locked(
        s,
        "delete-queue",
        &[format!(
            "SELECT {}.delete_queue({})",
            s.ident,
            literal(name)
        )],
    )
}

/// Another queue, or a job of another queue, naming queue $1 as its dead letter queue (either would
/// fail `delete_queue()` on a foreign key). One JSON row `{ name, kind }` or none.
pub fn dead_letter_referrer(s: &SchemaName) -> String {
    format!(
        "SELECT row_to_json(r)::text FROM (
           SELECT * FROM (
             (SELECT q.name, 'queue' AS kind FROM {s}.queue q WHERE q.dead_letter = $1::text AND q.name <> $1::text LIMIT 1)
             UNION ALL
             (SELECT j.name, 'job' AS kind FROM {s}.job j WHERE j.dead_letter = $1::text AND j.name <> $1::text LIMIT 1)
           ) x LIMIT 1
         ) r",
        s = s.ident
    )
}

/// $1 = name, $2 = JSON of the options to change. A key present with null clears the nullable
/// columns (dead letter, backoff cap, heartbeat); absent keys keep the current value.
pub fn update_queue(s: &SchemaName) -> String {
    format!(
        "WITH o AS (SELECT $2::text::jsonb AS v)
         UPDATE {s}.queue SET
           retry_limit = COALESCE((o.v->>'retryLimit')::int, retry_limit),
           retry_delay = COALESCE((o.v->>'retryDelay')::int, retry_delay),
           retry_backoff = COALESCE((o.v->>'retryBackoff')::bool, retry_backoff),
           retry_delay_max = CASE WHEN o.v ? 'retryDelayMax' THEN (o.v->>'retryDelayMax')::int ELSE retry_delay_max END,
           expire_seconds = COALESCE((o.v->>'expireInSeconds')::int, expire_seconds),
           retention_seconds = COALESCE((o.v->>'retentionSeconds')::int, retention_seconds),
           deletion_seconds = COALESCE((o.v->>'deleteAfterSeconds')::int, deletion_seconds),
           warning_queued = COALESCE((o.v->>'warningQueueSize')::int, warning_queued),
           heartbeat_seconds = CASE WHEN o.v ? 'heartbeatSeconds' THEN (o.v->>'heartbeatSeconds')::int ELSE heartbeat_seconds END,
           notify = COALESCE((o.v->>'notify')::bool, notify),
           dead_letter = CASE WHEN o.v ? 'deadLetter' THEN o.v->>'deadLetter' ELSE dead_letter END,
           updated_on = {s}.job_now()
         FROM o
         WHERE name = $1::text
         RETURNING name",
        s = s.ident
    )
}

/// The cached stats of one queue, how old they are, and whether the monitor backoff is in force
/// (then even a stale cache is served: a recount is the scan the backoff defers). $1 = name.
pub fn queue_stats_cache(s: &SchemaName) -> String {
    format!(
        r#"SELECT row_to_json(r)::text FROM (
             SELECT q.name, q.table_name AS "table",
               q.deferred_count AS "deferredCount", q.queued_count AS "queuedCount",
               q.ready_count AS "readyCount", q.active_count AS "activeCount",
               q.failed_count AS "failedCount", q.total_count AS "totalCount",
               q.monitor_on AS "capturedOn",
               (extract(epoch FROM {s}.job_now() - q.monitor_on) * 1000)::bigint AS "cacheAgeMs",
               (SELECT monitor_backoff_on > {s}.job_now() FROM {s}.version) AS "monitorBackoff"
             FROM {s}.queue q WHERE q.name = $1::text
           ) r"#,
        s = s.ident
    )
}

/// Counts one queue's jobs now, writes them to the queue row (the monitor's cache) and returns
/// them. $1 = name.
pub fn refresh_queue_stats(s: &SchemaName, table: &str) -> String {
    format!(
        r#"WITH counts AS (
             SELECT
               count(*) FILTER (WHERE state < 'active' AND start_after > {s}.job_now())::int AS deferred,
               count(*) FILTER (WHERE state < 'active' AND blocked)::int AS blocked,
               count(*) FILTER (WHERE state < 'active')::int AS queued,
               count(*) FILTER (WHERE state < 'active' AND NOT blocked AND start_after <= {s}.job_now())::int AS ready,
               count(*) FILTER (WHERE state = 'active')::int AS active,
               count(*) FILTER (WHERE state = 'failed')::int AS failed,
               count(*)::int AS total
             FROM {s}.{t} WHERE name = $1::text
           ), written AS (
             UPDATE {s}.queue q SET
               deferred_count = c.deferred, blocked_count = c.blocked, queued_count = c.queued,
               ready_count = c.ready, active_count = c.active, failed_count = c.failed,
               total_count = c.total, monitor_on = {s}.job_now()
             FROM counts c WHERE q.name = $1::text
             RETURNING q.name, q.monitor_on
           )
           SELECT row_to_json(r)::text FROM (
             SELECT w.name, c.deferred AS "deferredCount", c.queued AS "queuedCount",
               c.ready AS "readyCount", c.active AS "activeCount", c.failed AS "failedCount",
               c.total AS "totalCount", w.monitor_on AS "capturedOn"
             FROM counts c, written w
           ) r"#,
        s = s.ident,
        t = table
    )
}

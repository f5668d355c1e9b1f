//! Supervision statements: the per-queue claims shared with pg-boss (so a mixed fleet runs each
//! pass once), the monitor's counts, expiry of jobs past their deadline or heartbeat, and retention.

use super::jobs::fail_chain_with;
use crate::names::SchemaName;

/// Claim queues ($1 = JSON array of names) whose monitor is due: `monitor_claim_on` as pg-boss
/// 12.38 stamps it, rows locked in name order (skipping rows another instance holds).
pub fn claim_monitor(s: &SchemaName, interval_seconds: f64) -> String {
    let s_ = &s.ident;
    format!(
        "WITH due AS (
  SELECT name FROM {s_}.queue
  WHERE name IN (SELECT json_array_elements_text($1::text::json))
    AND extract(epoch FROM {s_}.job_now() - COALESCE(monitor_claim_on, monitor_on, {s_}.job_now() - interval '1 week')) >= {interval_seconds}
  ORDER BY name FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE {s_}.queue q SET monitor_claim_on = {s_}.job_now() FROM due WHERE q.name = due.name
RETURNING q.name"
    )
}

/// Claim queues whose maintenance (retention) is due, on `maintain_on`.
pub fn claim_maintenance(s: &SchemaName, interval_seconds: f64) -> String {
    let s_ = &s.ident;
    format!(
        "WITH due AS (
  SELECT name FROM {s_}.queue
  WHERE name IN (SELECT json_array_elements_text($1::text::json))
    AND extract(epoch FROM {s_}.job_now() - COALESCE(maintain_on, {s_}.job_now() - interval '1 week')) >= {interval_seconds}
  ORDER BY name FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE {s_}.queue q SET maintain_on = {s_}.job_now() FROM due WHERE q.name = due.name
RETURNING q.name"
    )
}

/// Count the jobs of the claimed queues ($1) in `t` and cache the counts on their rows, unless
/// another instance holds the `queue-stats` lock right now or the monitor backoff is in force
/// (then nothing is written). Returns the queues written with their queued count, backlog
/// threshold and the seconds the count held the horizon.
///
/// With `counting` (`persistQueueStats`; the reset horizon in seconds) the pass also counts the
/// throughput since the queue's last counting pass, the latency histograms and the oldest ready
/// wait (see `plans::throughput`), and says per queue whether its recorded snapshots need a
/// true-up (`trueUp`).
pub fn cache_queue_stats(s: &SchemaName, t: &str, counting: Option<f64>) -> String {
    let s_ = &s.ident;
    let gate = "(SELECT got FROM lock) AND NOT (SELECT held FROM backoff)";
    let (throughput, assignments, join, returned_true_up, true_up) = match counting {
        Some(reset_max) => (
            super::throughput::counting_ctes(s, t, gate, reset_max),
            super::throughput::counting_assignments(s),
            "LEFT JOIN throughput d ON d.name = c.name",
            ", coalesce(d.true_up, false) AS true_up",
            ", 'trueUp', true_up",
        ),
        None => (String::new(), String::new(), "", "", ""),
    };
    format!(
        r#"WITH lock AS MATERIALIZED (SELECT {key} AS got),
-- while the vacuum-safety backoff is in force (see `set_monitor_backoff`) nothing is counted
backoff AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM {s_}.version WHERE monitor_backoff_on > {s_}.job_now()) AS held),
names AS (SELECT json_array_elements_text($1::text::json) AS name),
{throughput}
counts AS (
  SELECT n.name,
    count(j.*) FILTER (WHERE j.state < 'active' AND j.start_after > {s_}.job_now())::int AS deferred,
    count(j.*) FILTER (WHERE j.state < 'active' AND j.blocked)::int AS blocked,
    count(j.*) FILTER (WHERE j.state < 'active')::int AS queued,
    count(j.*) FILTER (WHERE j.state < 'active' AND NOT j.blocked AND j.start_after <= {s_}.job_now())::int AS ready,
    count(j.*) FILTER (WHERE j.state = 'active')::int AS active,
    count(j.*) FILTER (WHERE j.state = 'failed')::int AS failed,
    count(j.*)::int AS total,
    array_agg(j.singleton_key) FILTER (WHERE j.state = 'active' AND j.policy IN ('singleton', 'stately')) AS singletons
  FROM names n LEFT JOIN {s_}.{t} j ON j.name = n.name
  WHERE {gate}
  GROUP BY n.name
),
written AS (
  UPDATE {s_}.queue q SET
    deferred_count = c.deferred, blocked_count = c.blocked, queued_count = c.queued,
    ready_count = c.ready, active_count = c.active, failed_count = c.failed, total_count = c.total,
    singletons_active = c.singletons,{assignments}
    -- newest first, the last 60 samples (the dashboard's sparkline)
    ready_history = (ARRAY[c.ready] || q.ready_history)[1:60],
    monitor_on = {s_}.job_now()
  FROM counts c {join} WHERE q.name = c.name
  RETURNING q.name, q.queued_count, q.warning_queued{returned_true_up}
)
-- pinSeconds: how long this statement held its snapshot (the MVCC horizon), by the server's clock
SELECT json_build_object('name', name, 'queuedCount', queued_count, 'warningQueueSize', warning_queued{true_up},
  'pinSeconds', extract(epoch FROM clock_timestamp() - transaction_timestamp())::float8)::text FROM written"#,
        key = s.try_lock_sql("queue-stats")
    )
}

/// Fail up to `limit` active jobs of the queues in $1 matching `predicate` (expired or with a
/// lost heartbeat) with `output`, under the same advisory lock pg-boss takes for that sweep.
/// Returns how many were picked; the caller repeats while a batch is full.
fn expire(
    s: &SchemaName,
    t: &str,
    lock_key: &str,
    predicate: &str,
    output: &str,
    limit: i64,
) -> String {
    let s_ = &s.ident;
    let extra = format!(
        "lock AS MATERIALIZED (SELECT {key} AS held),
picked AS (
  SELECT id FROM {s_}.{t}
  WHERE {predicate} AND (SELECT true FROM lock)
  LIMIT {limit}
),
",
        key = s.lock_sql(lock_key)
    );
    let selector = format!("{predicate} AND id IN (SELECT id FROM picked)");
    fail_chain_with(
        s,
        t,
        &extra,
        &selector,
        output,
        "d.retry_count < d.retry_limit",
        "SELECT (SELECT count(*) FROM picked)::text",
        // expiry fails jobs of every queue in the table, whatever their policy
        false,
    )
}

fn queue_filter() -> &'static str {
    "name IN (SELECT json_array_elements_text($1::text::json))"
}

/// Active jobs past `expireInSeconds`.
pub fn expire_timed_out(s: &SchemaName, t: &str, limit: i64) -> String {
    let predicate = format!(
        "state = 'active' AND started_on + expire_seconds * interval '1 second' < {}.job_now() AND {}",
        s.ident,
        queue_filter()
    );
    expire(
        s,
        t,
        &format!("{t}failJobsByTimeout"),
        &predicate,
        r#"'{ "value": { "message": "job timed out" } }'::jsonb"#,
        limit,
    )
}

/// Active jobs whose heartbeat is older than their `heartbeatSeconds`.
pub fn expire_heartbeat_lost(s: &SchemaName, t: &str, limit: i64) -> String {
    let predicate = format!(
        "state = 'active' AND heartbeat_seconds IS NOT NULL AND heartbeat_on + heartbeat_seconds * interval '1 second' < {}.job_now() AND {}",
        s.ident,
        queue_filter()
    );
    expire(
        s,
        t,
        &format!("{t}failJobsByHeartbeat"),
        &predicate,
        r#"'{ "value": { "message": "job heartbeat timeout" } }'::jsonb"#,
        limit,
    )
}

/// Delete, a batch at a time, finished jobs past `deleteAfterSeconds` and queued jobs past
/// `keep_until` of queue $1. Active jobs are never deleted here. Returns how many.
pub fn delete_expired(s: &SchemaName, t: &str, limit: i64) -> String {
    let s_ = &s.ident;
    format!(
        "WITH lock AS MATERIALIZED (SELECT {key} AS held),
doomed AS (
  SELECT id FROM {s_}.{t}
  WHERE name = $1::text AND (SELECT true FROM lock)
    AND ((deletion_seconds > 0 AND completed_on + deletion_seconds * interval '1 second' < {s_}.job_now())
      OR (state < 'active' AND keep_until < {s_}.job_now()))
  LIMIT {limit}
),
deleted AS (DELETE FROM {s_}.{t} WHERE name = $1::text AND id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*)::text FROM deleted",
        key = s.lock_sql(&format!("{t}deletion"))
    )
}

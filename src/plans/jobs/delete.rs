//! Deleting jobs: by id, by condition, and whole tables, keeping the queue's cached counts.

use super::settle::{reduce_retained, SETTLED};
use super::*;
use crate::names::SchemaName;

/// `deleteJob()`: returns the count and the ids. With `recount` the queue's cached counts follow.
pub fn delete_jobs(s: &SchemaName, t: &str, fenced: bool, recount: bool) -> String {
    let s_ = &s.ident;
    format!(
        "WITH moved AS (
  DELETE FROM {s_}.{t} WHERE name = $1::text AND id {ids} {fence} RETURNING id, state, completed_on
), results AS (SELECT id FROM moved){recount}
{SETTLED}",
        ids = ids_param(2),
        fence = if fenced { fence(3) } else { String::new() },
        recount = if recount {
            format!(", {}", reduce_retained(s_, true))
        } else {
            String::new()
        }
    )
}

/// Delete the jobs of queue $1 matching `cond`, taking them off the queue's cached counts; returns
/// the count.
pub fn delete_where(s: &SchemaName, t: &str, cond: &str) -> String {
    let s_ = &s.ident;
    format!(
        "WITH moved AS (DELETE FROM {s_}.{t} WHERE name = $1::text {cond} RETURNING state, completed_on),
{recount}
SELECT moved::text FROM held",
        recount = reduce_retained(s_, true)
    )
}

pub fn truncate(s: &SchemaName, t: &str) -> String {
    format!("TRUNCATE {}.{}", s.ident, t)
}

/// Zero the cached counts of one queue ($1) or, with `all`, every queue, after a truncate: nothing
/// is left to count, so the counts are current as of now (queue rows locked in name order).
pub fn zero_queue_counts(s: &SchemaName, all: bool) -> String {
    let s_ = &s.ident;
    format!(
        "UPDATE {s_}.queue q SET deferred_count = 0, blocked_count = 0, queued_count = 0, ready_count = 0,
           active_count = 0, failed_count = 0, total_count = 0, retained_count = 0,
           retained_on = {s_}.job_now() - interval '10 seconds', singletons_active = NULL,
           monitor_on = {s_}.job_now()
         FROM (SELECT name FROM {s_}.queue {only} ORDER BY name FOR NO KEY UPDATE) l
         WHERE q.name = l.name",
        only = if all { "" } else { "WHERE name = $1::text" }
    )
}

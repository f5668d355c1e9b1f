//! Moving dead-lettered jobs back out of a dead letter queue: `redrive()` and `previewRedrive()`.
//!
//! Parameters, shared by both: $1 the dead letter queue, $2 a destination queue overriding each
//! job's source, $3 `sourceName`, $4 `data` (JSON, contained in the job's data), $5
//! `createdBefore` (a time), $6 `ids` (a JSON array), $7 the limit. A filter whose parameter is
//! null is off.

use crate::names::SchemaName;

/// The jobs of dead letter queue $1 (in `t`, as `j`) a redrive may move: not yet started, matching
/// every filter given, and not a `key_strict_fifo` job whose key a job of its own queue still holds
/// (active, retrying or failed): that one waits behind the holder as a fetch would have it wait.
/// job_i8 allows one holder per key, so it could not be failed in place if re-creating it collided,
/// and left queued it would be picked again by every call, so a draining loop would never end.
fn candidate(s_: &str, t: &str) -> String {
    format!(
        "j.name = $1::text
    AND j.state < 'active'
    AND NOT EXISTS (
      SELECT 1 FROM {s_}.{t} k
      WHERE j.policy = 'key_strict_fifo' AND k.name = j.name AND k.singleton_key = j.singleton_key
        AND k.policy = 'key_strict_fifo' AND k.state IN ('active', 'retry', 'failed')
    )
    AND ($3::text IS NULL OR j.source_name = $3::text)
    AND ($4::text IS NULL OR j.data @> $4::text::jsonb)
    AND ($5::text IS NULL OR j.created_on < $5::text::timestamptz)
    AND ($6::text IS NULL OR j.id = ANY(ARRAY(SELECT json_array_elements_text($6::text::json)::uuid)))"
    )
}

/// `redrive()`: the oldest `$7` candidates whose destination queue (`$2`, else the job's source)
/// exists are re-created there as new jobs (new id, `created`, no attempts, no output, no
/// provenance but `source_root_id`, the first job of the chain) with the destination queue's
/// configuration as it is now, carrying data, priority, singleton key and group; the copies in
/// the dead letter queue are deleted. Returns how many were moved.
///
/// A re-created job a policy index of its destination refuses (ON CONFLICT DO NOTHING: the batch
/// goes on without it) is not lost: its dead letter copy is failed in place, saying why, and keeps
/// the output it had as `source_output`. Failed rather than left queued: a queued one would be
/// picked again, oldest first, by every later call and stall a drain. Of several such
/// `key_strict_fifo` copies sharing a key only the oldest can be failed (job_i8 admits one failed
/// job per key); the rest wait behind it, skipped by `candidate`.
///
/// New ids are given up front so the insert's RETURNING tells which candidates were re-created:
/// one statement's data-modifying CTEs cannot see each other's writes.
pub fn redrive_jobs(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    format!(
        "WITH candidates AS MATERIALIZED (
  SELECT j.id, gen_random_uuid() AS new_id
  FROM {s_}.{t} j
  JOIN {s_}.queue q ON q.name = COALESCE($2::text, j.source_name)
  WHERE {candidate}
  ORDER BY j.created_on
  LIMIT $7::text::bigint
  FOR UPDATE OF j SKIP LOCKED
),
recreated AS (
  INSERT INTO {s_}.job (
    id, name, data, priority, retry_limit, retry_backoff, retry_delay, retry_delay_max, expire_seconds,
    start_after, created_on, keep_until, deletion_seconds, policy, singleton_key, group_id, group_tier,
    heartbeat_seconds, dead_letter, source_root_id, trace_context
  )
  SELECT c.new_id, q.name, m.data, m.priority, q.retry_limit, q.retry_backoff, q.retry_delay,
    q.retry_delay_max, q.expire_seconds, {s_}.job_now(), {s_}.job_now(),
    {s_}.job_now() + q.retention_seconds * interval '1 second', q.deletion_seconds, q.policy,
    m.singleton_key, m.group_id, m.group_tier, q.heartbeat_seconds, q.dead_letter,
    COALESCE(m.source_root_id, m.source_id), m.trace_context
  FROM candidates c
  JOIN {s_}.{t} m ON m.name = $1::text AND m.id = c.id
  JOIN {s_}.queue q ON q.name = COALESCE($2::text, m.source_name)
  ORDER BY m.created_on
  ON CONFLICT DO NOTHING
  RETURNING id
),
outcome AS (
  SELECT c.id, (r.id IS NOT NULL) AS moved
  FROM candidates c LEFT JOIN recreated r ON r.id = c.new_id
),
removed AS (
  DELETE FROM {s_}.{t} WHERE name = $1::text AND id IN (SELECT id FROM outcome WHERE moved)
),
refused AS (
  UPDATE {s_}.{t} j SET
    state = 'failed',
    completed_on = {s_}.job_now(),
    source_output = COALESCE(j.source_output, j.output),
    output = jsonb_build_object(
      'message', 'Not redriven: queue ' || q.name || CASE
        WHEN j.singleton_key IS NULL THEN ' already has a job this one conflicts with'
        ELSE ' already has a job with singletonKey ' || j.singleton_key
      END || ' under its ' || COALESCE(q.policy, 'standard') || ' policy',
      'reason', 'redrive_conflict',
      'destination', q.name,
      'policy', q.policy,
      'singletonKey', j.singleton_key
    )
  FROM outcome o, {s_}.queue q
  WHERE j.name = $1::text AND j.id = o.id AND NOT o.moved
    AND q.name = COALESCE($2::text, j.source_name)
    AND (j.policy IS DISTINCT FROM 'key_strict_fifo' OR j.singleton_key IS NULL OR j.id IN (
      SELECT DISTINCT ON (f.singleton_key) f.id
      FROM {s_}.{t} f
      WHERE f.name = $1::text AND f.id IN (SELECT id FROM outcome WHERE NOT moved)
        AND f.policy = 'key_strict_fifo'
      ORDER BY f.singleton_key, f.created_on, f.id
    ))
)
SELECT count(*)::text FROM recreated",
        candidate = candidate(s_, t)
    )
}

/// `previewRedrive()`: what a redrive with the same filters would do, as one row per destination
/// (NULL: left in place, no source and no override, or a source queue since deleted) with its
/// count, as JSON `[{ destination, count }]`. Reads at most $7 jobs of each kind, unordered, so a
/// preview of a large dead letter queue costs no more than the redrive it previews.
pub fn preview_redrive(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    let from = format!(
        "FROM {s_}.{t} j
    LEFT JOIN {s_}.queue q ON q.name = COALESCE($2::text, j.source_name)
    WHERE {}",
        candidate(s_, t)
    );
    format!(
        "WITH read AS (
  (SELECT q.name AS destination {from} AND q.name IS NOT NULL LIMIT $7::text::bigint)
  UNION ALL
  (SELECT NULL AS destination {from} AND q.name IS NULL LIMIT $7::text::bigint)
)
SELECT COALESCE(json_agg(json_build_object('destination', destination, 'count', n)), '[]')::text
FROM (SELECT destination, count(*) AS n FROM read GROUP BY destination) d"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaName {
        SchemaName::parse("pgboss").unwrap()
    }

    #[test]
    fn redrive_and_preview_pick_the_same_candidates() {
        let s = schema();
        let filter = candidate(&s.ident, "job_common");
        assert!(redrive_jobs(&s, "job_common").contains(&filter));
        assert!(preview_redrive(&s, "job_common").contains(&filter));
    }
}

//! The worker's settle: every job of a batch completed, failed (retry or terminal) or dead
//! lettered, each with its own output, in one statement.

use super::jobs::fail_chain_with;
use crate::names::SchemaName;

/// $1 = queue, $2 = JSON array of `{ id, retry_count, status, output }` where status is
/// `completed`, `failed` or `deadletter` (fail now, skipping retries). Each row is fenced by the
/// attempt it was claimed at. Returns `{ completed, retried, failed, deadLettered }`.
pub fn settle_batch(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    let extra = format!(
        "outcome AS (
  SELECT * FROM json_to_recordset($2::text::json) AS x (id uuid, retry_count int, status text, output jsonb)
), completed AS (
  UPDATE {s_}.{t} j SET completed_on = {s_}.job_now(), state = 'completed', output = o.output
  FROM outcome o
  WHERE j.name = $1::text AND j.id = o.id AND j.retry_count = o.retry_count
    AND j.state = 'active' AND o.status = 'completed'
  RETURNING j.id
),
"
    );
    let selector = "name = $1::text AND state = 'active'
    AND (id, retry_count) IN (SELECT id, retry_count FROM outcome WHERE status <> 'completed')";
    let output = "(SELECT o.output FROM outcome o WHERE o.id = d.id)";
    let retrying = "d.retry_count < d.retry_limit
      AND (SELECT o.status FROM outcome o WHERE o.id = d.id) <> 'deadletter'";
    let tail = "SELECT json_build_object(
  'completed', (SELECT count(*) FROM completed),
  'retried', (SELECT count(*) FROM settled WHERE state = 'retry'),
  'failed', (SELECT count(*) FROM settled WHERE state = 'failed'),
  'deadLettered', (SELECT count(*) FROM dead_lettered)
)::text";
    fail_chain_with(s, t, &extra, selector, output, retrying, tail)
}

//! The worker's settle: every job of a batch completed, failed (retry or terminal) or dead
//! lettered, each with its own output, in one statement.

use super::jobs::fail_chain_with;
use crate::names::SchemaName;

/// $1 = queue, $2 = JSON object keyed by job id: `{ retry_count, status, output }` where status is
/// `completed`, `failed` or `deadletter` (fail now, skipping retries). Each job is fenced by the
/// attempt it was claimed at. Returns `{ completed, retried, failed, deadLettered }`.
///
/// Plan shape matters: the outcome (one jsonb document, parsed once as an InitPlan) drives a
/// primary-key lookup per job. `state` is compared as text on purpose: a freshly claimed backlog
/// has stats that say almost nothing is `active`, and an indexable `state = 'active'` then makes
/// the planner start from the state index and rescan the outcome for every job, quadratic in the
/// batch size (1 s instead of 28 ms for 2,000 jobs).
pub fn settle_batch(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    let outcome = "(SELECT m FROM outcome)";
    let extra = format!(
        "outcome AS MATERIALIZED (SELECT $2::text::jsonb AS m),
completed AS (
  UPDATE {s_}.{t} j SET completed_on = {s_}.job_now(), state = 'completed', output = o.value -> 'output'
  FROM (SELECT key::uuid AS id, value FROM jsonb_each({outcome})) o
  WHERE j.name = $1::text AND j.id = o.id AND o.value->>'status' = 'completed'
    AND j.state::text = 'active'
    AND j.retry_count = (o.value->>'retry_count')::int
  RETURNING j.id
),
"
    );
    let selector = format!(
        "name = $1::text AND state::text = 'active'
    AND id IN (SELECT key::uuid FROM jsonb_each({outcome}) WHERE value->>'status' <> 'completed')
    AND retry_count = ({outcome} -> (id::text) ->> 'retry_count')::int"
    );
    let output = format!("{outcome} -> (d.id::text) -> 'output'");
    let retrying = format!("d.retry_count < d.retry_limit AND ({outcome} -> (d.id::text) ->> 'status') <> 'deadletter'");
    let tail = "SELECT json_build_object(
  'completed', (SELECT count(*) FROM completed),
  'retried', (SELECT count(*) FROM settled WHERE state = 'retry'),
  'failed', (SELECT count(*) FROM settled WHERE state = 'failed'),
  'deadLettered', (SELECT count(*) FROM dead_lettered)
)::text";
    fail_chain_with(s, t, &extra, &selector, &output, &retrying, tail)
}

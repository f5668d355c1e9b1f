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
///
/// `in_place`: see `jobs::fail_chain`.
pub fn settle_batch(s: &SchemaName, t: &str, in_place: bool) -> String {
    fail_chain_with(
        s,
        t,
        &settle_ctes(s, t),
        &selector(),
        &output(),
        &retrying(),
        TAIL,
        in_place,
    )
}

/// `settle_batch` when every job completed (the common case): the update alone, without planning
/// the fail chain's deletes and re-inserts. Same parameters and answer.
pub fn complete_batch(s: &SchemaName, t: &str) -> String {
    format!(
        "WITH {}SELECT json_build_object('completed', (SELECT count(*) FROM completed), 'retried', 0, 'failed', 0, 'deadLettered', 0)::text",
        settle_ctes(s, t).trim_end().trim_end_matches(',').to_string() + "\n"
    )
}

const OUTCOME: &str = "(SELECT m FROM outcome)";

const TAIL: &str = "SELECT json_build_object(
  'completed', (SELECT count(*) FROM completed),
  'retried', (SELECT count(*) FROM settled WHERE state = 'retry'),
  'failed', (SELECT count(*) FROM settled WHERE state = 'failed'),
  'deadLettered', (SELECT count(*) FROM dead_lettered)
)::text";

fn selector() -> String {
    format!(
        "name = $1::text AND state::text = 'active'
    AND id IN (SELECT key::uuid FROM jsonb_each({OUTCOME}) WHERE value->>'status' <> 'completed')
    AND retry_count = ({OUTCOME} -> (id::text) ->> 'retry_count')::int"
    )
}

fn output() -> String {
    format!("{OUTCOME} -> (d.id::text) -> 'output'")
}

fn retrying() -> String {
    format!("d.retry_count < d.retry_limit AND ({OUTCOME} -> (d.id::text) ->> 'status') <> 'deadletter'")
}

fn settle_ctes(s: &SchemaName, t: &str) -> String {
    format!("{},\n", completion_ctes(s, t, 2))
}

/// `outcome` (the keyed outcome in parameter `$outcome_param`) and `completed` (its completed
/// jobs written back, fenced by attempt), for queue $1 in table `t`.
pub fn completion_ctes(s: &SchemaName, t: &str, outcome_param: usize) -> String {
    let s_ = &s.ident;
    format!(
        "outcome AS MATERIALIZED (SELECT ${outcome_param}::text::jsonb AS m),
completed AS (
  UPDATE {s_}.{t} j SET completed_on = {s_}.job_now(), state = 'completed', output = o.value -> 'output'
  FROM (SELECT key::uuid AS id, value FROM jsonb_each({OUTCOME})) o
  WHERE j.name = $1::text AND j.id = o.id AND o.value->>'status' = 'completed'
    AND j.state::text = 'active'
    AND j.retry_count = (o.value->>'retry_count')::int
  RETURNING j.id
)"
    )
}

//! Claiming jobs: `fetch()` and the workers' claims, per policy, alone or with completions.

use super::*;
use crate::names::SchemaName;

/// A key_strict_fifo claim of n looks for key heads among the first `HEAD_WINDOW × n` jobs in
/// claim order before it finds every key's head (see `claim_ctes`).
const HEAD_WINDOW: i64 = 4;

/// What a claim filters on besides the queue.
#[derive(Debug, Clone, Default)]
pub struct FetchPlan {
    pub policy: String,
    pub include_metadata: bool,
    pub ignore_start_after: bool,
    pub has_min_priority: bool,
    pub has_max_priority: bool,
    pub has_ignore_groups: bool,
    /// `groupConcurrency`: a JSON `{ default, tiers? }` parameter follows the others.
    pub has_group_concurrency: bool,
    /// The claim size written into the statement instead of passed as $2 (the optional
    /// parameters then start at $2). A worker's claims use it: with the size known, PostgreSQL
    /// plans the statement once per connection and reuses the plan, where a parameter LIMIT makes
    /// it re-plan every claim (a generic plan must assume a large limit and looks too costly).
    pub limit_literal: Option<i64>,
}

/// Claim up to $2 jobs of queue $1 in priority then creation order. Optional parameters follow
/// in order: min priority, max priority, JSON array of group ids to skip, group limits.
///
/// Policies are honoured before the claim rather than by tripping a unique index: a singleton or
/// stately key with an active job is skipped (and only one job per key is claimed per batch), and
/// a key_strict_fifo key is offered only its head job and only while nothing of it is active,
/// waiting to retry or failed.
///
/// One row per claimed job, in the columns of [`CLAIM_COLUMNS`].
pub fn fetch_jobs(s: &SchemaName, t: &str, plan: &FetchPlan) -> String {
    format!(
        "WITH {}
SELECT * FROM claimed",
        claim_ctes(s, t, plan)
    )
}

/// The text columns a claim returns per job, in order. `pos` is the job's place in claim order
/// (UPDATE ... RETURNING has no order of its own; the client sorts), `meta` the JSON object of
/// the `includeMetadata` fields, present only when asked for. The job's JSON is put together by
/// the client (`worker::ClaimedJob::from_columns`): the server does not build or sort it, which
/// cost a tenth of a claim's statement time.
pub const CLAIM_COLUMNS: &[&str] = &[
    "pos",
    "id",
    "name",
    "data",
    "retry_count",
    "expire_seconds",
    "heartbeat_seconds",
    "group_id",
    "group_tier",
    "meta",
];

/// How many parameters a claim with `plan` takes ($1 queue, $2 limit unless written in, then
/// the optional ones).
pub fn claim_param_count(plan: &FetchPlan) -> usize {
    (if plan.limit_literal.is_some() { 1 } else { 2 })
        + [
            plan.has_min_priority,
            plan.has_max_priority,
            plan.has_ignore_groups,
            plan.has_group_concurrency,
        ]
        .iter()
        .filter(|b| **b)
        .count()
}

/// Complete the jobs of a keyed outcome (the parameter after the claim's own, shaped as
/// `settle_batch` takes it, all `completed`) and claim the next jobs, in one statement and one
/// commit: a worker loop that goes straight on to its next batch pays one round trip per cycle.
/// Every row starts with the completed count, then the claim's [`CLAIM_COLUMNS`]; when nothing
/// was claimed the one row has only the count (the rest NULL). The claim cannot take a job this
/// completes: both read one snapshot, where those jobs are still active.
pub fn complete_and_fetch(s: &SchemaName, t: &str, plan: &FetchPlan) -> String {
    let outcome = claim_param_count(plan) + 1;
    format!(
        "WITH {},
{}
SELECT (SELECT count(*) FROM completed)::text AS completed, c.* FROM (SELECT 1) one LEFT JOIN claimed c ON true",
        crate::plans::settle::completion_ctes(s, t, outcome),
        claim_ctes(s, t, plan),
    )
}

/// The CTEs of a claim, ending in `claimed` (the claimed rows as [`CLAIM_COLUMNS`]).
fn claim_ctes(s: &SchemaName, t: &str, plan: &FetchPlan) -> String {
    let s_ = &s.ident;
    let mut conditions = vec![
        "j.name = $1::text".to_string(),
        "j.state < 'active'".to_string(),
        "NOT j.blocked".to_string(),
    ];
    if !plan.ignore_start_after {
        conditions.push(format!("j.start_after <= {s_}.job_now()"));
    }
    let mut next_param = if plan.limit_literal.is_some() { 2 } else { 3 };
    if plan.has_min_priority {
        conditions.push(format!("j.priority >= ${next_param}::text::int"));
        next_param += 1;
    }
    if plan.has_max_priority {
        conditions.push(format!("j.priority <= ${next_param}::text::int"));
        next_param += 1;
    }
    if plan.has_ignore_groups {
        conditions.push(format!(
            "(j.group_id IS NULL OR j.group_id NOT IN (SELECT json_array_elements_text(${next_param}::text::json)))"
        ));
        next_param += 1;
    }
    // what every candidate must satisfy before group and policy rules
    let base_conditions = conditions.join("\n    AND ");
    // groupConcurrency: a group's active jobs plus those claimed now stay within its tier's limit
    // (or the default). Like pg-boss, two fetchers racing can briefly exceed it.
    let group_limit = "COALESCE((gl.cfg->'tiers'->>j.group_tier)::int, (gl.cfg->>'default')::int)";
    let mut group_prelude = String::new();
    let mut group_from = String::new();
    let mut group_cols = String::new();
    if plan.has_group_concurrency {
        group_prelude = format!(
            "group_active AS MATERIALIZED (
  SELECT group_id, count(*)::int AS n FROM {s_}.{t}
  WHERE name = $1::text AND state = 'active' AND group_id IS NOT NULL GROUP BY group_id
),
group_limits AS MATERIALIZED (SELECT ${next_param}::text::jsonb AS cfg),
"
        );
        group_from =
            " CROSS JOIN group_limits gl LEFT JOIN group_active ga ON ga.group_id = j.group_id"
                .into();
        group_cols =
            format!(", j.group_id, COALESCE(ga.n, 0) AS active_n, {group_limit} AS group_limit");
        conditions.push(format!(
            "(j.group_id IS NULL OR COALESCE(ga.n, 0) < {group_limit})"
        ));
    }
    let one_per_key = plan.policy == "singleton" || plan.policy == "stately";
    let strict_fifo = plan.policy == "key_strict_fifo";
    let mut prelude = String::new();
    if one_per_key {
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM {s_}.{t} busy WHERE busy.name = j.name AND busy.state = 'active'
               AND busy.policy = j.policy AND COALESCE(busy.singleton_key, '') = COALESCE(j.singleton_key, ''))"
        ));
    }
    let limit = match plan.limit_literal {
        Some(n) => n.to_string(),
        None => "$2::text::int".to_string(),
    };
    if strict_fifo {
        // A key's head is the first of its ready jobs in (state DESC, created_on, id) order (retry
        // sorts after created in the enum, so a waiting retry heads its key); only heads are
        // offered. Finding every key's head costs a pass over the whole backlog, so the heads
        // among the first jobs in claim order are found first, one probe of the key's index each
        // (a subquery per row, which the planner cannot turn into a hash of the backlog): when there
        // are enough of them (no busy key) they are the first heads in claim order and the pass
        // is skipped (the one-time filter below). Measured, a claim of 50: ~3 ms at 200,000 jobs
        // of 20,000 keys, where the full pass (pg-boss's way) takes ~140 ms; with one long key
        // the window holds one head and the pass runs (~10 ms at 50,000 jobs). Heads locked by a
        // concurrent claim are skipped, not replaced from past the window: such a claim can return
        // fewer jobs than there are heads. Without group limits only (their filter would thin the
        // window's heads).
        let start = if plan.ignore_start_after {
            String::new()
        } else {
            format!("AND h.start_after <= {s_}.job_now()")
        };
        let all_heads = format!(
            "heads AS MATERIALIZED (
  SELECT DISTINCT ON (h.singleton_key) h.id FROM {s_}.{t} h
  WHERE h.name = $1::text AND h.state < 'active' AND NOT h.blocked AND h.policy = 'key_strict_fifo'
    {start}
  ORDER BY h.singleton_key, h.state DESC, h.created_on, h.id
),\n"
        );
        let busy = |alias: &str| {
            format!(
                "NOT EXISTS (SELECT 1 FROM {s_}.{t} b WHERE b.name = $1::text AND b.singleton_key = {alias}.singleton_key
               AND b.state IN ('active', 'retry', 'failed') AND b.policy = 'key_strict_fifo' AND b.id <> {alias}.id)"
            )
        };
        if plan.has_group_concurrency {
            prelude = all_heads;
            conditions.push("j.id IN (SELECT id FROM heads)".into());
        } else {
            prelude = format!(
                "head_window AS (
  SELECT j.id, j.singleton_key FROM {s_}.{t} j
  WHERE {base_conditions}
    AND j.policy = 'key_strict_fifo'
  ORDER BY j.priority DESC, j.created_on
  LIMIT {HEAD_WINDOW} * {limit}
),
window_heads AS MATERIALIZED (
  SELECT w.id FROM head_window w
  WHERE w.id = (SELECT h.id FROM {s_}.{t} h WHERE h.name = $1::text AND h.singleton_key = w.singleton_key
      AND h.state < 'active' AND NOT h.blocked AND h.policy = 'key_strict_fifo' {start}
      ORDER BY h.state DESC, h.created_on, h.id LIMIT 1)
    AND {busy_w}
),
{all_heads}",
                busy_w = busy("w"),
            );
            conditions.push(format!(
                "j.id IN (SELECT id FROM window_heads
                 UNION ALL SELECT id FROM heads WHERE (SELECT count(*) FROM window_heads) < {limit})"
            ));
        }
        conditions.push(busy("j"));
    }
    let key_col = if one_per_key { ", j.singleton_key" } else { "" };
    let mut ranks = Vec::new();
    let mut keep = Vec::new();
    if one_per_key {
        ranks.push("row_number() OVER (PARTITION BY singleton_key) AS nth");
        keep.push("nth = 1");
    }
    if plan.has_group_concurrency {
        ranks.push("row_number() OVER (PARTITION BY group_id ORDER BY id) AS group_nth");
        keep.push("(group_id IS NULL OR active_n + group_nth <= group_limit)");
    }
    // `pos` numbers the candidates in the order the index scan chose them, before any ranking
    // re-sorts them
    let picked = if ranks.is_empty() {
        "picked AS (SELECT tid, id, row_number() OVER () AS pos FROM candidates),\n".to_string()
    } else {
        format!(
            "picked AS (SELECT tid, id, pos FROM (SELECT *, {} FROM (SELECT *, row_number() OVER () AS pos FROM candidates) n) c WHERE {}),\n",
            ranks.join(", "),
            keep.join(" AND ")
        )
    };
    // `claimed` finds each locked row again by its tuple id (`tid`: the row cannot move while
    // this statement holds its lock), not by a second primary-key descent per job (measured: 300
    // fewer buffer reads per claim of 100); name and id stay as filters. A row whose newest
    // version committed after the statement's snapshot is not visible to that lookup and is left
    // out of this claim: it stays queued (its lock ends with the statement) for the next one.
    let meta = if plan.include_metadata {
        format!("(SELECT row_to_json(m)::text FROM (SELECT {JOB_FIELDS_META}) m)")
    } else {
        "NULL::text".to_string()
    };
    format!(
        "{prelude}{group_prelude}candidates AS (
  SELECT j.ctid AS tid, j.id{key_col}{group_cols} FROM {s_}.{t} j{group_from}
  WHERE {where_}
  ORDER BY j.priority DESC, j.created_on
  LIMIT {limit}
  FOR UPDATE OF j SKIP LOCKED
),
{picked}claimed AS (
  UPDATE {s_}.{t} j SET
    state = 'active',
    started_on = {s_}.job_now(),
    heartbeat_on = {s_}.job_now(),
    -- every claim after the first is a new attempt; the count fences settles to their attempt
    retry_count = j.retry_count + CASE WHEN j.started_on IS NULL THEN 0 ELSE 1 END
  FROM picked p
  WHERE j.ctid = p.tid AND j.name = $1::text AND j.id = p.id
  RETURNING p.pos::text AS pos, j.id::text AS id, j.name, j.data::text AS data,
    j.retry_count::text AS retry_count, j.expire_seconds::text AS expire_seconds,
    j.heartbeat_seconds::text AS heartbeat_seconds, j.group_id, j.group_tier, {meta} AS meta
)",
        where_ = conditions.join("\n    AND "),
    )
}

/// `burstWhenReadyExceeds`: how many jobs of queue $1 are ready now (as the monitor counts
/// `readyCount`: queued, not blocked, due), counting no further than $2, so the cost stays bounded
/// however deep the queue is.
pub fn count_ready(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    format!(
        "SELECT count(*)::text FROM (SELECT 1 FROM {s_}.{t} WHERE name = $1::text AND state < 'active' \
         AND NOT blocked AND start_after <= {s_}.job_now() LIMIT $2::text::int) ready"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaName {
        SchemaName::parse("pgboss").unwrap()
    }

    #[test]
    fn fetch_numbers_optional_parameters_in_order() {
        let plan = FetchPlan {
            policy: "standard".into(),
            has_min_priority: true,
            has_max_priority: true,
            has_ignore_groups: true,
            ..Default::default()
        };
        let sql = fetch_jobs(&schema(), "job_common", &plan);
        assert!(sql.contains("j.priority >= $3::text::int"));
        assert!(sql.contains("j.priority <= $4::text::int"));
        assert!(sql.contains("$5::text::json"));
        assert!(sql.contains("FOR UPDATE OF j SKIP LOCKED"));
    }

    #[test]
    fn a_written_in_limit_moves_the_optional_parameters_down() {
        let plan = FetchPlan {
            policy: "standard".into(),
            has_min_priority: true,
            limit_literal: Some(100),
            ..Default::default()
        };
        let sql = fetch_jobs(&schema(), "job_common", &plan);
        assert!(sql.contains("LIMIT 100\n"));
        assert!(sql.contains("j.priority >= $2::text::int"));
        assert!(!sql.contains("$3"));
        assert_eq!(claim_param_count(&plan), 2);
        // the completion's outcome comes after the claim's own parameters
        let combined = complete_and_fetch(&schema(), "job_common", &plan);
        assert!(combined.contains("SELECT $3::text::jsonb AS m"));
    }

    #[test]
    fn singleton_fetch_claims_one_job_per_key() {
        let plan = FetchPlan {
            policy: "singleton".into(),
            ..Default::default()
        };
        let sql = fetch_jobs(&schema(), "job_common", &plan);
        assert!(sql.contains("PARTITION BY singleton_key"));
        assert!(sql.contains("busy.state = 'active'"));
    }
}

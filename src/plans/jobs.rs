//! Job statements: insert, claim, settle (complete / fail with retry, backoff and dead letter),
//! cancel, resume, retry, touch, delete, and reads.
//!
//! Ids travel as one JSON array parameter, attempt fences as a JSON array of `id:retry_count`
//! strings: a settle of any batch size is one statement with a fixed parameter count.

use crate::names::SchemaName;

/// The fields of `Job<T>` as pg-boss 12.38 returns them, in its key order (a claim's job JSON is
/// put together in the same order by `worker::ClaimedJob::from_columns`).
pub const JOB_FIELDS_MIN: &str = r#"id, name, data, retry_count AS "retryCount", expire_seconds AS "expireInSeconds",
  heartbeat_seconds AS "heartbeatSeconds", group_id AS "groupId", group_tier AS "groupTier""#;

/// The extra fields of `JobWithMetadata<T>`.
pub const JOB_FIELDS_META: &str = r#"policy, state, priority, retry_limit AS "retryLimit", retry_delay AS "retryDelay",
  retry_backoff AS "retryBackoff", retry_delay_max AS "retryDelayMax", start_after AS "startAfter",
  started_on AS "startedOn", singleton_key AS "singletonKey", singleton_on AS "singletonOn",
  deletion_seconds AS "deleteAfterSeconds", heartbeat_on AS "heartbeatOn", created_on AS "createdOn",
  completed_on AS "completedOn", keep_until AS "keepUntil", dead_letter AS "deadLetter", blocked, blocking,
  pending_dependencies AS "pendingDependencies", output, source_name AS "sourceName", source_id AS "sourceId",
  source_created_on AS "sourceCreatedOn", source_retry_count AS "sourceRetryCount",
  source_output AS "sourceOutput", source_root_id AS "sourceRootId""#;

/// Every field of `JobWithMetadata<T>` (reads by id and `findJobs`; claims return columns, see
/// [`CLAIM_COLUMNS`]).
pub fn job_fields() -> String {
    format!("{JOB_FIELDS_MIN},\n  {JOB_FIELDS_META}")
}

/// Every column a failed job keeps when it is written back as `retry` or `failed`.
const CARRIED_COLUMNS: &[&str] = &[
    "id",
    "name",
    "priority",
    "data",
    "retry_limit",
    "retry_count",
    "retry_delay",
    "retry_backoff",
    "retry_delay_max",
    "started_on",
    "singleton_key",
    "singleton_on",
    "group_id",
    "group_tier",
    "expire_seconds",
    "deletion_seconds",
    "created_on",
    "keep_until",
    "policy",
    "dead_letter",
    "heartbeat_seconds",
    "blocked",
    "blocking",
    "pending_dependencies",
    "source_name",
    "source_id",
    "source_created_on",
    "source_retry_count",
    "source_output",
    "source_root_id",
    "trace_context",
];

/// `= ANY(...)` of the JSON array of ids `$n`, as a uuid array built once per statement.
///
/// Not `IN (SELECT json_array_elements_text(...))`: against a table whose statistics predate its
/// rows (a backlog inserted since the last ANALYZE looks empty), the planner makes that a nested
/// semi join that expands the whole list again for every row, quadratic in its length (measured:
/// `complete()` of 5,000 fetched jobs took 20 s). The array is an init plan the primary key is
/// probed with, whatever the statistics say (17 ms).
fn ids_param(n: usize) -> String {
    format!("= ANY(ARRAY(SELECT json_array_elements_text(${n}::text::json)::uuid))")
}

/// `$n` = JSON array of `id:retry_count`: only the attempt that was fetched may settle.
///
/// Where a statement picks jobs by id, `state` is compared as text: an indexable
/// `state = 'active'` lets stale stats (a fresh backlog looks all `created`) steer the planner to
/// the state index with the id list rescanned per row, quadratic in the batch size; as text, the
/// primary key drives the lookups.
fn fence(n: usize) -> String {
    format!(
        "AND state::text = 'active' AND (id::text || ':' || retry_count::text) = ANY(ARRAY(SELECT json_array_elements_text(${n}::text::json)))"
    )
}

/// Insert jobs from a JSON array ($2) into queue $1, inheriting the queue's defaults. Skipped rows
/// (policy indexes, throttle slots, duplicate ids) produce no id. With `notify`, one transactional
/// NOTIFY tells listeners when at least one job is runnable now.
/// Without `return_ids` only the count comes back (bulk inserts need no 5,000 ids returned).
///
/// `may_conflict: false` is for rows that no unique index can refuse (a `standard` queue, ids
/// generated here, no throttle slot): the rows go in with a plain INSERT, cheaper than the
/// speculative insertion ON CONFLICT needs. Were one refused anyway, the statement fails loudly.
pub fn insert_jobs(
    s: &SchemaName,
    t: &str,
    notify: bool,
    return_ids: bool,
    may_conflict: bool,
) -> String {
    let s_ = &s.ident;
    let on_conflict = if may_conflict {
        "ON CONFLICT DO NOTHING\n  "
    } else {
        ""
    };
    let insert = format!(
        r#"WITH input AS (
  SELECT r.*,
    CASE
      WHEN r."startAfter" IS NULL THEN {s_}.job_now()
      WHEN right(r."startAfter", 1) = 'Z' OR r."startAfter" ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}'
        THEN r."startAfter"::timestamptz
      ELSE {s_}.job_now() + COALESCE(r."startAfter", '0')::interval
    END AS run_at
  FROM jsonb_to_recordset($2::text::jsonb) AS r (
    id uuid, data jsonb, priority int, "startAfter" text, "singletonKey" text, "singletonSeconds" int,
    "singletonOffset" int, "groupId" text, "groupTier" text, "expireInSeconds" int,
    "deleteAfterSeconds" int, "retentionSeconds" int, "retryLimit" int, "retryDelay" int,
    "retryBackoff" boolean, "retryDelayMax" int, "heartbeatSeconds" int, "deadLetter" text
  )
), inserted AS (
  INSERT INTO {s_}.{t} (
    id, name, data, priority, start_after, created_on, singleton_key, singleton_on, group_id, group_tier,
    expire_seconds, deletion_seconds, keep_until, retry_limit, retry_delay, retry_backoff,
    retry_delay_max, policy, dead_letter, heartbeat_seconds
  )
  SELECT
    COALESCE(i.id, gen_random_uuid()),
    $1::text,
    i.data,
    COALESCE(i.priority, 0),
    i.run_at,
    {s_}.job_now(),
    i."singletonKey",
    -- throttle slot: the start of the epoch-aligned window of singletonSeconds (or the next one)
    CASE WHEN i."singletonSeconds" IS NULL THEN NULL
      ELSE 'epoch'::timestamp + make_interval(secs => (i."singletonSeconds" * floor(
        (date_part('epoch', {s_}.job_now()) + COALESCE(i."singletonOffset", 0)) / i."singletonSeconds"))::float8)
    END,
    i."groupId",
    i."groupTier",
    -- a queue deleted after it was cached still reaches the foreign key and fails loudly
    COALESCE(i."expireInSeconds", q.expire_seconds, 900),
    COALESCE(i."deleteAfterSeconds", q.deletion_seconds, 604800),
    i.run_at + COALESCE(i."retentionSeconds", q.retention_seconds, 1209600) * interval '1 second',
    COALESCE(i."retryLimit", q.retry_limit, 2),
    COALESCE(i."retryDelay", q.retry_delay, 0),
    COALESCE(i."retryBackoff", q.retry_backoff, false),
    COALESCE(i."retryDelayMax", q.retry_delay_max),
    q.policy,
    COALESCE(i."deadLetter", q.dead_letter),
    COALESCE(i."heartbeatSeconds", q.heartbeat_seconds)
  FROM input i
  LEFT JOIN {s_}.queue q ON q.name = $1::text
  {on_conflict}RETURNING id, start_after
)"#
    );
    if notify {
        format!(
            "{insert},
woken AS (
  SELECT pg_notify('{channel}', $1::text) FROM inserted WHERE start_after <= {s_}.job_now() LIMIT 1
)
{tail} WHERE (SELECT count(*) FROM woken) >= 0",
            channel = s.notify_channel(),
            tail = if return_ids {
                "SELECT id::text FROM inserted"
            } else {
                "SELECT count(*)::text FROM inserted"
            }
        )
    } else if return_ids {
        format!("{insert}\nSELECT id::text FROM inserted")
    } else {
        format!("{insert}\nSELECT count(*)::text FROM inserted")
    }
}

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
        super::settle::completion_ctes(s, t, outcome),
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

/// Complete jobs $2 of queue $1 with output $3. `include_queued` also completes jobs that were
/// never claimed (and releases flow blocks); `fenced` takes $4 attempt pairs.
pub fn complete_jobs(s: &SchemaName, t: &str, include_queued: bool, fenced: bool) -> String {
    let s_ = &s.ident;
    let (state_cond, unblock) = if include_queued {
        (
            "state < 'completed'",
            ", blocked = false, pending_dependencies = 0",
        )
    } else {
        ("state::text = 'active'", "")
    };
    format!(
        "WITH results AS (
  UPDATE {s_}.{t} SET completed_on = {s_}.job_now(), state = 'completed', output = $3::text::jsonb{unblock}
  WHERE name = $1::text AND id {ids} AND {state_cond} {fence}
  RETURNING id
)
{SETTLED}",
        ids = ids_param(2),
        fence = if fenced { fence(4) } else { String::new() }
    )
}

/// The fail chain shared by `fail()`, per-job failures and expiry: delete the selected jobs, write
/// them back as `retry` (attempts left, with the retry delay or jittered exponential backoff) or
/// `failed`, and copy each newly failed job into its dead letter queue as a fresh job. A write-back
/// refused by a policy index (e.g. stately already holds a retry for the key) lands as `failed`.
/// `extra_ctes` may define names `selector` and `output` use; the statement returns the count.
///
/// `in_place` (for a queue whose policy has no unique index a written-back row can trip: all but
/// `stately`, whose index holds one `retry` per key) updates the rows where they are instead of
/// deleting and re-inserting them: the same row values, without a delete, a fresh tuple's index
/// entries and a foreign key check per job.
pub fn fail_chain(
    s: &SchemaName,
    t: &str,
    extra_ctes: &str,
    selector: &str,
    output: &str,
    terminal: bool,
    in_place: bool,
) -> String {
    let retrying = if terminal {
        "false"
    } else {
        "d.retry_count < d.retry_limit"
    };
    fail_chain_with(
        s,
        t,
        extra_ctes,
        selector,
        output,
        retrying,
        "SELECT count(*)::text FROM settled",
        in_place,
    )
}

/// Whether a queue of `policy` fails its jobs in place (see `fail_chain`).
pub fn fails_in_place(policy: &str) -> bool {
    policy != "stately"
}

/// `fail_chain` with the retry decision (`retrying`, over the failed row as it was, `d`) and the
/// final SELECT (`tail`, which may read `settled`, the rows as written back, and `dead_lettered`)
/// supplied by the caller.
#[allow(clippy::too_many_arguments)]
pub fn fail_chain_with(
    s: &SchemaName,
    t: &str,
    extra_ctes: &str,
    selector: &str,
    output: &str,
    retrying: &str,
    tail: &str,
    in_place: bool,
) -> String {
    let s_ = &s.ident;
    let state = format!("CASE WHEN {retrying} THEN 'retry' ELSE 'failed' END::{s_}.job_state");
    let completed_on = format!("CASE WHEN {retrying} THEN NULL ELSE {s_}.job_now() END");
    let start_after = format!(
        "CASE
      WHEN NOT ({retrying}) THEN d.start_after
      WHEN NOT d.retry_backoff THEN {s_}.job_now() + d.retry_delay * interval '1 second'
      ELSE {s_}.job_now() + LEAST(
        d.retry_delay_max,
        GREATEST(d.retry_delay, 1) * (2 ^ LEAST(16, d.retry_count + 1) / 2) * (1 + random())
      ) * interval '1 second'
    END"
    );
    let settled = if in_place {
        // every column not carried by the re-insert goes back to its default, as it would there
        format!(
            "settled AS (
  UPDATE {s_}.{t} d SET state = {state}, completed_on = {completed_on}, start_after = {start_after},
    output = {output}, heartbeat_on = NULL, upsert_by_key = NULL
  WHERE {selector}
  RETURNING d.*
)"
        )
    } else {
        let carried = CARRIED_COLUMNS.join(", ");
        let carried_from_d = CARRIED_COLUMNS
            .iter()
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "doomed AS (
  DELETE FROM {s_}.{t} WHERE {selector} RETURNING *
), written_back AS (
  INSERT INTO {s_}.{t} ({carried}, state, completed_on, start_after, output, heartbeat_on)
  SELECT {carried_from_d}, {state}, {completed_on}, {start_after}, {output}, NULL
  FROM doomed d
  ON CONFLICT DO NOTHING
  RETURNING *
), refused AS (
  INSERT INTO {s_}.{t} ({carried}, state, completed_on, start_after, output, heartbeat_on)
  SELECT {carried_from_d}, 'failed'::{s_}.job_state, {s_}.job_now(), d.start_after, {output}, NULL
  FROM doomed d
  WHERE d.id NOT IN (SELECT id FROM written_back)
  RETURNING *
), settled AS (
  SELECT * FROM written_back UNION ALL SELECT * FROM refused
)"
        )
    };
    format!(
        "WITH {extra_ctes}{settled}, dead_lettered AS (
  INSERT INTO {s_}.job (
    name, priority, data, retry_limit, retry_backoff, retry_delay, start_after, created_on, keep_until,
    deletion_seconds, expire_seconds, singleton_key, group_id, group_tier, heartbeat_seconds,
    source_name, source_id, source_created_on, source_retry_count, source_output, source_root_id, trace_context
  )
  SELECT f.dead_letter, f.priority, f.data, q.retry_limit, q.retry_backoff, q.retry_delay,
    {s_}.job_now(), {s_}.job_now(), {s_}.job_now() + q.retention_seconds * interval '1 second',
    q.deletion_seconds, q.expire_seconds, f.singleton_key, f.group_id, f.group_tier, q.heartbeat_seconds,
    f.name, f.id, f.created_on, f.retry_count, f.output, COALESCE(f.source_root_id, f.id), f.trace_context
  FROM settled f JOIN {s_}.queue q ON q.name = f.dead_letter
  WHERE f.state = 'failed'
  RETURNING 1
)
{tail}"
    )
}

/// `fail()`: jobs $2 of queue $1 not yet finished, with output $3; `fenced` takes $4. Returns the
/// count and the ids settled, as the other commands do.
pub fn fail_jobs(s: &SchemaName, t: &str, fenced: bool, in_place: bool) -> String {
    let selector = format!(
        "name = $1::text AND id {ids} AND state < 'completed' {fence}",
        ids = ids_param(2),
        fence = if fenced { fence(4) } else { String::new() }
    );
    let chain = fail_chain(s, t, "", &selector, "$3::text::jsonb", false, in_place);
    let tail = "SELECT count(*)::text FROM settled";
    debug_assert!(chain.ends_with(tail));
    format!(
        "{}{}",
        chain.strip_suffix(tail).unwrap_or(&chain),
        SETTLED.replace("results", "settled")
    )
}

/// The tail of the settle commands: the count, and the ids settled as a JSON array.
const SETTLED: &str = "SELECT count(*)::text, COALESCE(json_agg(id), '[]')::text FROM results";

fn simple_update(
    s: &SchemaName,
    t: &str,
    set: &str,
    cond: &str,
    fenced: bool,
    fence_param: usize,
) -> String {
    let s_ = &s.ident;
    format!(
        "WITH results AS (
  UPDATE {s_}.{t} SET {set}
  WHERE name = $1::text AND id {ids} AND {cond} {fence}
  RETURNING id
)
{SETTLED}",
        ids = ids_param(2),
        fence = if fenced {
            fence(fence_param)
        } else {
            String::new()
        }
    )
}

pub fn cancel_jobs(s: &SchemaName, t: &str, fenced: bool) -> String {
    simple_update(
        s,
        t,
        &format!("completed_on = {}.job_now(), state = 'cancelled'", s.ident),
        "state < 'completed'",
        fenced,
        3,
    )
}

/// The queue's cached counts after jobs left the completed/cancelled set (`retained` of them were
/// counted in `retained_count`, those that finished by `retained_on`) or the queue (`removed`), so
/// `totalCount` follows at once rather than at the next monitor pass. Reads a CTE `moved` of
/// `(state, completed_on)`; `removed` says whether the rows left the queue or stayed as live jobs.
fn reduce_retained(s_: &str, removed: bool) -> String {
    format!(
        "held AS (
  SELECT count(*)::int AS moved,
    count(*) FILTER (WHERE m.state IN ('completed', 'cancelled')
      AND m.completed_on <= (SELECT retained_on FROM {s_}.queue WHERE name = $1::text))::int AS retained
  FROM moved m
), recounted AS (
  UPDATE {s_}.queue q SET
    retained_count = CASE WHEN q.retained_count IS NULL THEN NULL ELSE GREATEST(q.retained_count - h.retained, 0) END,
    total_count = GREATEST(q.total_count - {total}, 0)
  FROM held h
  WHERE q.name = $1::text AND {when}
  RETURNING 1
)",
        total = if removed { "h.moved" } else { "0" },
        when = if removed { "h.moved > 0" } else { "h.retained > 0" }
    )
}

/// `resume()`: cancelled jobs back to `created`, their start moved up to now. With `recount` the
/// queue's cached counts follow (not inside a caller's transaction, as in pg-boss). Returns the count.
pub fn resume_jobs(s: &SchemaName, t: &str, recount: bool) -> String {
    let s_ = &s.ident;
    format!(
        "WITH moved AS (
  SELECT j.id, j.state, j.completed_on FROM {s_}.{t} j
  WHERE j.name = $1::text AND j.id {ids} AND j.state = 'cancelled'
), results AS (
  UPDATE {s_}.{t} j SET completed_on = NULL, state = 'created', upsert_by_key = NULL,
    start_after = GREATEST(j.start_after, {s_}.job_now())
  FROM moved m
  WHERE j.name = $1::text AND j.id = m.id AND j.state = 'cancelled'
  RETURNING j.id
){recount}
SELECT count(*)::text FROM results",
        ids = ids_param(2),
        recount = if recount {
            format!(", {}", reduce_retained(s_, false))
        } else {
            String::new()
        }
    )
}

/// Put failed jobs back in line with one more attempt allowed, runnable now. Returns the count.
pub fn retry_jobs(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    format!(
        "WITH results AS (
  UPDATE {s_}.{t} SET completed_on = NULL, state = 'retry', retry_limit = retry_limit + 1,
    start_after = GREATEST(start_after, {s_}.job_now())
  WHERE name = $1::text AND id {ids} AND state = 'failed'
  RETURNING id
)
SELECT count(*)::text FROM results",
        ids = ids_param(2)
    )
}

pub fn touch_jobs(s: &SchemaName, t: &str, fenced: bool) -> String {
    simple_update(
        s,
        t,
        &format!("heartbeat_on = {}.job_now()", s.ident),
        "state::text = 'active'",
        fenced,
        3,
    )
}

/// Return claimed jobs to the queue unstarted (jobs over a local group limit, a stopping
/// `workEach`'s buffer). Like pg-boss's restore, the job stops counting as upserted by its key, so
/// it cannot collide (job_i13) with a newer job upserted by the same key meanwhile.
pub fn restore_jobs(s: &SchemaName, t: &str) -> String {
    simple_update(
        s,
        t,
        "state = 'created', started_on = NULL, heartbeat_on = NULL, upsert_by_key = NULL",
        "state::text = 'active'",
        false,
        0,
    )
}

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

/// What `findJobs` filters on; parameters follow $1 = queue in this order.
#[derive(Debug, Clone, Default)]
pub struct FindPlan {
    pub by_id: bool,
    pub by_key: bool,
    pub by_data: bool,
    pub queued: bool,
    pub after: bool,
}

/// `findJobs`: oldest first; `after` pages by the (created_on, id) of the anchor job id.
pub fn find_jobs(s: &SchemaName, t: &str, plan: &FindPlan) -> String {
    let s_ = &s.ident;
    let mut conds = vec!["name = $1::text".to_string()];
    let mut n = 2;
    if plan.by_id {
        conds.push(format!("id = ${n}::text::uuid"));
        n += 1;
    }
    if plan.by_key {
        conds.push(format!("singleton_key = ${n}::text"));
        n += 1;
    }
    if plan.by_data {
        conds.push(format!("data @> ${n}::text::jsonb"));
        n += 1;
    }
    if plan.queued {
        conds.push("state < 'active'".into());
    }
    if plan.after {
        conds.push(format!(
            "(created_on, id) > (SELECT a.created_on, a.id FROM {s_}.{t} a WHERE a.name = $1::text AND a.id = ${n}::text::uuid)"
        ));
        n += 1;
    }
    format!(
        "SELECT row_to_json(r)::text FROM (
  SELECT {fields} FROM {s_}.{t}
  WHERE {where_}
  ORDER BY created_on, id
  LIMIT ${n}::text::int
) r",
        fields = job_fields(),
        where_ = conds.join(" AND ")
    )
}

/// Whether the anchor of a `findJobs` page still exists. $1 = queue, $2 = id.
pub fn job_exists(s: &SchemaName, t: &str) -> String {
    format!(
        "SELECT id::text FROM {}.{} WHERE name = $1::text AND id = $2::text::uuid",
        s.ident, t
    )
}

/// `getJobById`. $1 = queue, $2 = id.
pub fn get_job_by_id(s: &SchemaName, t: &str) -> String {
    format!(
        "SELECT row_to_json(r)::text FROM (SELECT {fields} FROM {s_}.{t} WHERE name = $1::text AND id = $2::text::uuid) r",
        fields = job_fields(),
        s_ = s.ident
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

    #[test]
    fn notify_insert_uses_the_shared_channel() {
        let sql = insert_jobs(&schema(), "job_common", true, true, true);
        assert!(sql.contains(&schema().notify_channel()));
    }

    #[test]
    fn fenced_settles_take_attempt_pairs() {
        assert!(complete_jobs(&schema(), "job_common", false, true).contains("$4::text::json"));
        assert!(cancel_jobs(&schema(), "job_common", true).contains("$3::text::json"));
    }
}

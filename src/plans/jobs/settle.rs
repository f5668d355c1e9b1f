//! Settling jobs by id: complete, the fail chain (retry, backoff, dead letter), cancel, resume,
//! retry, touch and restore.

use super::*;
use crate::names::SchemaName;

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
    // as pg-boss 12.38: only a job on its last attempt keeps its start; any other, even one
    // failed terminally with attempts left (a `deadletter` result), moves by its retry delay
    let start_after = format!(
        "CASE
      WHEN d.retry_count = d.retry_limit THEN d.start_after
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
pub(super) const SETTLED: &str =
    "SELECT count(*)::text, COALESCE(json_agg(id), '[]')::text FROM results";

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
pub(super) fn reduce_retained(s_: &str, removed: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaName {
        SchemaName::parse("pgboss").unwrap()
    }

    #[test]
    fn fenced_settles_take_attempt_pairs() {
        assert!(complete_jobs(&schema(), "job_common", false, true).contains("$4::text::json"));
        assert!(cancel_jobs(&schema(), "job_common", true).contains("$3::text::json"));
    }
}

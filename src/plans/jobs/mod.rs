//! Job statements: insert, claim, settle (complete / fail with retry, backoff and dead letter),
//! cancel, resume, retry, touch, delete, and reads.
//!
//! Ids travel as one JSON array parameter, attempt fences as a JSON array of `id:retry_count`
//! strings: a settle of any batch size is one statement with a fixed parameter count.

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

mod claim;
mod delete;
mod find;
mod insert;
mod settle;
mod upsert;

pub use claim::*;
pub use delete::*;
pub use find::*;
pub use insert::*;
pub use settle::*;
pub use upsert::*;

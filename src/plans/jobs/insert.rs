//! Inserting jobs: the send family, `insert()`, and the shared-statement sends.

use crate::names::SchemaName;

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
    insert_jobs_marked(s, t, notify, return_ids, may_conflict, false)
}

/// `insert_jobs`, and with `upserted_by_key` the rows are marked as created by an `upsert()` that
/// targets its singleton key (`upsert_by_key`), so job_i13 admits one such queued job per key.
pub fn insert_jobs_marked(
    s: &SchemaName,
    t: &str,
    notify: bool,
    return_ids: bool,
    may_conflict: bool,
    upserted_by_key: bool,
) -> String {
    let insert = insert_ctes(
        s,
        t,
        &InsertSource {
            name: "$1::text",
            rows: "$2",
            flow: false,
            upserted_by_key,
        },
        may_conflict,
    );
    let s_ = &s.ident;
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

/// Where the rows an insert writes come from: `name` is the SQL expression of each row's queue
/// (one parameter, or the row's own `name` field when the rows span queues), `rows` the JSON array
/// parameter. `flow` rows carry their dependency flags (`blocked`, `blocking`,
/// `pendingDependencies`) too.
pub struct InsertSource<'a> {
    pub name: &'a str,
    pub rows: &'a str,
    pub flow: bool,
    /// The rows come from an `upsert()` by key (`upsert_by_key`).
    pub upserted_by_key: bool,
}

/// The `input` and `inserted` CTEs every job insert shares: each row's options over its queue's
/// defaults (the queue is joined by name, so a queue deleted after it was cached still reaches the
/// foreign key and fails loudly). `inserted` returns `id, name, start_after`.
pub fn insert_ctes(s: &SchemaName, t: &str, src: &InsertSource, may_conflict: bool) -> String {
    let s_ = &s.ident;
    let on_conflict = if may_conflict {
        "ON CONFLICT DO NOTHING\n  "
    } else {
        ""
    };
    let (flow_fields, flow_columns, flow_values) = if src.flow {
        (
            r#", name text, blocked boolean, blocking boolean, "pendingDependencies" int"#,
            ", blocked, blocking, pending_dependencies",
            r#",
    COALESCE(i.blocked, false),
    COALESCE(i.blocking, false),
    COALESCE(i."pendingDependencies", 0)"#,
        )
    } else {
        ("", "", "")
    };
    let (mark_column, mark_value) = if src.upserted_by_key {
        (", upsert_by_key", ",\n    true")
    } else {
        ("", "")
    };
    let (name, rows) = (src.name, src.rows);
    format!(
        r#"WITH input AS (
  SELECT r.*,
    CASE
      WHEN r."startAfter" IS NULL THEN {s_}.job_now()
      WHEN right(r."startAfter", 1) = 'Z' OR r."startAfter" ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}'
        THEN r."startAfter"::timestamptz
      ELSE {s_}.job_now() + COALESCE(r."startAfter", '0')::interval
    END AS run_at
  FROM jsonb_to_recordset({rows}::text::jsonb) AS r (
    id uuid, data jsonb, priority int, "startAfter" text, "singletonKey" text, "singletonSeconds" int,
    "singletonOffset" int, "groupId" text, "groupTier" text, "expireInSeconds" int,
    "deleteAfterSeconds" int, "retentionSeconds" int, "retryLimit" int, "retryDelay" int,
    "retryBackoff" boolean, "retryDelayMax" int, "heartbeatSeconds" int, "deadLetter" text{flow_fields}
  )
), inserted AS (
  INSERT INTO {s_}.{t} (
    id, name, data, priority, start_after, created_on, singleton_key, singleton_on, group_id, group_tier,
    expire_seconds, deletion_seconds, keep_until, retry_limit, retry_delay, retry_backoff,
    retry_delay_max, policy, dead_letter, heartbeat_seconds{flow_columns}{mark_column}
  )
  SELECT
    COALESCE(i.id, gen_random_uuid()),
    {name},
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
    COALESCE(i."expireInSeconds", q.expire_seconds, 900),
    COALESCE(i."deleteAfterSeconds", q.deletion_seconds, 604800),
    i.run_at + COALESCE(i."retentionSeconds", q.retention_seconds, 1209600) * interval '1 second',
    COALESCE(i."retryLimit", q.retry_limit, 2),
    COALESCE(i."retryDelay", q.retry_delay, 0),
    COALESCE(i."retryBackoff", q.retry_backoff, false),
    COALESCE(i."retryDelayMax", q.retry_delay_max),
    q.policy,
    COALESCE(i."deadLetter", q.dead_letter),
    COALESCE(i."heartbeatSeconds", q.heartbeat_seconds){flow_values}{mark_value}
  FROM input i
  LEFT JOIN {s_}.queue q ON q.name = {name}
  {on_conflict}RETURNING id, name, start_after
)"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaName {
        SchemaName::parse("pgboss").unwrap()
    }

    #[test]
    fn notify_insert_uses_the_shared_channel() {
        let sql = insert_jobs(&schema(), "job_common", true, true, true);
        assert!(sql.contains(&schema().notify_channel()));
    }
}

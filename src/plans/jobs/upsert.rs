//! Editing queued jobs in place: `update()`, and the update half of `upsert()` (its insert half is
//! `insert_jobs_marked`).

use crate::names::SchemaName;

/// Which queued jobs an edit targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateTarget {
    /// The job whose id is the payload's `id`.
    Id,
    /// The newest queued job with the payload's `singletonKey`.
    NewestByKey,
    /// The oldest one.
    OldestByKey,
    /// Every one.
    AllByKey,
}

/// Edit the not yet active jobs of queue $1 that `target` picks, with the fields of the payload
/// $2 (a JSON object holding only the fields the caller supplied: an absent key leaves its column
/// as it is, a key holding JSON null writes null where the column allows it). Returns the ids
/// edited. With `notify`, one transactional NOTIFY when an edited job is runnable now.
///
/// Keys are tested with `(o.data -> key) IS NOT NULL`, not the `?` operator, which query builders
/// that bind `?` placeholders (knex) would take for a parameter.
///
/// Moving `startAfter` slides `keep_until` by the job's own retention window, so a job pulled
/// forward or pushed back is never left past its keep_until (where the sweep would delete it); an
/// explicit `retentionSeconds` counts from the new start instead. The UPDATE checks
/// `state < 'active'` again on the locked row: a worker may claim a target between the unlocked
/// pick and the write, and such a job is not edited.
pub fn update_jobs(s: &SchemaName, t: &str, target: UpdateTarget, notify: bool) -> String {
    let s_ = &s.ident;
    let (predicate, ordering) = match target {
        UpdateTarget::Id => ("job.id = (o.data ->> 'id')::uuid", ""),
        UpdateTarget::NewestByKey => (
            "job.singleton_key = o.data ->> 'singletonKey'",
            "\n  ORDER BY job.created_on DESC LIMIT 1",
        ),
        UpdateTarget::OldestByKey => (
            "job.singleton_key = o.data ->> 'singletonKey'",
            "\n  ORDER BY job.created_on ASC LIMIT 1",
        ),
        UpdateTarget::AllByKey => ("job.singleton_key = o.data ->> 'singletonKey'", ""),
    };
    let given = |key: &str| format!("(o.data -> '{key}') IS NOT NULL");
    let int = |key: &str| format!("(o.data ->> '{key}')::int");
    // an absolute date time or an interval from now, as insert_jobs reads it
    let start_after = format!(
        "CASE WHEN {given_start} THEN
        CASE WHEN right(o.data ->> 'startAfter', 1) = 'Z' OR (o.data ->> 'startAfter') ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}'
          THEN (o.data ->> 'startAfter')::timestamptz
          ELSE {s_}.job_now() + (o.data ->> 'startAfter')::interval
        END
      ELSE job.start_after END",
        given_start = given("startAfter")
    );
    // nullable columns: a given null clears them; the others keep their value on null
    let nullable = |column: &str, key: &str, value: String| {
        format!(
            "{column} = CASE WHEN {} THEN {value} ELSE job.{column} END",
            given(key)
        )
    };
    let keep = |column: &str, value: String| format!("{column} = COALESCE({value}, job.{column})");
    let set = [
        // a given null stores JSON null, as pg-boss's edit does
        nullable("data", "data", "o.data -> 'data'".into()),
        keep("priority", int("priority")),
        format!("start_after = {start_after}"),
        format!(
            "keep_until = CASE
        WHEN {} THEN ({start_after}) + {} * interval '1 second'
        WHEN {} THEN ({start_after}) + (job.keep_until - job.start_after)
        ELSE job.keep_until END",
            given("retentionSeconds"),
            int("retentionSeconds"),
            given("startAfter")
        ),
        keep("expire_seconds", int("expireInSeconds")),
        keep("deletion_seconds", int("deleteAfterSeconds")),
        keep("retry_limit", int("retryLimit")),
        keep("retry_delay", int("retryDelay")),
        keep("retry_backoff", "(o.data ->> 'retryBackoff')::bool".into()),
        nullable("retry_delay_max", "retryDelayMax", int("retryDelayMax")),
        nullable(
            "dead_letter",
            "deadLetter",
            "o.data ->> 'deadLetter'".into(),
        ),
        nullable(
            "heartbeat_seconds",
            "heartbeatSeconds",
            int("heartbeatSeconds"),
        ),
        nullable("group_id", "groupId", "o.data ->> 'groupId'".into()),
        nullable("group_tier", "groupTier", "o.data ->> 'groupTier'".into()),
    ]
    .join(",\n    ");
    let edit = format!(
        "WITH o AS (SELECT $2::text::jsonb AS data),
target AS (
  SELECT job.id FROM {s_}.{t} job, o
  WHERE job.name = $1::text AND job.state < 'active' AND {predicate}{ordering}
),
edited AS (
  UPDATE {s_}.{t} job SET
    {set}
  FROM o
  WHERE job.id IN (SELECT id FROM target) AND job.state < 'active'
  RETURNING job.id, job.start_after
)"
    );
    if notify {
        format!(
            "{edit},
woken AS (
  SELECT pg_notify('{channel}', $1::text) FROM edited WHERE start_after <= {s_}.job_now() LIMIT 1
)
SELECT id::text FROM edited WHERE (SELECT count(*) FROM woken) >= 0",
            channel = s.notify_channel()
        )
    } else {
        format!("{edit}\nSELECT id::text FROM edited")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaName {
        SchemaName::parse("pgboss").unwrap()
    }

    #[test]
    fn edits_bind_no_question_mark() {
        for target in [
            UpdateTarget::Id,
            UpdateTarget::NewestByKey,
            UpdateTarget::OldestByKey,
            UpdateTarget::AllByKey,
        ] {
            for notify in [false, true] {
                let sql = update_jobs(&schema(), "job_common", target, notify);
                assert!(!sql.contains('?'), "{sql}");
                assert_eq!(sql.contains("pg_notify"), notify);
            }
        }
    }

    #[test]
    fn key_targets_pick_one_job_unless_all() {
        let newest = update_jobs(&schema(), "job_common", UpdateTarget::NewestByKey, false);
        assert!(newest.contains("ORDER BY job.created_on DESC LIMIT 1"));
        let all = update_jobs(&schema(), "job_common", UpdateTarget::AllByKey, false);
        assert!(!all.contains("LIMIT"));
    }
}

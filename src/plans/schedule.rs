//! Schedule statements: the `schedule` table (one row per queue and key), the cron claim on the
//! `version` row, the send-it insert that files each occurrence in its throttle slot, and the
//! database clock. Every timestamp is read through `job_now()`, so a test clock attached to the
//! schema moves them all.

use crate::names::SchemaName;

/// Insert or replace the schedule for queue $1 and key $2 ($3 kind, $4 expression, $5 zone,
/// $6 data and $7 options as JSON). A replaced row keeps its `created_on` (a catch-up never reaches
/// back before it) and moves `updated_on`. A missing queue fails on the foreign key.
pub fn upsert(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        "INSERT INTO {s_}.schedule (name, key, kind, cron, timezone, data, options, created_on, updated_on)
         VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text::jsonb, $7::text::jsonb,
                 {s_}.job_now(), {s_}.job_now())
         ON CONFLICT (name, key) DO UPDATE SET
           kind = EXCLUDED.kind, cron = EXCLUDED.cron, timezone = EXCLUDED.timezone,
           data = EXCLUDED.data, options = EXCLUDED.options, updated_on = {s_}.job_now()"
    )
}

/// Remove the schedule for queue $1 and key $2 (none is not an error).
pub fn delete(s: &SchemaName) -> String {
    format!(
        "DELETE FROM {}.schedule WHERE name = $1::text AND COALESCE(key, '') = $2::text",
        s.ident
    )
}

/// How a schedule list is narrowed and paged.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleFilter {
    /// `$1` is the queue name.
    pub by_queue: bool,
    /// With `by_queue`: `$2` is the key, one row at most.
    pub by_key: bool,
    /// Two more parameters, the previous page's last name and key.
    pub after: bool,
    /// The last parameter is the limit.
    pub limited: bool,
}

/// Schedules as JSON rows in `(name, key)` order, camelCase as the API returns them. A null zone
/// (a row written by hand or by an old release) reads as UTC, which is how every pass evaluates it.
pub fn list(s: &SchemaName, f: ScheduleFilter) -> String {
    let s_ = &s.ident;
    let mut next = 0;
    let mut param = || {
        next += 1;
        format!("${next}::text")
    };
    let mut filters = Vec::new();
    if f.by_queue {
        filters.push(format!("name = {}", param()));
        if f.by_key {
            filters.push(format!("COALESCE(key, '') = {}", param()));
        }
    }
    if f.after && !f.by_key {
        let (name, key) = (param(), param());
        filters.push(format!("(name, key) > ({name}, {key})"));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    let limit = if f.limited && !f.by_key {
        format!("LIMIT {}::int", param())
    } else {
        String::new()
    };
    format!(
        r#"SELECT row_to_json(r)::text FROM (
  SELECT name, key, kind, cron, COALESCE(timezone, 'UTC') AS timezone, data, options,
    created_on AS "createdOn", updated_on AS "updatedOn", last_job_id AS "lastJobId"
  FROM {s_}.schedule
  {filter}
  ORDER BY name, key
  {limit}
) r"#
    )
}

/// What a cron pass evaluates, one JSON row per schedule (times as epoch milliseconds).
pub fn for_pass(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        r#"SELECT json_build_object(
    'name', name, 'key', COALESCE(key, ''), 'kind', kind, 'cron', cron,
    'timezone', COALESCE(timezone, 'UTC'), 'data', data, 'options', options,
    'createdOn', (extract(epoch FROM created_on) * 1000)::float8
  )::text
FROM {s_}.schedule
ORDER BY name, key"#
    )
}

/// The cron claim: one instance per interval of `seconds` moves `version.cron_on` and runs the
/// pass. Answers on both outcomes, as `claimed|prior|elapsed` text: whether this statement moved
/// the stamp, the stamp it found (epoch ms, empty when no pass ever ran) and how old that stamp
/// was in seconds (a refused instance retries when the winner's interval is up). The `prior` CTE
/// reads the statement's snapshot, so it sees the value the UPDATE replaces.
///
/// `>=` rather than `>`: under a test clock every tick lands exactly one interval after the last.
pub fn claim_cron(s: &SchemaName, seconds: f64) -> String {
    let s_ = &s.ident;
    format!(
        "WITH prior AS (
  SELECT cron_on, extract(epoch FROM ({s_}.job_now() - cron_on))::float8 AS elapsed FROM {s_}.version
), moved AS (
  UPDATE {s_}.version SET cron_on = {s_}.job_now()
  WHERE extract(epoch FROM ({s_}.job_now() - COALESCE(cron_on, {s_}.job_now() - interval '1 week'))) >= {seconds}
  RETURNING 1
)
SELECT concat_ws('|', EXISTS (SELECT 1 FROM moved),
  COALESCE(((extract(epoch FROM prior.cron_on) * 1000)::float8)::text, ''),
  COALESCE(prior.elapsed::text, ''))
FROM prior"
    )
}

/// The database's clock as epoch milliseconds.
pub fn database_time(s: &SchemaName) -> String {
    format!(
        "SELECT round(date_part('epoch', {}.job_now()) * 1000)::text",
        s.ident
    )
}

/// File occurrences in the send-it queue (`$1`, table `t`): `$2` is a JSON array of
/// `{ data, singletonKey, slot }`, `slot` the UTC wall time of the occurrence's throttle slot.
/// The singleton index turns a second filing of one occurrence (by any instance, pg-boss's
/// included) into nothing. Answers how many rows went in.
pub fn insert_occurrences(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    format!(
        r#"WITH inserted AS (
  INSERT INTO {s_}.{t} (
    id, name, data, priority, start_after, created_on, singleton_key, singleton_on,
    expire_seconds, deletion_seconds, keep_until, retry_limit, retry_delay, retry_backoff,
    retry_delay_max, policy, dead_letter, heartbeat_seconds
  )
  SELECT gen_random_uuid(), $1::text, o.data, 0, {s_}.job_now(), {s_}.job_now(),
    o."singletonKey", o.slot::timestamp,
    COALESCE(q.expire_seconds, 900), COALESCE(q.deletion_seconds, 604800),
    {s_}.job_now() + COALESCE(q.retention_seconds, 1209600) * interval '1 second',
    COALESCE(q.retry_limit, 2), COALESCE(q.retry_delay, 0), COALESCE(q.retry_backoff, false),
    q.retry_delay_max, q.policy, q.dead_letter, q.heartbeat_seconds
  FROM jsonb_to_recordset($2::text::jsonb) AS o (data jsonb, "singletonKey" text, slot text)
  LEFT JOIN {s_}.queue q ON q.name = $1::text
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT count(*)::text FROM inserted"#
    )
}

/// Relabel schedules whose stored kind disagreed with their expression: `$1` is a JSON array of
/// `{ name, key, kind, cron }`, matched on the expression too, so a schedule() that replaced the
/// row since the pass read it keeps its own kind. `updated_on` stays: the definition is unchanged.
pub fn set_kinds(s: &SchemaName) -> String {
    format!(
        "UPDATE {}.schedule s SET kind = k.kind
         FROM jsonb_to_recordset($1::text::jsonb) AS k (name text, key text, kind text, cron text)
         WHERE s.name = k.name AND COALESCE(s.key, '') = k.key AND s.cron = k.cron",
        s.ident
    )
}

/// Record the job each schedule last produced: `$1` is a JSON array of `{ name, key, jobId }`,
/// one entry per schedule (an UPDATE joined to duplicates would pick any of them).
pub fn set_last_job_ids(s: &SchemaName) -> String {
    format!(
        r#"UPDATE {}.schedule s SET last_job_id = x."jobId"
         FROM jsonb_to_recordset($1::text::jsonb) AS x (name text, key text, "jobId" uuid)
         WHERE s.name = x.name AND COALESCE(s.key, '') = x.key"#,
        s.ident
    )
}

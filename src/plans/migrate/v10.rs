//! The upgrade of a pg-boss 10 schema (versions 21-24) to the version served, which pg-boss itself
//! has no path for. v10 keeps one partition of `job` per queue, an `archive` table beside it, one
//! schedule per queue and a version table of its own, so no chain of steps leads from it: its
//! schema is moved aside whole (`<schema>_v10`, one rename, no rows touched), a fresh schema 46 is
//! installed under the old name with v10's queues, schedules and subscriptions copied in, and the
//! jobs follow in batches, each one statement (its own transaction) that deletes a batch from an
//! old table and inserts it into the new one, so the old table is the cursor and a batch lands
//! whole or not at all. When the old tables are empty the aside schema is dropped.
//!
//! v10's queue options map to 46's: retention_minutes -> retention_seconds (x 60), an option v10
//! left NULL (its constructor default applied) takes 46's default, and every queue is created
//! with `partition: false` (46's default): v10 gave every queue its own partition because it had
//! no other layout, not because anyone chose it. Jobs keep their values; expire_in (interval)
//! becomes expire_seconds, and deletion_seconds takes 46's default (v10 deleted archived jobs
//! after the constructor's deleteAfterDays, which a schema does not record).

use super::super::{literal, locked};
use crate::names::SchemaName;
use crate::plans::schema::install_script;

/// The pg-boss 10 schema versions upgraded in place (10.0.0 made 21, 10.1.5 made 24).
pub const V10_VERSIONS: std::ops::RangeInclusive<i64> = 21..=24;

/// The batch size a move uses unless told otherwise.
pub const DEFAULT_BATCH_SIZE: i64 = 10_000;

/// `schema` with `suffix` appended to its name, quoted the same way.
fn sibling(s: &SchemaName, suffix: &str) -> SchemaName {
    let quoted = s.ident.starts_with('"');
    SchemaName {
        ident: if quoted {
            format!("\"{}{suffix}\"", s.resolved)
        } else {
            format!("{}{suffix}", s.ident)
        },
        resolved: format!("{}{suffix}", s.resolved),
        normalized: format!("{}{suffix}", s.normalized),
        advisory_locks: s.advisory_locks,
    }
}

/// Where the v10 schema waits while its jobs are moved: `<schema>_v10`.
pub fn aside(s: &SchemaName) -> SchemaName {
    sibling(s, "_v10")
}

/// Where a rollback parks the new schema before removing it: `<schema>_v46`.
fn parked(s: &SchemaName) -> SchemaName {
    sibling(s, "_v46")
}

/// The marker the upgrade leaves in the aside schema: which schema it belongs to, the v10
/// version it came from and when it began. Its presence means an upgrade is under way.
pub fn marker(s: &SchemaName) -> String {
    format!(
        "SELECT to_regclass({})::text",
        literal(&format!("{}.v10_upgrade", aside(s).ident))
    )
}

/// The version recorded in the aside schema's v10 version table.
pub fn aside_version(s: &SchemaName) -> String {
    format!("SELECT version::text FROM {}.version", aside(s).ident)
}

/// The one short transaction that begins the upgrade: under pg-boss's advisory lock (and failing
/// with `division by zero`, as pg-boss's migrations do, when the version is no longer a v10 one),
/// the v10 schema is renamed aside, schema 46 is installed under the old name, and v10's queues,
/// schedules and subscriptions are copied into it. No job row is touched.
pub fn begin(s: &SchemaName) -> String {
    let a = aside(s);
    let (s_, a_) = (&s.ident, &a.ident);
    locked(
        s,
        "",
        &[
            format!(
                "SELECT 1 / (CASE WHEN version BETWEEN {} AND {} THEN 1 ELSE 0 END) FROM {s_}.version",
                V10_VERSIONS.start(),
                V10_VERSIONS.end()
            ),
            format!("ALTER SCHEMA {s_} RENAME TO {a_}"),
            format!(
                "CREATE TABLE {a_}.v10_upgrade (schema_name text NOT NULL, from_version integer NOT NULL, started_on timestamptz NOT NULL DEFAULT now())"
            ),
            format!(
                "INSERT INTO {a_}.v10_upgrade (schema_name, from_version) SELECT {}, version FROM {a_}.version",
                literal(&s.resolved)
            ),
            // rows a batch could not insert (a unique slot taken by a job sent during the move)
            format!(
                "CREATE TABLE {a_}.v10_unmoved (source text NOT NULL, job jsonb NOT NULL, error text, moved_on timestamptz NOT NULL DEFAULT now())"
            ),
            install_script(s, true),
            // dead letters are set once every queue exists (46's queue table checks them at once)
            format!(
                "SELECT {s_}.create_queue(q.name, jsonb_strip_nulls(jsonb_build_object(
  'policy', COALESCE(q.policy, 'standard'),
  'retryLimit', q.retry_limit,
  'retryDelay', q.retry_delay,
  'retryBackoff', q.retry_backoff,
  'expireInSeconds', q.expire_seconds,
  'retentionSeconds', q.retention_minutes * 60,
  'partition', false
))) FROM {a_}.queue q ORDER BY q.name"
            ),
            format!(
                "UPDATE {s_}.queue n SET dead_letter = q.dead_letter, created_on = q.created_on, updated_on = q.updated_on
FROM {a_}.queue q WHERE q.name = n.name"
            ),
            format!(
                "INSERT INTO {s_}.schedule (name, key, kind, cron, timezone, data, options, created_on, updated_on)
SELECT name, '', 'cron', cron, COALESCE(timezone, 'UTC'), data, COALESCE(options::jsonb - 'tz', '{{}}'::jsonb), created_on, updated_on
FROM {a_}.schedule"
            ),
            format!(
                "INSERT INTO {s_}.subscription (event, name, created_on, updated_on)
SELECT event, name, created_on, updated_on FROM {a_}.subscription"
            ),
            format!(
                "UPDATE {s_}.version n SET cron_on = o.cron_on FROM {a_}.version o"
            ),
        ],
    )
}

/// The tables a move drains, in order, as (table, filter) passes: the live jobs (created, retry,
/// active) of every v10 partition first, so queues are whole again soonest, then the rest of the
/// partitions, then the archive. `partitions` are the v10 job partitions (`aside.jXXX`).
pub fn passes(s: &SchemaName, partitions: &[String]) -> Vec<(String, Option<&'static str>)> {
    let a = aside(s);
    let mut out = Vec::new();
    for p in partitions {
        out.push((format!("{}.{p}", a.ident), Some("state < 'completed'")));
    }
    for p in partitions {
        out.push((format!("{}.{p}", a.ident), None));
    }
    out.push((format!("{}.archive", a.ident), None));
    out
}

/// The v10 job partitions still attached to the aside `job` table.
pub fn partitions(s: &SchemaName) -> String {
    format!(
        "SELECT quote_ident(c.relname)::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass({}) ORDER BY c.relname",
        literal(&format!("{}.job", aside(s).ident))
    )
}

/// One batch: up to `batch_size` rows of one old table (a leaf: a v10 partition or the archive,
/// addressed by ctid) deleted and inserted into 46's `job` in one statement. A row whose insert
/// conflicts (a unique slot a job sent since the upgrade began now holds) is kept, as JSON, in
/// `v10_unmoved` rather than lost. Answers the number of rows taken from the old table.
pub fn move_batch(s: &SchemaName, table: &str, filter: Option<&str>, batch_size: i64) -> String {
    let a = aside(s);
    let (s_, a_) = (&s.ident, &a.ident);
    let filter = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default();
    format!(
        "WITH moved AS (
  DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table}{filter} LIMIT {batch_size} FOR UPDATE SKIP LOCKED))
  RETURNING *
), inserted AS (
  INSERT INTO {s_}.job (id, name, priority, data, state, retry_limit, retry_count, retry_delay, retry_backoff,
    expire_seconds, singleton_key, singleton_on, start_after, created_on, started_on, completed_on, keep_until,
    output, dead_letter, policy)
  SELECT id, name, priority, data, state::text::{s_}.job_state, retry_limit, retry_count, retry_delay, retry_backoff,
    GREATEST(1, round(EXTRACT(epoch FROM expire_in)))::int, singleton_key, singleton_on, start_after, created_on,
    started_on, completed_on, keep_until, output, dead_letter, policy
  FROM moved
  ON CONFLICT DO NOTHING
  RETURNING id
), unmoved AS (
  INSERT INTO {a_}.v10_unmoved (source, job, error)
  SELECT {source}, to_jsonb(m), 'a unique slot was taken by a job sent during the upgrade'
  FROM moved m WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.id = m.id)
  RETURNING 1
)
SELECT ((SELECT count(*) FROM moved)::text || ',' || (SELECT count(*) FROM unmoved)::text)",
        source = literal(table),
    )
}

/// The transaction that ends the upgrade once every old table is empty: the v10 objects are
/// dropped, then the aside schema if nothing of anyone else's is left in it. It fails with
/// `division by zero` while rows remain (another mover's batch still in flight, or rows kept in
/// v10_unmoved), leaving everything as it was.
pub fn finish(s: &SchemaName) -> String {
    let a = aside(s);
    let a_ = &a.ident;
    locked(
        s,
        "",
        &[
            format!("LOCK TABLE {a_}.job, {a_}.archive, {a_}.v10_unmoved IN ACCESS EXCLUSIVE MODE"),
            format!(
                "SELECT 1 / (CASE WHEN NOT EXISTS (SELECT 1 FROM {a_}.job) AND NOT EXISTS (SELECT 1 FROM {a_}.archive) AND NOT EXISTS (SELECT 1 FROM {a_}.v10_unmoved) THEN 1 ELSE 0 END)"
            ),
            format!(
                "DROP TABLE {a_}.v10_upgrade, {a_}.v10_unmoved, {a_}.subscription, {a_}.schedule, {a_}.archive, {a_}.job, {a_}.queue, {a_}.version"
            ),
            format!("DROP FUNCTION IF EXISTS {a_}.create_queue(text, json), {a_}.delete_queue(text)"),
            format!("DROP TYPE IF EXISTS {a_}.job_state"),
            // objects of the user's that moved aside with the v10 schema keep it alive
            format!(
                "DO $v10$ BEGIN DROP SCHEMA {a_}; EXCEPTION WHEN dependent_objects_still_exist THEN RAISE NOTICE 'schema % kept: it holds objects pg-boss did not create', {}; END $v10$",
                literal(&a.resolved)
            ),
        ],
    )
}

/// Counts a dry run reports: rows of each old table by state, as `label,count` lines.
pub fn counts(v10: &SchemaName) -> String {
    let v = &v10.ident;
    format!(
        "SELECT 'job.' || state::text || ',' || count(*)::text FROM {v}.job GROUP BY state
UNION ALL SELECT 'archive.' || state::text || ',' || count(*)::text FROM {v}.archive GROUP BY state
UNION ALL SELECT 'queue,' || count(*)::text FROM {v}.queue
UNION ALL SELECT 'schedule,' || count(*)::text FROM {v}.schedule
UNION ALL SELECT 'subscription,' || count(*)::text FROM {v}.subscription"
    )
}

/// The rollback, in one transaction: the new schema is parked (`<schema>_v46`), the v10 schema
/// is renamed back, the queues created since the upgrade began are created in v10 (policies v10
/// lacks become standard), every job is moved back (v10_unmoved's, then 46's), a row v10 cannot
/// take (its unique slot held) kept as JSON in `<schema>.v46_unrestored`, schedules (key '' only:
/// v10 has one per queue) and subscriptions added since are copied, and the parked schema's
/// pg-boss objects are dropped. v10 archives the completed jobs again as it runs.
pub fn rollback(s: &SchemaName) -> String {
    let a = aside(s);
    let p = parked(s);
    let (s_, a_, p_) = (&s.ident, &a.ident, &p.ident);
    locked(
        s,
        "",
        &[
            format!("SELECT 1 / (CASE WHEN version = {} THEN 1 ELSE 0 END) FROM {s_}.version", crate::plans::schema::SCHEMA_VERSION),
            format!("SELECT from_version FROM {a_}.v10_upgrade"),
            format!("ALTER SCHEMA {s_} RENAME TO {p_}"),
            format!("ALTER SCHEMA {a_} RENAME TO {s_}"),
            format!(
                "SELECT {s_}.create_queue(n.name, json_strip_nulls(json_build_object(
  'policy', CASE WHEN n.policy IN ('standard', 'short', 'singleton', 'stately') THEN n.policy ELSE 'standard' END,
  'retryLimit', n.retry_limit,
  'retryDelay', n.retry_delay,
  'retryBackoff', n.retry_backoff,
  'expireInSeconds', n.expire_seconds,
  'retentionMinutes', ceil(n.retention_seconds / 60.0)::int
))) FROM {p_}.queue n WHERE NOT EXISTS (SELECT 1 FROM {s_}.queue o WHERE o.name = n.name) ORDER BY n.name"
            ),
            format!(
                "UPDATE {s_}.queue o SET dead_letter = n.dead_letter FROM {p_}.queue n
WHERE o.name = n.name AND o.dead_letter IS NULL AND n.dead_letter IS NOT NULL"
            ),
            // v10's own rows kept aside first: they held their slots before anything sent since
            format!(
                "INSERT INTO {s_}.job (id, name, priority, data, state, retry_limit, retry_count, retry_delay, retry_backoff,
  start_after, started_on, singleton_key, singleton_on, expire_in, created_on, completed_on, keep_until, output,
  dead_letter, policy)
SELECT r.id, r.name, r.priority, r.data, r.state, r.retry_limit, r.retry_count, r.retry_delay, r.retry_backoff,
  r.start_after, r.started_on, r.singleton_key, r.singleton_on, r.expire_in, r.created_on, r.completed_on,
  r.keep_until, r.output, r.dead_letter, r.policy
FROM {s_}.v10_unmoved u, jsonb_populate_record(NULL::{s_}.archive, u.job) r
ON CONFLICT DO NOTHING"
            ),
            format!(
                "INSERT INTO {s_}.job (id, name, priority, data, state, retry_limit, retry_count, retry_delay, retry_backoff,
  start_after, started_on, singleton_key, singleton_on, expire_in, created_on, completed_on, keep_until, output,
  dead_letter, policy)
SELECT id, name, priority, data, state::text::{s_}.job_state, retry_limit, retry_count, retry_delay, retry_backoff,
  start_after, started_on, singleton_key, singleton_on, make_interval(secs => expire_seconds), created_on,
  completed_on, keep_until, output, dead_letter, policy
FROM {p_}.job
ON CONFLICT DO NOTHING"
            ),
            // what v10 cannot take back (a unique slot already held) is kept, not lost
            format!(
                "CREATE TABLE {s_}.v46_unrestored (job jsonb NOT NULL, kept_on timestamptz NOT NULL DEFAULT now())"
            ),
            format!(
                "INSERT INTO {s_}.v46_unrestored (job)
SELECT u.job FROM {s_}.v10_unmoved u
WHERE NOT EXISTS (SELECT 1 FROM {s_}.job o WHERE o.name = u.job->>'name' AND o.id = (u.job->>'id')::uuid)
UNION ALL
SELECT to_jsonb(n) FROM {p_}.job n
WHERE NOT EXISTS (SELECT 1 FROM {s_}.job o WHERE o.name = n.name AND o.id = n.id)"
            ),
            format!(
                "DO $v10$ BEGIN IF NOT EXISTS (SELECT 1 FROM {s_}.v46_unrestored) THEN DROP TABLE {s_}.v46_unrestored; END IF; END $v10$"
            ),
            format!(
                "INSERT INTO {s_}.schedule (name, cron, timezone, data, options, created_on, updated_on)
SELECT name, cron, timezone, data, (COALESCE(options, '{{}}'::jsonb) || jsonb_build_object('tz', timezone))::json, created_on, updated_on
FROM {p_}.schedule WHERE key = '' ON CONFLICT (name) DO NOTHING"
            ),
            format!(
                "INSERT INTO {s_}.subscription (event, name, created_on, updated_on)
SELECT event, name, created_on, updated_on FROM {p_}.subscription ON CONFLICT DO NOTHING"
            ),
            format!("DROP TABLE {s_}.v10_upgrade, {s_}.v10_unmoved"),
            crate::plans::schema::uninstall(&p, true),
            format!(
                "DO $v10$ BEGIN DROP SCHEMA {p_}; EXCEPTION WHEN dependent_objects_still_exist THEN RAISE NOTICE 'schema % kept: it holds objects pg-boss did not create', {}; END $v10$",
                literal(&p.resolved)
            ),
        ],
    )
}

/// After a rollback: whether rows v10 could not take back were kept (`<schema>.v46_unrestored`),
/// and how many.
pub fn unrestored(s: &SchemaName) -> (String, String) {
    (
        format!(
            "SELECT to_regclass({})::text",
            literal(&format!("{}.v46_unrestored", s.ident))
        ),
        format!("SELECT count(*)::text FROM {}.v46_unrestored", s.ident),
    )
}

/// The whole upgrade as text, for `getMigrationPlans(schema, 21..24)`: the first transaction,
/// then the batch statement (repeated until it moves no rows, for each v10 partition, live jobs
/// first, then the archive), then the closing transaction.
pub fn plan(s: &SchemaName, from: i64) -> Option<String> {
    if !V10_VERSIONS.contains(&from) {
        return None;
    }
    let a = aside(s);
    let archive = format!("{}.archive", a.ident);
    Some(format!(
        "-- pg-boss-native: upgrade of pg-boss 10 schema {schema} (version {from}) to {to}.
-- 1. One transaction: the v10 schema is renamed to {aside}, schema {to} is installed as {schema},
--    and v10's queues, schedules and subscriptions are copied into it.
{begin}

-- 2. The jobs, in batches of {batch}: each statement is its own transaction and answers
--    'rows taken,rows kept in {aside}.v10_unmoved'; repeat it until it takes none. Run it first
--    on each v10 partition with WHERE state < 'completed' (the live jobs), then on each partition
--    without a filter, then on {archive}, as below. The partitions:
--    {partitions};
{batch_sql};

-- 3. One transaction, once every old table is empty: the v10 schema is dropped.
{finish}
",
        schema = s.ident,
        aside = a.ident,
        to = crate::plans::schema::SCHEMA_VERSION,
        begin = begin(s),
        batch = DEFAULT_BATCH_SIZE,
        partitions = partitions(s).replace('\n', "\n--    "),
        batch_sql = move_batch(s, &archive, None, DEFAULT_BATCH_SIZE),
        finish = finish(s),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaName {
        SchemaName::parse("upg10").unwrap()
    }

    #[test]
    fn the_aside_schema_keeps_the_quoting() {
        assert_eq!(aside(&schema()).ident, "upg10_v10");
        let quoted = SchemaName::parse("\"Upg\"").unwrap();
        assert_eq!(aside(&quoted).ident, "\"Upg_v10\"");
        assert_eq!(aside(&quoted).resolved, "Upg_v10");
    }

    #[test]
    fn begin_renames_installs_and_copies_under_the_lock() {
        let sql = begin(&schema());
        let lock = sql.find("pg_advisory_xact_lock").unwrap();
        let check = sql.find("BETWEEN 21 AND 24").unwrap();
        let rename = sql.find("ALTER SCHEMA upg10 RENAME TO upg10_v10").unwrap();
        let install = sql.find("CREATE SCHEMA IF NOT EXISTS upg10;").unwrap();
        let queues = sql.find("SELECT upg10.create_queue(q.name").unwrap();
        assert!(lock < check && check < rename && rename < install && install < queues);
        assert!(sql.contains("'retentionSeconds', q.retention_minutes * 60"));
        assert!(sql.contains("'partition', false"));
        assert!(sql.contains("options::jsonb - 'tz'"));
        assert!(!sql.contains("{{"));
        assert!(sql.trim_end().ends_with("COMMIT;"));
    }

    #[test]
    fn a_batch_moves_one_leaf_by_ctid_and_keeps_what_it_cannot_insert() {
        let sql = move_batch(
            &schema(),
            "upg10_v10.jabc",
            Some("state < 'completed'"),
            500,
        );
        assert!(sql.contains("DELETE FROM upg10_v10.jabc WHERE ctid = ANY(ARRAY(SELECT ctid FROM upg10_v10.jabc WHERE state < 'completed' LIMIT 500 FOR UPDATE SKIP LOCKED))"));
        assert!(sql.contains("INSERT INTO upg10.job ("));
        assert!(sql.contains("state::text::upg10.job_state"));
        assert!(sql.contains("EXTRACT(epoch FROM expire_in)"));
        assert!(sql.contains("INSERT INTO upg10_v10.v10_unmoved"));
        assert!(!sql.contains("BEGIN"));
        let p = passes(&schema(), &["ja".into(), "jb".into()]);
        assert_eq!(p.len(), 5);
        assert_eq!(
            p[0],
            ("upg10_v10.ja".to_string(), Some("state < 'completed'"))
        );
        assert_eq!(p[2], ("upg10_v10.ja".to_string(), None));
        assert_eq!(p[4].0, "upg10_v10.archive");
    }

    #[test]
    fn finish_and_rollback_check_before_they_drop() {
        let f = finish(&schema());
        assert!(f.find("LOCK TABLE").unwrap() < f.find("NOT EXISTS").unwrap());
        assert!(f.find("NOT EXISTS").unwrap() < f.find("DROP TABLE").unwrap());
        let r = rollback(&schema());
        let park = r.find("ALTER SCHEMA upg10 RENAME TO upg10_v46").unwrap();
        let back = r.find("ALTER SCHEMA upg10_v10 RENAME TO upg10").unwrap();
        let jobs = r.find("FROM upg10_v46.job").unwrap();
        let drop = r.find("DROP TABLE IF EXISTS upg10_v46.bam").unwrap();
        assert!(park < back && back < jobs && jobs < drop);
        assert!(r.contains("'retentionMinutes', ceil(n.retention_seconds / 60.0)::int"));
        // v10's own kept rows go back before 46's, and what cannot go back is kept
        assert!(
            r.find("FROM upg10.v10_unmoved u, jsonb_populate_record")
                .unwrap()
                < jobs
        );
        assert!(jobs < r.find("INSERT INTO upg10.v46_unrestored").unwrap());
    }

    #[test]
    fn the_plan_spells_out_every_part_for_v10_versions_only() {
        for v in 21..=24 {
            let p = plan(&schema(), v).unwrap();
            assert!(p.contains(&format!("(version {v})")));
            assert!(p.contains("ALTER SCHEMA upg10 RENAME TO upg10_v10"));
            assert!(p.contains("DELETE FROM upg10_v10.archive WHERE ctid"));
            assert!(p.contains("DROP TABLE upg10_v10.v10_upgrade"));
        }
        assert!(plan(&schema(), 20).is_none());
        assert!(plan(&schema(), 25).is_none());
    }
}

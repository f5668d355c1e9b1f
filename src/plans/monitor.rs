//! Vacuum health of the job tables (`monitorVacuum`): their dead-tuple accounting against the
//! point PostgreSQL itself would vacuum them, and what holds the MVCC horizon back when a vacuum
//! reclaimed nothing. Real clocks throughout (`now()`): these compare against timestamps the
//! server's statistics wrote, which a test clock does not move.

use super::literal;
use crate::names::SchemaName;

/// Per job table (the queues' tables plus `job` and `job_common`), one JSON document: live and
/// dead tuples, the last vacuum (manual or auto) as epoch ms and its age in seconds (null when
/// never), and the table's autovacuum threshold, scale factor and switch, its own storage
/// parameters first, then the server's settings.
pub fn job_table_garbage(s: &SchemaName) -> String {
    let option = |name: &str, cast: &str| {
        format!(
            "(SELECT option_value::{cast} FROM pg_options_to_table(t.reloptions) WHERE option_name = '{name}')"
        )
    };
    format!(
        r#"SELECT row_to_json(g)::text FROM (
  SELECT t.relname AS name, st.n_live_tup AS "liveTuples", st.n_dead_tup AS "deadTuples",
    (extract(epoch FROM greatest(st.last_vacuum, st.last_autovacuum)) * 1000)::float8 AS "lastVacuum",
    extract(epoch FROM now() - greatest(st.last_vacuum, st.last_autovacuum))::int AS "vacuumAgeSeconds",
    coalesce({threshold}, current_setting('autovacuum_vacuum_threshold')::int) AS threshold,
    coalesce({scale}, current_setting('autovacuum_vacuum_scale_factor')::float8) AS "scaleFactor",
    coalesce({enabled}, true) AS "autovacuumEnabled"
  FROM pg_catalog.pg_class t
  JOIN pg_catalog.pg_namespace ns ON ns.oid = t.relnamespace
  JOIN pg_catalog.pg_stat_user_tables st ON st.relid = t.oid
  WHERE ns.nspname = {nsp} AND t.relkind = 'r'
    AND t.relname IN (SELECT table_name FROM {s_}.queue UNION VALUES ('job'), ('job_common'))
) g"#,
        threshold = option("autovacuum_vacuum_threshold", "int"),
        scale = option("autovacuum_vacuum_scale_factor", "float8"),
        enabled = option("autovacuum_enabled", "boolean"),
        nsp = literal(&s.resolved),
        s_ = s.ident
    )
}

/// What can hold the horizon back, and how far (in transactions) each class holds it. `backends`
/// counts only transactions already open when the vacuum that failed ran ($1, epoch seconds), or whose start
/// this role cannot read (another role's backend shows a NULL `xact_start`).
pub const XMIN_SOURCES: [(&str, &str); 5] = [
    (
        "backends",
        "SELECT max(age(backend_xmin)) FROM pg_catalog.pg_stat_activity WHERE backend_xmin IS NOT NULL AND (xact_start IS NULL OR xact_start < to_timestamp($1::text::float8)) AND pid <> pg_backend_pid()",
    ),
    (
        "slots",
        "SELECT max(age(xmin)) FROM pg_catalog.pg_replication_slots WHERE xmin IS NOT NULL",
    ),
    (
        "slotsCatalog",
        "SELECT max(age(catalog_xmin)) FROM pg_catalog.pg_replication_slots WHERE catalog_xmin IS NOT NULL",
    ),
    (
        "standbys",
        "SELECT max(age(backend_xmin)) FROM pg_catalog.pg_stat_replication WHERE backend_xmin IS NOT NULL",
    ),
    (
        "prepared",
        "SELECT max(age(transaction)) FROM pg_catalog.pg_prepared_xacts",
    ),
];

/// One JSON document: each source in `sources` (names of `XMIN_SOURCES`) with its age, the oldest
/// open transaction's age in seconds, and, when `backends` is asked for, the oldest holding
/// backend (never its query text, which may carry literals), how many backends could not be
/// timed, and this connection's `application_name`. Takes $1 (the failed vacuum's time) only
/// with `backends`.
pub fn xmin_horizon(sources: &[&str]) -> String {
    let mut columns: Vec<String> = XMIN_SOURCES
        .iter()
        .filter(|(name, _)| sources.contains(name))
        .map(|(name, sql)| format!("({sql}) AS \"{name}\""))
        .collect();
    columns.push(
        "(SELECT max(extract(epoch FROM now() - xact_start))::int FROM pg_catalog.pg_stat_activity
     WHERE backend_xmin IS NOT NULL AND xact_start IS NOT NULL) AS \"oldestTransactionSeconds\""
            .into(),
    );
    if sources.contains(&"backends") {
        columns.push(
            r#"(SELECT row_to_json(h) FROM (
       SELECT pid, application_name AS "applicationName", usename::text AS "userName", state,
         age(backend_xmin) AS age, extract(epoch FROM now() - xact_start)::int AS "xactSeconds"
       FROM pg_catalog.pg_stat_activity
       WHERE backend_xmin IS NOT NULL AND (xact_start IS NULL OR xact_start < to_timestamp($1::text::float8))
         AND pid <> pg_backend_pid()
       ORDER BY age(backend_xmin) DESC, xact_start NULLS LAST
       LIMIT 1) h) AS "backendHolder",
     (SELECT count(*)::int FROM pg_catalog.pg_stat_activity
       WHERE backend_xmin IS NOT NULL AND xact_start IS NULL AND pid <> pg_backend_pid()) AS "opaqueBackends",
     current_setting('application_name') AS "selfApplicationName""#
                .into(),
        );
    }
    format!(
        "SELECT row_to_json(x)::text FROM (SELECT {}) x",
        columns.join(",\n  ")
    )
}

/// Share of `autovacuum_naptime` the stats count may hold the horizon in one pass before the
/// backoff engages (6 s at the default naptime), as pg-boss 12.38 budgets it.
const PIN_BUDGET_RATIO: f64 = 0.1;
/// The duration-proportional part of a backoff stops at ten minutes; the whole at an hour.
const BACKOFF_MAX_SECONDS: f64 = 600.0;
const BACKOFF_CAP_SECONDS: f64 = 3600.0;

/// After a pass whose counts held the horizon $1 seconds (more than the budget), defer the next
/// count by twice the naptime, or the time held if longer: a free window longer than a naptime is
/// one the autovacuum launcher cannot miss. `monitor_backoff_on` only moves later (instances
/// write independently). A row (naptime, seconds left, until when) only when it engaged.
pub fn set_monitor_backoff(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        r#"WITH settings AS (
  SELECT extract(epoch FROM current_setting('autovacuum_naptime')::interval)::float8 AS naptime
), plan AS (
  SELECT naptime, least(greatest(2 * naptime, least($1::text::float8, {BACKOFF_MAX_SECONDS})), {BACKOFF_CAP_SECONDS}) AS seconds
  FROM settings
), engaged AS (
  UPDATE {s_}.version v
  SET monitor_backoff_on = greatest(coalesce(v.monitor_backoff_on, {s_}.job_now()), {s_}.job_now() + make_interval(secs => p.seconds))
  FROM plan p
  WHERE $1::text::float8 > {PIN_BUDGET_RATIO} * p.naptime
  RETURNING p.naptime, v.monitor_backoff_on
)
SELECT json_build_object('naptimeSeconds', naptime,
  'backoffSeconds', extract(epoch FROM monitor_backoff_on - {s_}.job_now())::float8,
  'backoffUntil', monitor_backoff_on)::text
FROM engaged"#
    )
}

//! A TestClock's statements (`TestClock.attach()` in lib/clock.js): while attached, `job_now()`
//! answers the time in a one-row table to every session that opts in through the
//! `pgboss.test_clock` setting, and real time to every other. The table name, the setting and the
//! restored body are pg-boss 12.38's, so either implementation's clock serves both in one
//! database and pg-boss's drift check recognises an override a killed run left behind.

use crate::config::TEST_CLOCK_SETTING;
use crate::names::SchemaName;

fn clock_table(s: &SchemaName) -> String {
    format!("{}.__pgboss_test_clock", s.ident)
}

/// `job_now()` with `body`, laid out as the install creates it (migrations/0046_install.sql).
fn job_now(s: &SchemaName, body: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {}.job_now()
  RETURNS timestamptz
  LANGUAGE sql
  STABLE
AS $body$
  {body}
$body$;",
        s.ident
    )
}

/// `job_now()`'s body while a TestClock is attached (the drift check expects it then).
pub fn override_body(s: &SchemaName) -> String {
    format!(
        "SELECT COALESCE(CASE WHEN current_setting('{TEST_CLOCK_SETTING}', true) = 'on' THEN (SELECT c.now FROM {} c LIMIT 1) END, pg_catalog.now());",
        clock_table(s)
    )
}

/// Take over `job_now()` at `seconds` since the epoch.
pub fn attach(s: &SchemaName, seconds: f64) -> String {
    let table = clock_table(s);
    let body = override_body(s);
    format!(
        "DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (now timestamp with time zone NOT NULL);
{}
INSERT INTO {table} (now) VALUES (to_timestamp({seconds}));",
        job_now(s, &body)
    )
}

/// Move the attached clock to `$1` seconds since the epoch.
pub fn set(s: &SchemaName) -> String {
    format!(
        "UPDATE {} SET now = to_timestamp($1::text::float8)",
        clock_table(s)
    )
}

/// `job_now()`'s source text (`prosrc`), one row, or none when the function is missing: how a
/// TestClock override a killed run left behind is found on any backend.
pub fn source(s: &SchemaName) -> String {
    format!(
        "SELECT p.prosrc FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = {} AND p.proname = 'job_now'",
        crate::plans::literal(&s.resolved)
    )
}

/// Whether a `job_now()` source carries a TestClock override (it reads the setting).
pub fn is_overridden(source: &str) -> bool {
    source.contains(TEST_CLOCK_SETTING)
}

/// Give `job_now()` back its installed body (the one schema 46 creates) and drop the table.
pub fn restore(s: &SchemaName) -> String {
    format!(
        "{}
DROP TABLE IF EXISTS {};
RESET {TEST_CLOCK_SETTING};",
        job_now(s, "SELECT pg_catalog.now();"),
        clock_table(s)
    )
}

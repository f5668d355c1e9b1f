//! The `warning` table (`persistWarnings`).

use crate::names::SchemaName;

/// Store a warning: $1 its type, $2 message, $3 data as JSON.
pub fn insert_warning(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        "INSERT INTO {s_}.warning (type, message, data, created_on)
         VALUES ($1::text, $2::text, $3::text::jsonb, {s_}.job_now())"
    )
}

/// Delete stored warnings older than `days` (`warningRetentionDays`).
pub fn delete_old_warnings(s: &SchemaName, days: i64) -> String {
    let s_ = &s.ident;
    format!("DELETE FROM {s_}.warning WHERE created_on < {s_}.job_now() - interval '{days} days'")
}
/// The server's version string, which names YugabyteDB (`-YB-`) where that is the server.
pub const SERVER_VERSION: &str = "SELECT version()";

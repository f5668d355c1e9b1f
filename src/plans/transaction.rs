//! The database-side bound on a transactional handler's transaction.
//!
//! `transaction_timeout` (PostgreSQL 17+) bounds the whole transaction;
//! `idle_in_transaction_session_timeout` only the gaps between its statements, which still ends a
//! handler that stopped issuing them. `statement_timeout` is not a candidate: it would end one
//! statement and leave the transaction aborted for the next (25P02), blaming the handler.

/// The candidates, best first.
pub const TIMEOUT_SETTINGS: [&str; 2] =
    ["transaction_timeout", "idle_in_transaction_session_timeout"];

/// Which candidates this server knows: one column each, NULL for a setting it does not recognise
/// (asking for an unknown one any other way is an error on PostgreSQL 13-16). Named columns: a
/// driver that hands rows over as objects would fold two unnamed ones into one.
pub fn probe_settings() -> String {
    let columns: Vec<String> = TIMEOUT_SETTINGS
        .iter()
        .map(|name| format!("current_setting('{name}', true) AS {name}"))
        .collect();
    format!("SELECT {}", columns.join(", "))
}

/// The tighter of our bound ($2, milliseconds) and the one the session already carries for
/// setting $1 (a role's or a provider's, which is meant), 0 meaning none on either side.
const TIGHTEST: &str = "LEAST($2::text::bigint, NULLIF((SELECT s.setting::bigint FROM pg_settings s WHERE s.name = $1::text), 0))";

/// The read half of [`apply_bound`], run once off the transaction so that a server without
/// `pg_settings` costs the bound rather than the batch.
pub fn rehearse_bound() -> String {
    format!("SELECT ({TIGHTEST})::text")
}

/// The first statement of the transaction: sets the bound for this transaction only.
pub fn apply_bound() -> String {
    format!("SELECT set_config($1::text, ({TIGHTEST})::text, true)")
}

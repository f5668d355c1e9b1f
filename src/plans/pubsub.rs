//! Pub/sub statements: the `subscription` table maps an event ($1) to the queues ($2) that get a
//! job for each publish of it. A subscription goes with its queue (`ON DELETE CASCADE`).

use crate::names::SchemaName;

/// Subscribe queue $2 to event $1; subscribing again only moves `updated_on`. A queue that does
/// not exist fails on the table's foreign key, as in pg-boss.
pub fn subscribe(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        "INSERT INTO {s_}.subscription (event, name, created_on, updated_on)
         VALUES ($1::text, $2::text, {s_}.job_now(), {s_}.job_now())
         ON CONFLICT (event, name) DO UPDATE SET updated_on = {s_}.job_now()"
    )
}

/// Remove queue $2's subscription to event $1 (none is not an error).
pub fn unsubscribe(s: &SchemaName) -> String {
    format!(
        "DELETE FROM {}.subscription WHERE event = $1::text AND name = $2::text",
        s.ident
    )
}

/// The queues subscribed to event $1, one name per row. Unordered, as pg-boss reads them: the
/// order only decides in which order a publish's sends start (they run concurrently).
pub fn subscribed_queues(s: &SchemaName) -> String {
    format!(
        "SELECT name FROM {}.subscription WHERE event = $1::text",
        s.ident
    )
}

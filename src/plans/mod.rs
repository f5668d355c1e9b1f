//! All SQL the engine sends, in one place. Every statement takes text parameters and returns
//! text columns (usually one JSON document per row); see `db.rs` for why.
//!
//! `s` is the schema identifier as configured (already validated), `t` a job table name read
//! from the queue row (validated by `names::assert_table_name`); queue names are bound as
//! parameters wherever a statement can take one.

pub mod bam;
pub mod clock;
pub mod drift;
pub mod flow;
pub mod jobs;
pub mod migrate;
pub mod monitor;
pub mod notify;
pub mod pubsub;
pub mod queue_stats;
pub mod queues;
pub mod redrive;
pub mod registry;
pub mod reindex;
pub mod schedule;
pub mod schema;
pub mod schema_flat;
pub mod settle;
pub mod supervise;
pub mod throughput;
pub mod transaction;
pub mod warnings;

use crate::names::SchemaName;

/// A transaction holding pg-boss's advisory lock for `key`, as one parameterless script, so it
/// runs the same through the native pool and a caller's `executeSql`. Without advisory locks
/// (`SchemaName::advisory_locks`) the same transaction without the lock, as pg-boss's `locked()`.
pub fn locked(schema: &SchemaName, key: &str, statements: &[String]) -> String {
    let mut sql = String::from(
        "BEGIN;\nSET LOCAL lock_timeout = 30000;\nSET LOCAL idle_in_transaction_session_timeout = 30000;\n",
    );
    if schema.advisory_locks {
        sql.push_str(&format!("SELECT {};\n", schema.lock_sql(key)));
    }
    for s in statements {
        sql.push_str(s.trim_end().trim_end_matches(';'));
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT;");
    sql
}

/// A string literal for inlining into a parameterless script.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

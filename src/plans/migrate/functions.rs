//! The functions a step installs, as each schema version defines them, derived from the install
//! script so the served version's definitions live in one place.

use crate::names::SchemaName;
use crate::plans::schema::install_script;

/// The `CREATE FUNCTION <schema>.<name>(` statement of the install script, through its `$body$;`.
pub(super) fn installed_function(s: &SchemaName, name: &str) -> String {
    let install = install_script(s, false);
    let start = install
        .find(&format!("CREATE FUNCTION {}.{name}(", s.ident))
        .expect("the install script defines the function");
    let end = start
        + install[start..]
            .find("\n$body$;")
            .expect("a function body ends with $body$;")
        + "\n$body$;".len();
    install[start..end].to_string()
}

/// The per-queue partition indexes create_queue() has gained since schema 27, by version.
const PARTITION_INDEX_SINCE: &[(&str, i64)] = &[
    ("job_i8", 28),
    ("job_i9", 33),
    ("job_i10", 38),
    ("job_i12", 43),
    ("job_i13", 45),
    ("job_i14", 46),
    ("job_i15", 46),
    ("job_i16", 46),
    ("job_i17", 46),
];

/// `create_queue()` as schema 26 defines it: another shape than 27's (see its file).
const CREATE_QUEUE_26: &str = include_str!("../../../migrations/0026_create_queue.sql");

/// `create_queue()` as schema `version` (26 and up) defines it, as `CREATE OR REPLACE`. From 27
/// on the function changed by gaining index lines, in 28 by the key_strict_fifo policy, in 30 by
/// the heartbeatSeconds option, in 31 by job_i5 skipping blocked jobs, in 32 by the notify
/// option, in 33 by job_i5 losing its INCLUDE, in 40 by job_i11 replacing job_i5, and in 42 by
/// stamping the queue's created_on and updated_on with job_now(); so each version's body is the
/// install's without what came after it. One source of truth, whose tokens pg-boss's drift check
/// compares.
pub(super) fn create_queue(s: &SchemaName, version: i64) -> String {
    if version == 26 {
        // 26 spelled a partition's DDL with format(), before job_table_format() existed
        return CREATE_QUEUE_26.replace("{{schema}}", &s.ident);
    }
    let mut body = installed_function(s, "create_queue");
    if version < 40 {
        // before 40 the fetch index was job_i5, without priority
        body = body.replacen(
            &format!("CREATE INDEX job_i11 ON {}.job (name, priority DESC, created_on, start_after) WHERE", s.ident),
            &format!("CREATE INDEX job_i5 ON {}.job (name, start_after) WHERE", s.ident),
            1,
        );
    }
    if version < 33 {
        // before 33 job_i5 carried the columns a fetch returns
        body = body.replacen(
            &format!("CREATE INDEX job_i5 ON {}.job (name, start_after) WHERE", s.ident),
            &format!("CREATE INDEX job_i5 ON {}.job (name, start_after) INCLUDE (priority, created_on, id) WHERE", s.ident),
            1,
        );
    }
    if version < 42 {
        body = body
            .replacen("heartbeat_seconds, notify, created_on, updated_on\n", "heartbeat_seconds, notify\n", 1)
            .replacen(
                &format!(
                    "COALESCE((options->>'notify')::bool, false),\n      {0}.job_now(),\n      {0}.job_now()\n",
                    s.ident
                ),
                "COALESCE((options->>'notify')::bool, false)\n",
                1,
            );
    }
    if version < 32 {
        // before 32 a queue had no notify option
        body = body
            .replacen("heartbeat_seconds, notify\n", "heartbeat_seconds\n", 1)
            .replacen(
                "(options->>'heartbeatSeconds')::int,\n      COALESCE((options->>'notify')::bool, false)\n",
                "(options->>'heartbeatSeconds')::int\n",
                1,
            );
    }
    if version < 31 {
        // before 31 there were no blocked jobs to skip
        body = body.replacen(
            "INCLUDE (priority, created_on, id) WHERE state < 'active' AND NOT blocked$cmd$",
            "INCLUDE (priority, created_on, id) WHERE state < 'active'$cmd$",
            1,
        );
    }
    if version < 30 {
        // before 30 a queue had no heartbeat
        body = body
            .replacen(
                "partition, table_name,\n      heartbeat_seconds\n",
                "partition, table_name\n",
                1,
            )
            .replacen(
                "tablename,\n      (options->>'heartbeatSeconds')::int\n",
                "tablename\n",
                1,
            );
    }
    let newer: Vec<&str> = PARTITION_INDEX_SINCE
        .iter()
        .filter(|(_, since)| *since > version)
        .map(|(index, _)| *index)
        .collect();
    let mut sql = String::from("CREATE OR REPLACE ");
    for line in body["CREATE ".len()..].lines() {
        let adds_newer_index = newer
            .iter()
            .any(|index| line.contains(&format!("INDEX {index} ON")));
        // the key_strict_fifo policy itself came with 28
        let is_newer_policy = version < 28
            && (line.contains("options->>'policy' = 'key_strict_fifo'")
                || line.contains("ADD CONSTRAINT job_key_strict_fifo_singleton_key_check"));
        if !adds_newer_index && !is_newer_policy {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    sql
}

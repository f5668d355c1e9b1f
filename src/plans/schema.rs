//! Schema install and version statements. The DDL itself lives in `migrations/` as plain SQL and
//! is embedded in the binary.

use super::locked;
use crate::names::SchemaName;

/// The schema version this engine serves (pg-boss 12.38).
pub const SCHEMA_VERSION: i64 = 46;

const INSTALL_46: &str = include_str!("../../migrations/0046_install.sql");
const CREATE_SCHEMA_MARKER: &str = "-- create-schema";

/// The partitioned layout's install source, before the schema is substituted.
pub(crate) fn install_source() -> &'static str {
    INSTALL_46
}

/// The install script for `schema`, without `CREATE SCHEMA` when `create_schema` is false.
pub fn install_script(s: &SchemaName, create_schema: bool) -> String {
    render(INSTALL_46, s, create_schema)
}

/// An install source for `schema`: the `-- create-schema` statement kept or dropped, `{{schema}}`
/// replaced.
pub(crate) fn render(source: &str, s: &SchemaName, create_schema: bool) -> String {
    let mut sql = String::with_capacity(source.len() + 64);
    let mut skip_next_statement = false;
    for line in source.lines() {
        if line.trim() == CREATE_SCHEMA_MARKER {
            skip_next_statement = !create_schema;
            continue;
        }
        if skip_next_statement {
            if line.trim_end().ends_with(';') {
                skip_next_statement = false;
            }
            continue;
        }
        sql.push_str(line);
        sql.push('\n');
    }
    sql.replace("{{schema}}", &s.ident)
}

/// The whole install, under pg-boss's global install lock, as one transaction.
pub fn install(s: &SchemaName, create_schema: bool) -> String {
    locked(s, "", &[install_script(s, create_schema)])
}

/// Whether `<schema>.version` exists.
pub fn is_installed(s: &SchemaName) -> String {
    format!(
        "SELECT to_regclass({})::text",
        super::literal(&format!("{}.version", s.ident))
    )
}

pub fn version(s: &SchemaName) -> String {
    format!("SELECT version::text FROM {}.version", s.ident)
}

/// Another schema whose name differs from ours only by case and that holds a pg-boss install.
pub fn case_variant(s: &SchemaName) -> String {
    format!(
        "SELECT n.nspname::text FROM pg_namespace n
         WHERE lower(n.nspname) = lower({lit}) AND n.nspname <> {lit}
           AND to_regclass(quote_ident(n.nspname) || '.version') IS NOT NULL
         LIMIT 1",
        lit = s.resolved_literal()
    )
}

/// Everything the install creates, for a schema shared with other objects: the functions first
/// (CockroachDB records a function as depending on the tables it names), then the tables (a
/// partitioned parent takes its partitions with it), then the enum. `partitioned` is false for
/// the layouts without `job_common` and the `job_table_*` helpers (cockroachdb, yugabytedb).
pub fn uninstall(s: &SchemaName, partitioned: bool) -> String {
    let q = |name: &str| format!("{}.{name}", s.ident);
    let mut functions = vec![
        q("create_queue(text, jsonb)"),
        q("delete_queue(text)"),
        q("job_now()"),
    ];
    let mut tables: Vec<String> = [
        "bam",
        "instance",
        "job",
        "job_dependency",
        "queue",
        "queue_stats",
        "schedule",
        "subscription",
        "version",
        "warning",
    ]
    .iter()
    .map(|t| q(t))
    .collect();
    if partitioned {
        functions.extend([
            q("job_table_format(text, text)"),
            q("job_table_run(text, text, text)"),
            q("job_table_run_async(text, integer, text, text, text)"),
        ]);
        tables.insert(3, q("job_common"));
    }
    format!(
        "DROP FUNCTION IF EXISTS {};\nDROP TABLE IF EXISTS {};\nDROP TYPE IF EXISTS {};",
        functions.join(", "),
        tables.join(", "),
        q("job_state")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_script_substitutes_schema_and_can_skip_create_schema() {
        let s = SchemaName::parse("\"My Schema\"").unwrap();
        let with = install_script(&s, true);
        assert!(with.contains("CREATE SCHEMA IF NOT EXISTS \"My Schema\""));
        assert!(!with.contains("{{schema}}"));
        let without = install_script(&s, false);
        assert!(!without.contains("CREATE SCHEMA"));
        assert!(without.contains("\"My Schema\".job_state"));
    }
}

//! Schema migrations: one step per pg-boss schema version, up and down, from the oldest version
//! this engine upgrades in place to the version it serves. The transactional part of each step is
//! plain SQL in `migrations/NNNN_to_MMMM.sql`, embedded in the binary (`steps` lists them); the
//! index builds a step leaves to the background (pg-boss's BAM queue) are listed with them as
//! data, because they are rendered two ways: queued as `bam` rows when `start()` migrates, as pg-boss 12.38 queues them, or spelled
//! out after the COMMIT in an exported plan, which no BAM runner will see.

use super::{literal, locked};
use crate::names::SchemaName;
use crate::plans::schema::SCHEMA_VERSION;

mod functions;
mod steps;
pub mod v10;

use functions::{create_queue, installed_function};
use steps::STEPS;
pub use steps::{AsyncBuild, Step, Targets};

/// The oldest schema version `start()` migrates from.
pub const OLDEST_MIGRATABLE: i64 = 25;

/// The versions `start()` upgrades in place, as text for messages ("27-45").
pub fn migratable_range() -> String {
    format!("{}-{}", OLDEST_MIGRATABLE, SCHEMA_VERSION - 1)
}

/// Why there is no migration (`what`: "migration from") or rollback ("rollback of") plan for
/// `version`, as the plan functions and the CLI say it.
pub fn no_plan_message(what: &str, version: i64) -> String {
    format!(
        "Version {version} not found: pg-boss-native has no {what} schema version {version} \
         (it migrates schema versions {} in place)",
        upgradable_versions()
    )
}

/// Every version an upgrade starts from, in words: pg-boss 10's (moved to 46 by `v10`) and the
/// stepped ones.
pub fn upgradable_versions() -> String {
    format!(
        "{}-{} (pg-boss 10) and {}",
        v10::V10_VERSIONS.start(),
        v10::V10_VERSIONS.end(),
        migratable_range()
    )
}

/// A partition an exported plan aims its index builds at (12.38's `{ tableName, policy }`).
pub struct PartitionTable {
    pub table_name: String,
    pub policy: String,
}

/// A migration as two parts: the transaction, and the index builds that follow its COMMIT one
/// statement at a time (none when the builds are queued in `bam`), so a caller that runs them
/// can say which one failed and what is left.
pub struct MigrationScript {
    pub transaction: String,
    pub after_commit: Vec<String>,
}

impl MigrationScript {
    /// The whole script as one text, the builds after the COMMIT (what psql runs).
    pub fn text(&self) -> String {
        let mut sql = self.transaction.clone();
        for statement in &self.after_commit {
            sql.push('\n');
            sql.push_str(statement);
        }
        sql
    }
}

/// The transaction that takes `from` to the version this engine serves, under pg-boss's global
/// advisory lock (the key its own migrations take). It fails with `division by zero`, as
/// pg-boss's does, when the version is no longer `from` once the lock is held: someone else
/// migrated first. Index builds are queued in `bam` unless `inline` names the tables to build
/// them on, in which case they follow the COMMIT as `CREATE INDEX CONCURRENTLY` statements.
pub fn migrate(s: &SchemaName, from: i64, inline: Option<&[PartitionTable]>) -> Option<String> {
    migration(s, from, inline).map(|script| script.text())
}

/// `migrate` in its two parts.
pub fn migration(
    s: &SchemaName,
    from: i64,
    inline: Option<&[PartitionTable]>,
) -> Option<MigrationScript> {
    let steps = steps_from(from)?;
    let mut statements = vec![expect_version(s, from)];
    let mut after_commit = Vec::new();
    for step in steps {
        statements.push(render(s, step.up));
        for build in step.builds {
            let command = build.command.replace("{{schema}}", &s.ident);
            let queued = if build.padded {
                format!("\n          {command}\n          ")
            } else {
                command.clone()
            };
            match (inline, build.targets) {
                (None, Targets::Every) => statements.push(format!(
                    "SELECT {}.job_table_run_async({}, {}, $${queued}$$)",
                    s.ident,
                    literal(build.name),
                    step.to
                )),
                (None, Targets::JobCommon) => statements.push(format!(
                    "SELECT {}.job_table_run_async({}, {}, $${queued}$$, 'job_common')",
                    s.ident,
                    literal(build.name),
                    step.to
                )),
                (None, Targets::Policy(policy)) => statements.push(format!(
                    "SELECT {s_}.job_table_run_async({}, {}, $${queued}$$, target.table_name, target.queue_name)
FROM (
  SELECT 'job_common'::text AS table_name, NULL::text AS queue_name
  UNION ALL
  SELECT table_name, name FROM {s_}.queue WHERE partition AND policy = {}
) target",
                    literal(build.name),
                    step.to,
                    literal(policy),
                    s_ = s.ident
                )),
                (Some(partitions), targets) => {
                    let tables = std::iter::once("job_common").chain(
                        partitions
                            .iter()
                            .filter(|p| match targets {
                                Targets::Every => true,
                                Targets::Policy(policy) => p.policy == policy,
                                Targets::JobCommon => false,
                            })
                            .map(|p| p.table_name.as_str()),
                    );
                    for table in tables {
                        after_commit.push(format!(
                            "-- {} (schema {}), built outside the transaction\n{};",
                            build.name,
                            step.to,
                            for_table(&command, table)
                        ));
                    }
                }
            }
        }
    }
    statements.push(set_version(s, SCHEMA_VERSION));
    Some(MigrationScript {
        transaction: locked(s, "", &statements),
        after_commit,
    })
}

/// The transaction that takes `version` back to `version - 1`: the step's unfinished index
/// builds are removed from `bam` first (a pending build would otherwise recreate, later, an
/// index the rollback drops), then its down script runs.
pub fn rollback(s: &SchemaName, version: i64) -> Option<String> {
    let step = STEPS.iter().find(|step| step.to == version)?;
    let mut statements = vec![expect_version(s, version)];
    if !step.builds.is_empty() {
        statements.push(format!(
            "DELETE FROM {}.bam WHERE version = {version} AND status <> 'completed'",
            s.ident
        ));
    }
    statements.push(render(s, step.down));
    statements.push(set_version(s, version - 1));
    Some(locked(s, "", &statements))
}

/// Whether the layout is the partitioned one (the only one pg-boss-native serves).
pub fn is_partitioned(s: &SchemaName) -> String {
    format!(
        "SELECT to_regclass({})::text",
        literal(&format!("{}.job_common", s.ident))
    )
}

/// The partitioned queues' job tables, as `{ tableName, policy }` rows (JSON text, one a row),
/// which an inlined migration aims its index builds at.
pub fn partition_tables(s: &SchemaName) -> String {
    format!(
        "SELECT json_build_object('tableName', table_name, 'policy', policy)::text FROM {}.queue WHERE partition ORDER BY table_name",
        s.ident
    )
}

/// The steps from `from` up to the version served, or None when there is no path.
fn steps_from(from: i64) -> Option<&'static [Step]> {
    if !(OLDEST_MIGRATABLE..SCHEMA_VERSION).contains(&from) {
        return None;
    }
    let first = STEPS.iter().position(|step| step.to == from + 1)?;
    Some(&STEPS[first..])
}

/// Raises `division by zero` unless the recorded version is `version`.
fn expect_version(s: &SchemaName, version: i64) -> String {
    format!(
        "SELECT 1 / (CASE WHEN version = {version} THEN 1 ELSE 0 END) FROM {}.version",
        s.ident
    )
}

fn set_version(s: &SchemaName, version: i64) -> String {
    format!("UPDATE {}.version SET version = {version}", s.ident)
}

/// A step's script with the schema and the placeholders filled in: `{{create_queue_NN}}` (that
/// version's create_queue) and `{{job_now}}`, `{{job_table_format}}`, `{{job_table_run}}`,
/// `{{job_table_run_async}}` (the installed functions).
fn render(s: &SchemaName, script: &str) -> String {
    let mut sql = script.to_string();
    for version in OLDEST_MIGRATABLE..=SCHEMA_VERSION {
        let placeholder = format!("{{{{create_queue_{version}}}}}");
        if sql.contains(&placeholder) {
            sql = sql.replace(&placeholder, &create_queue(s, version));
        }
    }
    for function in [
        "job_now",
        "job_table_format",
        "job_table_run",
        "job_table_run_async",
    ] {
        let placeholder = format!("{{{{{function}}}}}");
        if sql.contains(&placeholder) {
            let definition =
                installed_function(s, function).replacen("CREATE ", "CREATE OR REPLACE ", 1);
            sql = sql.replace(&placeholder, &definition);
        }
    }
    sql.replace("{{schema}}", &s.ident)
}

/// `command` aimed at one job table, as `job_table_format()` would aim it.
fn for_table(command: &str, table: &str) -> String {
    command
        .replace(".job (", &format!(".{table} ("))
        .replace(" job_i", &format!(" {table}_i"))
        .replace(".job_i", &format!(".{table}_i"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::schema::install_script;

    fn schema() -> SchemaName {
        SchemaName::parse("upg").unwrap()
    }

    #[test]
    fn steps_cover_every_version_from_the_oldest_to_the_served_one() {
        let tos: Vec<i64> = STEPS.iter().map(|s| s.to).collect();
        let expected: Vec<i64> = (OLDEST_MIGRATABLE + 1..=SCHEMA_VERSION).collect();
        assert_eq!(tos, expected);
        assert!(migrate(&schema(), OLDEST_MIGRATABLE - 1, None).is_none());
        assert!(migrate(&schema(), SCHEMA_VERSION, None).is_none());
    }

    #[test]
    fn create_queue_of_the_served_version_is_the_installed_one() {
        let s = schema();
        let ours = create_queue(&s, SCHEMA_VERSION);
        let install = install_script(&s, false);
        assert!(install.contains(ours.trim_end().trim_start_matches("CREATE OR REPLACE ")));
        let v45 = create_queue(&s, 45);
        assert!(v45.contains("INDEX job_i13 ON") && !v45.contains("INDEX job_i14 ON"));
        let v42 = create_queue(&s, 42);
        assert!(!v42.contains("INDEX job_i12 ON") && v42.contains("INDEX job_i11 ON"));
        assert!(!v42.contains("{{"));
        assert_eq!(v42.matches("upg.job_now()").count(), 2);
        let v41 = create_queue(&s, 41);
        assert!(!v41.contains("job_now") && !v41.contains("created_on, updated_on"));
        assert!(v41.contains("COALESCE((options->>'notify')::bool, false)\n    )"));
        let v31 = create_queue(&s, 31);
        assert!(!v31.contains("notify") && !v31.contains("job_i9"));
        assert!(v31.contains("(name, start_after) INCLUDE (priority, created_on, id) WHERE"));
        assert!(create_queue(&s, 32).contains("COALESCE((options->>'notify')::bool, false)\n    )"));
        let v29 = create_queue(&s, 29);
        assert!(!v29.contains("heartbeat") && v29.contains("tablename\n    )"));
        assert!(v29.contains("INCLUDE (priority, created_on, id) WHERE state < 'active'$cmd$"));
        let v27 = create_queue(&s, 27);
        assert!(
            !v27.contains("key_strict_fifo")
                && v27.contains("policy = 'exclusive'$cmd$, tablename);\n  END IF;")
        );
        let v39 = create_queue(&s, 39);
        assert!(v39.contains("CREATE INDEX job_i5 ON upg.job (name, start_after) WHERE state < 'active' AND NOT blocked$cmd$"));
        assert!(!v39.contains("job_i11"));
        assert_eq!(
            for_table("DROP INDEX CONCURRENTLY IF EXISTS upg.job_i5", "jabc"),
            "DROP INDEX CONCURRENTLY IF EXISTS upg.jabc_i5"
        );
        let step42 = render(&s, "{{job_now}}");
        assert!(step42.starts_with("CREATE OR REPLACE FUNCTION upg.job_now()"));
        assert!(step42.trim_end().ends_with("$body$;"));
    }

    #[test]
    fn builds_are_queued_by_default_and_inlined_after_commit_for_an_export() {
        let s = schema();
        let queued = migrate(&s, 45, None).unwrap();
        assert!(queued.contains("SELECT upg.job_table_run_async('live_index_build', 46, $$CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i14 ON upg.job (name"));
        assert!(queued.trim_end().ends_with("COMMIT;"));
        let parts = [PartitionTable {
            table_name: "jabc".into(),
            policy: "standard".into(),
        }];
        let inline = migrate(&s, 45, Some(&parts)).unwrap();
        let (tx, after) = inline.split_once("COMMIT;").unwrap();
        assert!(!tx.contains("job_table_run_async"));
        assert!(after.contains(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_common_i14 ON upg.job_common (name"
        ));
        assert!(
            after.contains("CREATE INDEX CONCURRENTLY IF NOT EXISTS jabc_i17 ON upg.jabc (name")
        );
    }

    #[test]
    fn step_26_installs_its_create_queue_and_rolls_back_as_12_38_does() {
        let s = schema();
        let up = migrate(&s, 25, None).unwrap();
        let v26 = create_queue(&s, 26);
        assert!(!v26.contains("{{") && !v26.contains("job_table_format"));
        assert!(v26.contains("EXECUTE format('CREATE UNIQUE INDEX %1$s_i6 ON upg.%1$I"));
        assert!(up.contains(v26.trim()));
        assert!(up.contains("CREATE UNIQUE INDEX job_i6 ON upg.job_common (name, COALESCE(singleton_key, '')) WHERE state <= 'active' AND policy = 'exclusive';"));
        // 26's own step comes before 27's, whose create_queue replaces it
        assert!(
            up.find("upg.job_common (name, COALESCE").unwrap()
                < up.find("CREATE TABLE IF NOT EXISTS upg.bam").unwrap()
        );
        let down = rollback(&s, 26).unwrap();
        assert!(down.contains("DROP INDEX upg.job_i6;") && !down.contains("FUNCTION"));
        assert!(down.contains("UPDATE upg.version SET version = 25"));
        // 27's rollback restores the same definition 26's step installs
        assert!(rollback(&s, 27).unwrap().contains(v26.trim()));
    }

    #[test]
    fn rollback_clears_unfinished_builds_of_its_version_only() {
        let sql = rollback(&schema(), 46).unwrap();
        assert!(sql.contains("DELETE FROM upg.bam WHERE version = 46 AND status <> 'completed'"));
        assert!(sql.contains("UPDATE upg.version SET version = 45"));
        assert!(!rollback(&schema(), 44)
            .unwrap()
            .contains("DELETE FROM upg.bam"));
        assert!(rollback(&schema(), OLDEST_MIGRATABLE).is_none());
    }
}

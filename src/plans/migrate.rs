//! Schema migrations: one step per pg-boss schema version, up and down, from the oldest version
//! this engine upgrades in place to the version it serves. The transactional part of each step is
//! plain SQL in `migrations/NNNN_to_MMMM.sql`, embedded in the binary; the index builds a step
//! leaves to the background (pg-boss's BAM queue) are listed here, because they are rendered two
//! ways: queued as `bam` rows when `start()` migrates, as pg-boss 12.38 queues them, or spelled
//! out after the COMMIT in an exported plan, which no BAM runner will see.

use super::{literal, locked};
use crate::names::SchemaName;
use crate::plans::schema::{install_script, SCHEMA_VERSION};

/// The oldest schema version `start()` migrates from.
pub const OLDEST_MIGRATABLE: i64 = 27;

/// An index build a step queues instead of running in its transaction. `command` is written
/// against `{{schema}}.job` and `job_iN`; it is aimed at each job table the way pg-boss's
/// `job_table_format()` aims it (`.job` -> `.<table>`, `job_iN` -> `<table>_iN`).
pub struct AsyncBuild {
    pub name: &'static str,
    pub command: &'static str,
    pub targets: Targets,
    /// Queued as pg-boss 12.22 wrote it, the command on a line of its own (its bam rows keep that
    /// whitespace, and ours match them).
    pub padded: bool,
}

/// The job tables an [`AsyncBuild`] is queued for.
#[derive(Clone, Copy)]
pub enum Targets {
    /// job_common and every partition.
    Every,
    /// job_common (which serves every policy) and the partitions of this policy.
    Policy(&'static str),
    /// job_common alone.
    JobCommon,
}

/// Schema version `to - 1` -> `to` and back.
pub struct Step {
    pub to: i64,
    up: &'static str,
    down: &'static str,
    builds: &'static [AsyncBuild],
}

const STEPS: &[Step] = &[
    Step {
        to: 28,
        up: include_str!("../../migrations/0027_to_0028.sql"),
        down: include_str!("../../migrations/0028_to_0027.sql"),
        builds: &[AsyncBuild {
            name: "key_strict_fifo_index",
            targets: Targets::JobCommon,
            padded: true,
            command: "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS job_i8 ON {{schema}}.job (name, singleton_key) WHERE state IN ('active', 'retry', 'failed') AND policy = 'key_strict_fifo'",
        }],
    },
    Step {
        to: 29,
        up: include_str!("../../migrations/0028_to_0029.sql"),
        down: include_str!("../../migrations/0029_to_0028.sql"),
        builds: &[],
    },
    Step {
        to: 30,
        up: include_str!("../../migrations/0029_to_0030.sql"),
        down: include_str!("../../migrations/0030_to_0029.sql"),
        builds: &[],
    },
    Step {
        to: 31,
        up: include_str!("../../migrations/0030_to_0031.sql"),
        down: include_str!("../../migrations/0031_to_0030.sql"),
        builds: &[],
    },
    Step {
        to: 32,
        up: include_str!("../../migrations/0031_to_0032.sql"),
        down: include_str!("../../migrations/0032_to_0031.sql"),
        builds: &[],
    },
    Step {
        to: 33,
        up: include_str!("../../migrations/0032_to_0033.sql"),
        down: include_str!("../../migrations/0033_to_0032.sql"),
        // job_i5's drop before its rebuild: the BAM runner keeps a table's rows of one version in order
        builds: &[
            AsyncBuild {
                name: "flow_resolver_index",
                targets: Targets::Every,
                padded: true,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i9 ON {{schema}}.job (name, id) WHERE blocking AND state = 'completed'",
            },
            AsyncBuild {
                name: "fetch_index_drop",
                targets: Targets::Every,
                padded: true,
                command: "DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.job_i5",
            },
            AsyncBuild {
                name: "fetch_index",
                targets: Targets::Every,
                padded: true,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i5 ON {{schema}}.job (name, start_after) WHERE state < 'active' AND NOT blocked",
            },
        ],
    },
    Step {
        to: 34,
        up: include_str!("../../migrations/0033_to_0034.sql"),
        down: include_str!("../../migrations/0034_to_0033.sql"),
        builds: &[],
    },
    Step {
        to: 35,
        up: include_str!("../../migrations/0034_to_0035.sql"),
        down: include_str!("../../migrations/0035_to_0034.sql"),
        builds: &[],
    },
    Step {
        to: 36,
        up: include_str!("../../migrations/0035_to_0036.sql"),
        down: include_str!("../../migrations/0036_to_0035.sql"),
        builds: &[],
    },
    Step {
        to: 37,
        up: include_str!("../../migrations/0036_to_0037.sql"),
        down: include_str!("../../migrations/0037_to_0036.sql"),
        builds: &[],
    },
    Step {
        to: 38,
        up: include_str!("../../migrations/0037_to_0038.sql"),
        down: include_str!("../../migrations/0038_to_0037.sql"),
        builds: &[AsyncBuild {
            name: "key_strict_fifo_head_index",
            targets: Targets::Policy("key_strict_fifo"),
            padded: false,
            command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i10 ON {{schema}}.job (name, singleton_key, state DESC, created_on, id) INCLUDE (start_after) WHERE state < 'active' AND NOT blocked AND policy = 'key_strict_fifo'",
        }],
    },
    Step {
        to: 39,
        up: include_str!("../../migrations/0038_to_0039.sql"),
        down: include_str!("../../migrations/0039_to_0038.sql"),
        builds: &[],
    },
    Step {
        to: 40,
        up: include_str!("../../migrations/0039_to_0040.sql"),
        down: include_str!("../../migrations/0040_to_0039.sql"),
        // in this order: the BAM runner holds the retire on a table until the build there is done
        builds: &[
            AsyncBuild {
                name: "fetch_index_priority_build",
                targets: Targets::Every,
                padded: false,
                    command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i11 ON {{schema}}.job (name, priority DESC, created_on, start_after) WHERE state < 'active' AND NOT blocked",
            },
            AsyncBuild {
                name: "fetch_index_retire",
                targets: Targets::Every,
                padded: false,
                command: "DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.job_i5",
            },
        ],
    },
    Step {
        to: 41,
        up: include_str!("../../migrations/0040_to_0041.sql"),
        down: include_str!("../../migrations/0041_to_0040.sql"),
        builds: &[],
    },
    Step {
        to: 42,
        up: include_str!("../../migrations/0041_to_0042.sql"),
        down: include_str!("../../migrations/0042_to_0041.sql"),
        builds: &[],
    },
    Step {
        to: 43,
        up: include_str!("../../migrations/0042_to_0043.sql"),
        down: include_str!("../../migrations/0043_to_0042.sql"),
        builds: &[AsyncBuild {
            name: "source_root_index_build",
            targets: Targets::Every,
            padded: false,
            command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i12 ON {{schema}}.job (source_root_id) WHERE source_root_id IS NOT NULL",
        }],
    },
    Step {
        to: 44,
        up: include_str!("../../migrations/0043_to_0044.sql"),
        down: include_str!("../../migrations/0044_to_0043.sql"),
        builds: &[],
    },
    Step {
        to: 45,
        up: include_str!("../../migrations/0044_to_0045.sql"),
        down: include_str!("../../migrations/0045_to_0044.sql"),
        builds: &[AsyncBuild {
            name: "upsert_index_build",
            targets: Targets::Every,
            padded: false,
            command: "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS job_i13 ON {{schema}}.job (name, singleton_key) WHERE state = 'created' AND upsert_by_key",
        }],
    },
    Step {
        to: 46,
        up: include_str!("../../migrations/0045_to_0046.sql"),
        down: include_str!("../../migrations/0046_to_0045.sql"),
        builds: &[
            AsyncBuild {
                name: "live_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i14 ON {{schema}}.job (name, state, blocked, start_after) WHERE state IN ('created', 'retry', 'active', 'failed')",
            },
            AsyncBuild {
                name: "created_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i15 ON {{schema}}.job (name, created_on)",
            },
            AsyncBuild {
                name: "completed_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i16 ON {{schema}}.job (name, completed_on) WHERE completed_on IS NOT NULL",
            },
            AsyncBuild {
                name: "queued_key_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i17 ON {{schema}}.job (name, singleton_key, created_on) WHERE state < 'active' AND singleton_key IS NOT NULL",
            },
        ],
    },
];

/// The versions `start()` upgrades in place, as text for messages ("42-45").
pub fn migratable_range() -> String {
    format!("{}-{}", OLDEST_MIGRATABLE, SCHEMA_VERSION - 1)
}

/// A partition an exported plan aims its index builds at (12.38's `{ tableName, policy }`).
pub struct PartitionTable {
    pub table_name: String,
    pub policy: String,
}

/// The transaction that takes `from` to the version this engine serves, under pg-boss's global
/// advisory lock (the key its own migrations take). It fails with `division by zero`, as
/// pg-boss's does, when the version is no longer `from` once the lock is held: someone else
/// migrated first. Index builds are queued in `bam` unless `inline` names the tables to build
/// them on, in which case they follow the COMMIT as `CREATE INDEX CONCURRENTLY` statements.
pub fn migrate(s: &SchemaName, from: i64, inline: Option<&[PartitionTable]>) -> Option<String> {
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
    let mut sql = locked(s, "", &statements);
    for statement in after_commit {
        sql.push('\n');
        sql.push_str(&statement);
    }
    Some(sql)
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
/// version's create_queue) and `{{job_now}}` / `{{job_table_format}}` (the installed function).
fn render(s: &SchemaName, script: &str) -> String {
    let mut sql = script.to_string();
    for version in OLDEST_MIGRATABLE..=SCHEMA_VERSION {
        let placeholder = format!("{{{{create_queue_{version}}}}}");
        if sql.contains(&placeholder) {
            sql = sql.replace(&placeholder, &create_queue(s, version));
        }
    }
    for function in ["job_now", "job_table_format"] {
        let placeholder = format!("{{{{{function}}}}}");
        if sql.contains(&placeholder) {
            let definition =
                installed_function(s, function).replacen("CREATE ", "CREATE OR REPLACE ", 1);
            sql = sql.replace(&placeholder, &definition);
        }
    }
    sql.replace("{{schema}}", &s.ident)
}

/// The `CREATE FUNCTION <schema>.<name>(` statement of the install script, through its `$body$;`.
fn installed_function(s: &SchemaName, name: &str) -> String {
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

/// `create_queue()` as schema `version` (27 and up) defines it, as `CREATE OR REPLACE`. From 27
/// on the function changed by gaining index lines, in 28 by the key_strict_fifo policy, in 30 by
/// the heartbeatSeconds option, in 31 by job_i5 skipping blocked jobs, in 32 by the notify
/// option, in 33 by job_i5 losing its INCLUDE, in 40 by job_i11 replacing job_i5, and in 42 by
/// stamping the queue's created_on and updated_on with job_now(); so each version's body is the
/// install's without what came after it. One source of truth, whose tokens pg-boss's drift check
/// compares.
fn create_queue(s: &SchemaName, version: i64) -> String {
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

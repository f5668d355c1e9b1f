//! In-place upgrades of an older pg-boss schema at `start()` (the steps are in
//! `plans::migrate`). One transaction takes the schema from the version found to the version
//! served, under the advisory lock pg-boss 12.38 takes for its own migrations, so a fleet of
//! pg-boss and pg-boss-native instances starting together migrates it once: whoever gets the
//! lock second finds the version changed, its transaction fails with `division by zero` before
//! touching anything, and it carries on with what the first one left. A step that fails rolls
//! the whole transaction back and leaves the old schema as it was. The CLI's `migrate` runs the
//! same upgrade with the index builds after the COMMIT instead of queued (`Engine::upgrade`).

use crate::engine::Engine;
use crate::error::{BossError, Result};
use crate::names::SchemaName;
use crate::plans;
use crate::plans::migrate::{MigrationScript, PartitionTable};
use crate::plans::schema::SCHEMA_VERSION;

pub mod v10;

/// What pg-boss's migration race check raises (ours raises the same).
const MIGRATE_RACE_MESSAGE: &str = "division by zero";

/// The one place that decides how a schema at `from` reaches the version served: the plan of
/// each supported starting version, or the error that says what to do instead. `start()` and
/// the CLI's `migrate` both ask here, after sending pg-boss 10's versions (21-24) to `v10`,
/// whose upgrade is not one script but a move in batches.
pub fn upgrade_plan(
    schema: &SchemaName,
    from: i64,
    inline: Option<&[PartitionTable]>,
) -> Result<MigrationScript> {
    plans::migrate::migration(schema, from, inline).ok_or_else(|| {
        BossError::operational(format!(
            "pg-boss-native serves pg-boss schema version {SCHEMA_VERSION}, but schema {} is at version {from}. \
             pg-boss-native upgrades schema versions {} in place, and no pg-boss release \
             migrates this one (pg-boss 10 was the first to upgrade in place): install a new schema \
             and move its jobs over.",
            schema.ident,
            plans::migrate::upgradable_versions()
        ))
    })
}

/// What an upgrade that builds its indexes itself (the CLI's `migrate`) left: the version
/// reached, and the first index build that failed with the ones after it, not attempted.
pub struct Upgraded {
    pub failed_build: Option<(String, Vec<String>)>,
}

impl Engine {
    /// Upgrade the schema from `from` (older than the version served), queueing its index builds
    /// in `bam` for the runner. Ok when the schema is at the served version afterwards, whoever
    /// migrated it.
    pub(crate) async fn migrate_schema(&self, from: i64) -> Result<()> {
        self.upgrade(from, false).await.map(|_| ())
    }

    /// Upgrade from `from`; with `build_indexes` the index builds run here after the COMMIT, one
    /// statement at a time, on job_common and every partitioned queue's table (nothing would run
    /// them from `bam` for a process that exits), as pg-boss 12.38's CLI does.
    pub async fn upgrade(&self, from: i64, build_indexes: bool) -> Result<Upgraded> {
        let schema = &self.config.schema;
        // the version decides first, so an unsupported one is refused with what to do
        upgrade_plan(schema, from, None)?;
        let db = self.instance_db()?;
        let partitioned = self
            .query(&db, &plans::migrate::is_partitioned(schema), &[])
            .await?;
        if partitioned.is_empty() {
            return Err(BossError::operational(format!(
                "schema {} is at version {from} in pg-boss's unpartitioned layout (noTablePartitioning), \
                 which pg-boss-native serves at version {SCHEMA_VERSION} but does not migrate: \
                 upgrade it once with pg-boss 12.38, then start pg-boss-native",
                schema.ident
            )));
        }
        let partitions = if build_indexes {
            let rows = self
                .query(&db, &plans::migrate::partition_tables(schema), &[])
                .await?;
            let mut partitions = Vec::with_capacity(rows.len());
            for row in rows {
                let row: serde_json::Value = serde_json::from_str(&row)?;
                let field = |key: &str| {
                    row.get(key)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string()
                };
                partitions.push(PartitionTable {
                    table_name: field("tableName"),
                    policy: field("policy"),
                });
            }
            Some(partitions)
        } else {
            None
        };
        let script = upgrade_plan(schema, from, partitions.as_deref())?;
        match db.batch(&script.transaction).await {
            Ok(()) => {}
            Err(err) if err.message.contains(MIGRATE_RACE_MESSAGE) => {
                // Someone migrated first; what they left decides.
                return match self.schema_version().await? {
                    Some(v) if v == SCHEMA_VERSION => Ok(Upgraded { failed_build: None }),
                    Some(v) => Err(BossError::operational(format!(
                        "schema {} changed from version {from} to {v} while pg-boss-native was migrating it; start again",
                        schema.ident
                    ))),
                    None => Err(err),
                };
            }
            Err(err) => return Err(err),
        }
        // CREATE INDEX CONCURRENTLY cannot run in a transaction block: one statement per batch
        for (i, statement) in script.after_commit.iter().enumerate() {
            if let Err(err) = db.batch(statement).await {
                return Ok(Upgraded {
                    failed_build: Some((err.message, script.after_commit[i..].to_vec())),
                });
            }
        }
        Ok(Upgraded { failed_build: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_plan_refuses_versions_without_a_path_and_splits_inline_builds() {
        let s = SchemaName::parse("upg").unwrap();
        // older than pg-boss 10: no release has a path
        let err = upgrade_plan(&s, 20, None).err().unwrap();
        assert!(err.message.contains("schema upg is at version 20"));
        assert!(err.message.contains("21-24 (pg-boss 10) and 25-45"));
        assert!(err.message.contains("no pg-boss release migrates this one"));
        assert!(upgrade_plan(&s, 25, None).is_ok());
        assert!(upgrade_plan(&s, SCHEMA_VERSION, None).is_err());

        let queued = upgrade_plan(&s, 45, None).unwrap();
        assert!(queued.after_commit.is_empty());
        assert!(queued.transaction.contains("job_table_run_async"));

        let parts = [PartitionTable {
            table_name: "jabc".into(),
            policy: "standard".into(),
        }];
        let inline = upgrade_plan(&s, 45, Some(&parts)).unwrap();
        assert!(inline.transaction.trim_end().ends_with("COMMIT;"));
        assert!(!inline.transaction.contains("job_table_run_async"));
        // one statement each, so each runs outside a transaction block
        assert!(!inline.after_commit.is_empty());
        for statement in &inline.after_commit {
            assert_eq!(statement.matches(';').count(), 1, "{statement}");
            assert!(statement.contains("CONCURRENTLY"));
        }
        assert!(inline.after_commit.iter().any(|c| c.contains("upg.jabc (")));
        assert_eq!(
            inline.text(),
            plans::migrate::migrate(&s, 45, Some(&parts)).unwrap()
        );
    }
}

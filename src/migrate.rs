//! In-place upgrades of an older pg-boss schema at `start()` (the steps are in
//! `plans::migrate`). One transaction takes the schema from the version found to the version
//! served, under the advisory lock pg-boss 12.38 takes for its own migrations, so a fleet of
//! pg-boss and pg-boss-native instances starting together migrates it once: whoever gets the
//! lock second finds the version changed, its transaction fails with `division by zero` before
//! touching anything, and it carries on with what the first one left. A step that fails rolls
//! the whole transaction back and leaves the old schema as it was.

use crate::engine::Engine;
use crate::error::{BossError, Result};
use crate::plans;
use crate::plans::migrate::migratable_range;
use crate::plans::schema::SCHEMA_VERSION;

/// What pg-boss's migration race check raises (ours raises the same).
const MIGRATE_RACE_MESSAGE: &str = "division by zero";

impl Engine {
    /// Upgrade the schema from `from` (older than the version served). Ok when the schema is at
    /// the served version afterwards, whoever migrated it.
    pub(crate) async fn migrate_schema(&self, from: i64) -> Result<()> {
        let schema = &self.config.schema;
        let Some(script) = plans::migrate::migrate(schema, from, None) else {
            return Err(BossError::operational(format!(
                "pg-boss-native serves pg-boss schema version {SCHEMA_VERSION}, but schema {} is at version {from}. \
                 pg-boss-native upgrades schema versions {} in place; this one is not supported yet: \
                 upgrade it once with pg-boss 12.38 (start it with migrate: true, or run `npx pg-boss@12.38.0 migrate`), \
                 then start pg-boss-native.",
                schema.ident,
                migratable_range()
            )));
        };
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
        match db.batch(&script).await {
            Ok(()) => Ok(()),
            Err(err) if err.message.contains(MIGRATE_RACE_MESSAGE) => {
                // Someone migrated first; what they left decides.
                match self.schema_version().await? {
                    Some(v) if v == SCHEMA_VERSION => Ok(()),
                    Some(v) => Err(BossError::operational(format!(
                        "schema {} changed from version {from} to {v} while pg-boss-native was migrating it; start again",
                        schema.ident
                    ))),
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }
}

//! The schema `start()` finds: whether it is installed and at which version, and what start does
//! about it (install, upgrade in place, or refuse with what was found and what to do).

use super::Engine;
use crate::error::{ensure, BossError, Result};
use crate::plans;

impl Engine {
    pub async fn is_installed(&self) -> Result<bool> {
        let db = self.instance_db()?;
        let rows = self
            .query(&db, &plans::schema::is_installed(&self.config.schema), &[])
            .await?;
        Ok(!rows.is_empty())
    }

    pub async fn schema_version(&self) -> Result<Option<i64>> {
        let db = self.instance_db()?;
        if !self.is_installed().await? {
            return Ok(None);
        }
        let rows = self
            .query(&db, &plans::schema::version(&self.config.schema), &[])
            .await?;
        Ok(rows.first().and_then(|v| v.parse().ok()))
    }

    /// Install schema 46 when missing; upgrade an older one in place (`migrate.rs`); refuse, with
    /// what was found and what to do, a schema this engine cannot serve. With `migrate: false` only check, as pg-boss does.
    pub(super) async fn ensure_schema(&self) -> Result<()> {
        let target = plans::schema::SCHEMA_VERSION;
        let schema = &self.config.schema;
        let installed = self.is_installed().await?;
        if !self.config.migrate {
            if !installed {
                return Err(BossError::operational("pg-boss is not installed"));
            }
            let version = self.schema_version().await?;
            ensure(version == Some(target), "")
                .map_err(|_| BossError::operational("pg-boss database requires migrations"))?;
            return Ok(());
        }
        if !installed {
            self.assert_no_case_variant().await?;
            let db = self.instance_db()?;
            let script = plans::schema_flat::install_for(
                schema,
                self.config.create_schema,
                self.config.profile(),
            );
            if let Err(err) = db.batch(&script).await {
                // Another process (ours or pg-boss's) won the install race: under the same lock,
                // or, without advisory locks, by committing first, which fails ours on the
                // catalog's unique keys. Either way the winner's schema is there.
                if !err.message.contains("already exists")
                    && self.schema_version().await.ok().flatten() != Some(target)
                {
                    return Err(err);
                }
            }
            return Ok(());
        }
        match self.schema_version().await? {
            // a v10 upgrade interrupted part way carries on where it stopped
            Some(v) if v == target && self.v10_upgrade_pending().await? => {
                self.upgrade_v10_at_start().await
            }
            Some(v) if v == target => Ok(()),
            Some(v) if plans::migrate::v10::V10_VERSIONS.contains(&v) => {
                self.upgrade_v10_at_start().await
            }
            Some(v) if v > target => Err(BossError::operational(format!(
                "pg-boss-native serves pg-boss schema version {target}, but schema {} is at version {v}, \
                 which a newer pg-boss installed. Upgrade pg-boss-native to a release for schema {v}, \
                 or point it at another schema.",
                schema.ident
            ))),
            Some(v) => self.migrate_schema(v).await,
            None => Err(BossError::operational(format!(
                "schema {} has a version table without a version row; it cannot be served",
                schema.ident
            ))),
        }
    }

    async fn assert_no_case_variant(&self) -> Result<()> {
        if self.config.allow_schema_case_variant {
            return Ok(());
        }
        let db = self.instance_db()?;
        // A probe that cannot run is not evidence of a problem, as in pg-boss.
        let variants = match self
            .query(&db, &plans::schema::case_variant(&self.config.schema), &[])
            .await
        {
            Ok(v) => v,
            Err(_) => return Ok(()),
        };
        if variants.is_empty() {
            return Ok(());
        }
        let bare_lower = |n: &str| {
            n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let spellings: Vec<String> = variants
            .iter()
            .map(|n| {
                if bare_lower(n) {
                    format!("'{n}'")
                } else {
                    format!("'\"{n}\"'")
                }
            })
            .collect();
        let quoted: Vec<String> = variants.iter().map(|n| format!("\"{n}\"")).collect();
        Err(BossError::operational(format!(
            "pg-boss is not installed in schema {}, but is installed in {}, which differs only in case. \
             PostgreSQL folds unquoted names to lower case and stores quoted names verbatim, so these are different schemas. \
             To use the existing installation, set schema: {}. \
             To install a new schema beside it anyway, set allowSchemaCaseVariant: true.",
            self.config.schema.ident,
            quoted.join(", "),
            spellings.join(" or ")
        )))
    }
}

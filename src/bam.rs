//! pg-boss's asynchronous index builds ("BAM"), as far as pg-boss-native serves them: the reads
//! (`getBamStatus()`, `getBamEntries()`) of what pg-boss recorded. Running the builds is not
//! implemented yet (README "Not yet").

use crate::db::Param;
use crate::engine::Engine;
use crate::error::{ensure, Result};
use crate::js::Object;
use crate::plans::bam as sql;

impl Engine {
    /// `getBamStatus()`: rows as JSON text (an array).
    pub async fn get_bam_status(&self) -> Result<String> {
        let db = self.instance_db()?;
        let rows = self
            .query(&db, &sql::status(&self.config.schema), &[])
            .await?;
        Ok(format!("[{}]", rows.join(",")))
    }

    /// `getBamEntries({ limit, after })`: rows as JSON text (an array).
    pub async fn get_bam_entries(&self, options: &Object) -> Result<String> {
        let limit = crate::queues::list_limit("getBamEntries", options.get("limit"))?;
        let after = crate::queues::list_after("getBamEntries", options.get("after"))?;
        if let Some(after) = &after {
            ensure(
                crate::jobs::is_uuid(after),
                "getBamEntries: after must be a uuid",
            )?;
        }
        let db = self.instance_db()?;
        let schema = &self.config.schema;
        let params: Vec<Param> = match &after {
            Some(a) => vec![Some(a.clone()), Some(limit.to_string())],
            None => vec![Some(limit.to_string())],
        };
        let rows = self
            .query(&db, &sql::entries(schema, after.is_some()), &params)
            .await?;
        if rows.is_empty() {
            if let Some(a) = after {
                let found = self
                    .query(&db, &sql::entry_exists(schema), &[Some(a)])
                    .await?;
                ensure(
                    !found.is_empty(),
                    "getBamEntries: after names a row that no longer exists",
                )?;
            }
        }
        Ok(format!("[{}]", rows.join(",")))
    }
}

//! pg-boss's asynchronous index builds ("BAM"): the reads (`getBamStatus()`, `getBamEntries()`)
//! here, and the runner that claims and runs the queued builds (`runner`).

mod runner;

pub use runner::BamRunner;

use crate::engine::Engine;
use crate::error::Result;
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
        let schema = &self.config.schema;
        self.read_page_by_id(
            "getBamEntries",
            options,
            |after| sql::entries(schema, after),
            sql::entry_exists(schema),
        )
        .await
    }
}

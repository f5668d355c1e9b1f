//! `detectSchemaDrift()`: the live catalog of the schema against schema 46 as our install
//! creates it, reported in pg-boss 12.38's `SchemaDriftReport` shape. Read-only.
//!
//! - `expected`: schema 46 as data (`schema46.json` and `schema46_flat.json`, read from our
//!   install SQL of each layout), for one schema name and its partitioned queues;
//! - `report`: the comparison and the report types;
//! - `text`: reading and normalising Postgres's renderings of indexes, functions and defaults.
//!
//! The layout (partitioned or not) and the partitioned queues are read from the database, not
//! from the configuration, as pg-boss does.

mod expected;
mod report;
mod text;

use crate::engine::Engine;
use crate::error::Result;
use crate::js::{self, Object};
use crate::plans;
use expected::{Expected, Partition};
use report::{DriftInputs, LiveColumn, LiveConstraint, LiveFunction, LiveIndex};
use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Deserialize)]
struct Layout {
    partitioned: bool,
}

#[derive(Deserialize)]
struct Catalog {
    indexes: Vec<LiveIndex>,
    tables: Vec<String>,
    columns: Vec<LiveColumn>,
    constraints: Vec<LiveConstraint>,
    states: Vec<String>,
}

impl Engine {
    /// One JSON document from `sql`.
    async fn drift_read<T: DeserializeOwned>(&self, sql: &str) -> Result<T> {
        let db = self.instance_db()?;
        let rows = self.query(&db, sql, &[]).await?;
        let text = rows.into_iter().next().unwrap_or_else(|| "null".into());
        Ok(serde_json::from_str(&text)?)
    }

    /// `detectSchemaDrift()`; `clockOverride` says this instance's TestClock holds job_now().
    pub async fn detect_schema_drift(&self, options: &Object) -> Result<String> {
        let s = &self.config.schema;
        let layout: Layout = self.drift_read(&plans::drift::layout(s)).await?;
        let partitions: Vec<Partition> = if layout.partitioned {
            self.drift_read(&plans::drift::partitions(s)).await?
        } else {
            Vec::new()
        };
        let catalog: Catalog = self.drift_read(&plans::drift::catalog(s)).await?;
        // best-effort, as pg-boss: no bam table (or a refused function read) skips that part
        let builds: Vec<String> = self
            .drift_read(&plans::drift::incomplete_builds(s))
            .await
            .unwrap_or_default();
        let functions: Option<Vec<LiveFunction>> =
            self.drift_read(&plans::drift::functions(s)).await.ok();

        // CockroachDB renders types, defaults, constraints, index and function text its own way:
        // there only presence is compared, as pg-boss does
        let canonical = self.config.backend != "cockroachdb";
        let expected = Expected::new(&s.ident, layout.partitioned);
        let clock =
            js::truthy(options.get("clockOverride")).then(|| plans::clock::override_body(s));
        let mut expected_indexes = expected.indexes(&partitions);
        if !canonical {
            // that profile builds its indexes without INCLUDE payloads on purpose
            for index in &mut expected_indexes {
                index.include.clear();
            }
        }
        let report = report::compute(DriftInputs {
            expected_indexes,
            live_indexes: &catalog.indexes,
            building: builds
                .iter()
                .filter_map(|c| text::command_index_name(c))
                .collect(),
            presence_only: !canonical,
            expected_tables: expected.tables(&partitions),
            live_tables: catalog.tables,
            functions: functions
                .as_deref()
                .map(|live| (expected.functions(clock.as_deref()), live)),
            columns: Some((expected.columns(&partitions, canonical), &catalog.columns)),
            constraints: canonical.then(|| (expected.constraints(), &catalog.constraints[..])),
            states: Some((expected.states(), catalog.states)),
        });
        Ok(serde_json::to_string(&report)?)
    }
}

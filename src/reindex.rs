//! `getReindexCommands(options)`: the `REINDEX INDEX CONCURRENTLY` statements that would rebuild
//! the bloated job indexes (every job index with `force`), after `DROP INDEX CONCURRENTLY` for the
//! stubs an interrupted rebuild left, as pg-boss 12.38 lists them. The statements are for an
//! operator to run; the engine does not run them (see README).

use crate::engine::Engine;
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::plans;
use crate::plans::reindex::BloatThresholds;
use serde_json::Value;

/// A threshold option: absent or null takes the default, anything else must be a finite number
/// of at least 0 (the value is inlined into the statement).
fn threshold(options: &Object, key: &str, default: f64) -> Result<f64> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) if js::is_undefined(Some(v)) => Ok(default),
        Some(v) => {
            let n = v.as_f64().filter(|n| n.is_finite() && *n >= 0.0);
            ensure(
                n.is_some(),
                format!("configuration assert: reindex.{key} must be a finite number >= 0"),
            )?;
            Ok(n.unwrap_or(default))
        }
    }
}

fn thresholds(options: &Object) -> Result<BloatThresholds> {
    let d = BloatThresholds::default();
    Ok(BloatThresholds {
        min_pages: threshold(options, "minPages", d.min_pages)?,
        max_entries_per_page: threshold(options, "maxEntriesPerPage", d.max_entries_per_page)?,
        min_size_ratio: threshold(options, "minSizeRatio", d.min_size_ratio)?,
    })
}

impl Engine {
    /// `getReindexCommands({ force, minPages, maxEntriesPerPage, minSizeRatio, maxIndexBytes })`.
    pub async fn get_reindex_commands(&self, options: &Object) -> Result<Vec<String>> {
        // engines without heap page bloat, where the statistics read cannot run (or reads zeroes)
        if matches!(self.config.backend.as_str(), "cockroachdb" | "yugabytedb") {
            return Ok(Vec::new());
        }
        let s = &self.config.schema;
        let filter = if js::truthy(options.get("force")) {
            None
        } else {
            Some(thresholds(options)?)
        };
        let db = self.instance_db()?;
        let rows = self
            .query(&db, &plans::reindex::targets(s, filter), &[])
            .await?;
        let max_bytes = options
            .get("maxIndexBytes")
            .filter(|v| !js::is_undefined(Some(v)));
        let targets: Vec<String> = rows
            .iter()
            .filter_map(|row| row.rsplit_once('|'))
            .filter(|(_, bytes)| match max_bytes {
                None => true,
                Some(max) => bytes.parse::<f64>().unwrap_or(f64::NAN) <= js::to_number(max),
            })
            .map(|(name, _)| name.to_string())
            .collect();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let leftovers = self.query(&db, &plans::reindex::leftovers(s), &[]).await?;
        Ok(plans::reindex::commands(s, &leftovers, &targets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds_take_defaults_and_refuse_what_cannot_be_inlined() {
        let o = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            thresholds(&o(json!({}))).unwrap(),
            BloatThresholds::default()
        );
        assert_eq!(
            thresholds(&o(json!({ "minPages": 0, "minSizeRatio": null })))
                .unwrap()
                .min_pages,
            0.0
        );
        for bad in [json!(-1), json!("5"), json!(true)] {
            assert_eq!(
                thresholds(&o(json!({ "maxEntriesPerPage": bad })))
                    .unwrap_err()
                    .message,
                "configuration assert: reindex.maxEntriesPerPage must be a finite number >= 0"
            );
        }
    }

    #[test]
    fn stubs_are_dropped_before_the_rebuilds_and_names_are_quoted() {
        let s = crate::names::SchemaName::parse("pgboss").unwrap();
        assert_eq!(
            plans::reindex::commands(
                &s,
                &["job_i1_ccnew".into()],
                &["job_i1".into(), "a\"b".into()]
            ),
            [
                "DROP INDEX CONCURRENTLY IF EXISTS pgboss.\"job_i1_ccnew\"",
                "REINDEX INDEX CONCURRENTLY pgboss.\"job_i1\"",
                "REINDEX INDEX CONCURRENTLY pgboss.\"a\"\"b\""
            ]
        );
    }
}

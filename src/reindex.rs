//! Job index bloat. `getReindexCommands(options)` lists the `REINDEX INDEX CONCURRENTLY`
//! statements that would rebuild the bloated job indexes (every job index with `force`), after
//! `DROP INDEX CONCURRENTLY` for the stubs an interrupted rebuild left, for an operator to run.
//! The supervise pass (`reindex` option, on by default) runs them itself at most once per
//! `reindexIntervalSeconds` across the cluster (the `reindex_on` claim, as pg-boss 12.38), and
//! reports each bloated index it could not rebuild once per episode (`index_bloat` warning).

use crate::config::ReindexSetting;
use crate::engine::Engine;
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::plans;
use crate::plans::reindex::BloatThresholds;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// 2 GB: a larger index is left to an operator who has chosen the moment (12.38's default).
const MAX_INDEX_BYTES: f64 = 2.0 * 1024.0 * 1024.0 * 1024.0;
/// SQLSTATE 25001: REINDEX CONCURRENTLY inside a transaction block, which a caller's `db` that
/// wraps every statement in one causes. A property of the adapter, so rebuilds stop for good.
const IN_TRANSACTION: &str = "25001";

/// What the reindex pass remembers between passes.
#[derive(Debug, Default)]
pub struct ReindexState {
    inner: std::sync::Mutex<ReindexMemory>,
}

#[derive(Debug, Default)]
struct ReindexMemory {
    /// Bloated indexes already warned about; one leaves as soon as it stops qualifying.
    warned: HashSet<String>,
    /// Why rebuilds are impossible on this connection (see `IN_TRANSACTION`).
    unavailable: Option<String>,
    /// The next detection-only pass (those leave the shared claim to an instance that rebuilds).
    detect_only_after: Option<Instant>,
}

/// The pass's settings: the constructor's, or a `supervise(name, { reindex })` call's.
#[derive(Debug, Clone, Copy)]
struct PassSetting {
    thresholds: BloatThresholds,
    max_index_bytes: f64,
    force: bool,
}

fn from_config(setting: &ReindexSetting) -> PassSetting {
    let d = BloatThresholds::default();
    PassSetting {
        thresholds: BloatThresholds {
            min_pages: setting.min_pages.unwrap_or(d.min_pages),
            max_entries_per_page: setting
                .max_entries_per_page
                .unwrap_or(d.max_entries_per_page),
            min_size_ratio: setting.min_size_ratio.unwrap_or(d.min_size_ratio),
        },
        max_index_bytes: setting.max_index_bytes.unwrap_or(MAX_INDEX_BYTES),
        force: false,
    }
}

/// A supervise call's `reindex` option, as 12.38 resolves it: `false` (or null) detects only,
/// `true`, `undefined` or another value rebuilds with the defaults, an object with its thresholds
/// (checked as `getReindexCommands` checks them).
fn per_call(value: &Value) -> Result<Option<PassSetting>> {
    match value {
        // null is no setting to rebuild with: detection only, as in 12.38
        Value::Bool(false) | Value::Null => Ok(None),
        Value::Object(o) => Ok(Some(PassSetting {
            thresholds: thresholds(o)?,
            max_index_bytes: o
                .get("maxIndexBytes")
                .and_then(Value::as_f64)
                .unwrap_or(MAX_INDEX_BYTES),
            force: js::truthy(o.get("force")),
        })),
        _ => Ok(Some(from_config(&ReindexSetting::default()))),
    }
}

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

pub fn thresholds(options: &Object) -> Result<BloatThresholds> {
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
        let mut targets = Vec::new();
        for row in rows {
            let index: Value = serde_json::from_str(&row)?;
            let fits = match max_bytes {
                None => true,
                Some(max) => number(&index, "bytes") <= js::to_number(max),
            };
            if fits {
                targets.push(name_of(&index));
            }
        }
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let leftovers = self.query(&db, &plans::reindex::leftovers(s), &[]).await?;
        Ok(plans::reindex::commands(s, &leftovers, &targets))
    }
}

fn number(row: &Value, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn name_of(row: &Value) -> String {
    row.get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Engine {
    /// The reindex step at the end of a supervise pass over `tables` (all job tables when empty).
    pub(crate) async fn reindex_pass(&self, tables: &[String], options: &Object) -> Result<()> {
        if matches!(self.config.backend.as_str(), "cockroachdb" | "yugabytedb") {
            return Ok(());
        }
        let setting = match options.get("reindex") {
            Some(v) => per_call(v)?,
            None => self.config.reindex.as_ref().map(from_config),
        };
        let detection = setting.unwrap_or_else(|| from_config(&ReindexSetting::default()));
        let unavailable = self.reindex.memory(|m| m.unavailable.clone());
        let rebuilding = setting.is_some() && unavailable.is_none();
        let s = &self.config.schema;
        if !detection.force {
            if rebuilding {
                let claim = plans::reindex::claim_reindex(s, self.config.reindex_interval_seconds);
                if self.timed(&claim, &[]).await?.is_empty() {
                    return Ok(());
                }
            } else {
                let now = Instant::now();
                let interval = Duration::from_secs_f64(self.config.reindex_interval_seconds);
                let due = self.reindex.memory(|m| {
                    let due = m.detect_only_after.is_none_or(|t| now >= t);
                    if due {
                        m.detect_only_after = Some(now + interval);
                    }
                    due
                });
                if !due {
                    return Ok(());
                }
            }
        }
        let scope = (!tables.is_empty()).then(|| json!(tables).to_string());
        let bloated = self
            .job_index_rows(scope.as_deref(), Some(detection.thresholds))
            .await?;
        let mut rebuilt = HashSet::new();
        let mut failed: HashMap<String, String> = HashMap::new();
        if rebuilding {
            let candidates = if detection.force {
                self.job_index_rows(scope.as_deref(), None).await?
            } else {
                bloated.clone()
            };
            let targets: Vec<String> = candidates
                .iter()
                .filter(|i| i.get("owned") == Some(&Value::Bool(true)))
                .filter(|i| number(i, "bytes") <= detection.max_index_bytes)
                .map(name_of)
                .collect();
            if !targets.is_empty() {
                self.drop_reindex_leftovers().await;
            }
            let db = self.instance_db()?;
            for target in targets {
                if self.lifecycle() == crate::engine::Lifecycle::Stopped {
                    return Ok(());
                }
                // DDL, outside the slow-query stopwatch: a rebuild is expected to take seconds
                match db.batch(&plans::reindex::reindex_index(s, &target)).await {
                    Ok(()) => {
                        rebuilt.insert(target);
                    }
                    Err(err) if err.sqlstate() == Some(IN_TRANSACTION) => {
                        self.reindex
                            .memory(|m| m.unavailable = Some(err.message.clone()));
                        failed.insert(target, err.message);
                        break;
                    }
                    Err(err) => {
                        failed.insert(target, err.message);
                    }
                }
            }
        }
        self.warn_index_bloat(&bloated, &rebuilt, &failed, rebuilding)
            .await;
        Ok(())
    }

    /// The job indexes (of the tables in `scope`, a JSON array, or all), bloated ones only with
    /// `thresholds`.
    async fn job_index_rows(
        &self,
        scope: Option<&str>,
        thresholds: Option<BloatThresholds>,
    ) -> Result<Vec<Value>> {
        let s = &self.config.schema;
        let rows = match scope {
            Some(tables) => {
                self.timed(
                    &plans::reindex::targets_in(s, thresholds),
                    &[Some(tables.to_string())],
                )
                .await?
            }
            None => {
                self.timed(&plans::reindex::targets(s, thresholds), &[])
                    .await?
            }
        };
        rows.iter()
            .map(|r| Ok(serde_json::from_str::<Value>(r)?))
            .collect()
    }

    /// Invalid stubs of interrupted rebuilds, dropped before new rebuilds; best effort.
    async fn drop_reindex_leftovers(&self) {
        let s = &self.config.schema;
        let dropped = async {
            let db = self.instance_db()?;
            for stub in self.timed(&plans::reindex::owned_leftovers(s), &[]).await? {
                db.batch(&plans::reindex::drop_index(s, &stub)).await?;
            }
            Ok::<(), crate::error::BossError>(())
        }
        .await;
        if let Err(err) = dropped {
            self.emit(crate::engine::EngineEvent::Error(err));
        }
    }

    async fn warn_index_bloat(
        &self,
        bloated: &[Value],
        rebuilt: &HashSet<String>,
        failed: &HashMap<String, String>,
        rebuilding: bool,
    ) {
        let (warned, unavailable) = self
            .reindex
            .memory(|m| (m.warned.clone(), m.unavailable.clone()));
        let mut still = HashSet::new();
        for index in bloated {
            let name = name_of(index);
            if rebuilt.contains(&name) {
                continue;
            }
            still.insert(name.clone());
            if warned.contains(&name) {
                continue;
            }
            let reason = match failed.get(&name) {
                Some(why) => why.clone(),
                None if index.get("owned") != Some(&Value::Bool(true)) => {
                    "the connected role does not own the index".to_string()
                }
                None => match &unavailable {
                    Some(why) => why.clone(),
                    None if !rebuilding => "automatic reindexing is disabled".to_string(),
                    None => "the index is larger than maxIndexBytes".to_string(),
                },
            };
            let megabytes = (number(index, "bytes") / 1024.0 / 1024.0).round();
            let message = format!(
                "Warning: index \"{name}\" is bloated ({megabytes} MB across {} pages for ~{} live entries) and was not rebuilt: {reason}. See getReindexCommands()",
                number(index, "pages"),
                number(index, "entries"),
            );
            self.warn("index_bloat", message, index.clone()).await;
        }
        self.reindex.memory(|m| m.warned = still);
    }
}

impl ReindexState {
    fn memory<T>(&self, f: impl FnOnce(&mut ReindexMemory) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
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

//! Vacuum health (`monitorVacuum`, on by default): after each supervise pass, whether the job
//! tables are producing garbage nothing reclaims, in pg-boss 12.38's two diagnoses.
//!
//! - `xmin_horizon`: a vacuum ran and the dead tuples did not fall, so something pins the MVCC
//!   horizon; the warning names the holder (a backend, replication slot, standby or prepared
//!   transaction).
//! - `autovacuum_disabled`: autovacuum is off on the table, no vacuum ran and the dead tuples grew.
//!
//! Both start from a table past the point PostgreSQL would vacuum it (threshold + scale factor ×
//! live tuples, the table's own storage parameters first) and need two passes of evidence, so the
//! first pass of an episode never warns; each warns once per episode.
//!
//! `monitorVacuum` also governs the monitor backoff (`monitor_backoff`): the stats counts hold the
//! horizon while they scan, so a pass that held it too long defers the next counts.

use crate::engine::Engine;
use crate::error::Result;
use crate::plans::monitor as sql;
use serde_json::{json, Value};
use std::collections::HashMap;

const XMIN_MESSAGE: &str =
    "Warning: the database transaction horizon is pinned, so completed jobs cannot be cleaned up";
const AUTOVACUUM_MESSAGE: &str =
    "Warning: autovacuum is disabled, so nothing is reclaiming completed jobs";
const BACKOFF_MESSAGE: &str = "Warning: queue monitoring spent long enough scanning the job table to risk holding back autovacuum, so the next stats refresh is deferred";

/// What the checks remember between passes.
#[derive(Debug, Default)]
pub struct VacuumState {
    inner: std::sync::Mutex<VacuumMemory>,
}

#[derive(Debug, Default)]
struct VacuumMemory {
    /// Per table over budget: the dead tuples and last vacuum seen on the previous pass.
    evidence: HashMap<String, (f64, f64)>,
    warned_xmin: bool,
    warned_autovacuum: bool,
    /// The horizon sources this role can read, once a combined read failed.
    readable: Option<Vec<&'static str>>,
    /// Seconds this pass's stats counts held the horizon, summed over tables and chunks (each
    /// re-reads the table, and the total is what starves autovacuum).
    pinned_seconds: f64,
}

impl VacuumState {
    fn memory<T>(&self, f: impl FnOnce(&mut VacuumMemory) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// A stats count of this pass held the horizon `seconds`.
    pub fn add_pinned(&self, seconds: f64) {
        self.memory(|m| m.pinned_seconds += seconds)
    }
}

/// A table over its vacuum budget on two consecutive passes.
#[derive(Debug, Clone)]
struct Garbage {
    name: String,
    live: f64,
    dead: f64,
    budget: f64,
    vacuum_age_seconds: Value,
    last_vacuum: f64,
}

fn holder_class(source: &str) -> &'static str {
    match source {
        "backends" => "a backend holding an open transaction",
        "slots" => "a replication slot",
        "slotsCatalog" => "a replication slot (catalog xmin)",
        "standbys" => "a standby with hot_standby_feedback enabled",
        _ => "a prepared transaction",
    }
}

/// pg-boss names its pools `pgboss` or `pgboss:<instance id>`.
fn is_pgboss_name(name: &str) -> bool {
    name == "pgboss" || name.starts_with("pgboss:")
}

fn is_pgboss_holder(app: Option<&str>, own: Option<&str>) -> bool {
    match (app, own) {
        (None, _) | (Some(""), _) => false,
        (Some(app), Some(own)) if app == own => true,
        (Some(app), own) => is_pgboss_name(app) && own.is_some_and(is_pgboss_name),
    }
}

fn describe_holder(source: &str, row: &Value) -> String {
    let holder = (source == "backends")
        .then(|| row.get("backendHolder"))
        .flatten()
        .filter(|h| h.is_object());
    let Some(holder) = holder else {
        return holder_class(source).to_string();
    };
    let text = |k: &str| {
        holder
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let app = text("applicationName");
    let own = row.get("selfApplicationName").and_then(Value::as_str);
    let mut place = Vec::new();
    if let Some(app) = app {
        place.push(format!("application_name '{app}'"));
    }
    if let Some(user) = text("userName") {
        place.push(format!("role {user}"));
    }
    place.push(format!(
        "pid {}",
        holder.get("pid").cloned().unwrap_or(Value::Null)
    ));
    let open = match holder.get("xactSeconds").filter(|v| !v.is_null()) {
        None => "for an unreadable length of time".to_string(),
        Some(seconds) => format!("for {seconds}s"),
    };
    let who = match app {
        None => "a backend with no application_name",
        Some(app) if Some(app) == own => "this application's own connection",
        Some(_) if is_pgboss_holder(app, own) => "another pg-boss instance's connection",
        Some(_) => "another application",
    };
    format!(
        "{who} ({}) has held a transaction open {open}",
        place.join(", ")
    )
}

fn num(row: &Value, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

impl Engine {
    /// After the pass's counts: when they held the horizon longer than a tenth of the server's
    /// `autovacuum_naptime`, defer the next counts cluster-wide (`monitor_backoff_on`; expiry
    /// keeps running) and warn `monitor_backoff` (12.38's vacuum-safety backoff).
    pub(crate) async fn apply_monitor_backoff(&self) -> Result<()> {
        let elapsed = self
            .vacuum
            .memory(|m| std::mem::take(&mut m.pinned_seconds));
        if elapsed <= 0.0
            || !self.config.monitor_vacuum
            || matches!(self.config.backend.as_str(), "cockroachdb" | "yugabytedb")
        {
            return Ok(());
        }
        let rows = self
            .timed(
                &sql::set_monitor_backoff(&self.config.schema),
                &[Some(elapsed.to_string())],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(());
        };
        let engaged: Value = serde_json::from_str(row)?;
        let naptime = num(&engaged, "naptimeSeconds");
        let message = format!(
            "{BACKOFF_MESSAGE}: {elapsed:.1}s of aggregate against an autovacuum_naptime of {naptime}s. Shrink the job table (retention, deleteAfterSeconds) or partition its busiest queues."
        );
        let data = json!({
            "elapsedSeconds": elapsed,
            "naptimeSeconds": naptime,
            "backoffSeconds": num(&engaged, "backoffSeconds"),
            "backoffUntil": engaged.get("backoffUntil").cloned().unwrap_or(Value::Null),
        });
        self.warn("monitor_backoff", message, data).await;
        Ok(())
    }

    pub(crate) async fn check_vacuum(&self) -> Result<()> {
        if matches!(self.config.backend.as_str(), "cockroachdb" | "yugabytedb") {
            return Ok(());
        }
        let rows = self
            .timed(&sql::job_table_garbage(&self.config.schema), &[])
            .await?;
        let tables: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::from_str(r))
            .collect::<std::result::Result<_, _>>()?;
        let (stuck, unvacuumed) = self.vacuum.memory(|m| {
            let present: Vec<&str> = tables
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .collect();
            m.evidence
                .retain(|name, _| present.contains(&name.as_str()));
            let (mut stuck, mut unvacuumed) = (Vec::new(), Vec::new());
            let (mut vacuumed_over, mut disabled_over) = (false, false);
            for t in &tables {
                let name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let live = num(t, "liveTuples");
                let dead = num(t, "deadTuples");
                let budget = num(t, "threshold") + num(t, "scaleFactor") * live;
                let disabled = t.get("autovacuumEnabled") == Some(&Value::Bool(false));
                let last_vacuum = num(t, "lastVacuum");
                if dead <= budget {
                    m.evidence.remove(&name);
                    continue;
                }
                if disabled {
                    disabled_over = true;
                } else {
                    vacuumed_over = true;
                }
                let Some((dead_before, vacuum_before)) =
                    m.evidence.insert(name.clone(), (dead, last_vacuum))
                else {
                    continue;
                };
                let garbage = Garbage {
                    name,
                    live,
                    dead,
                    budget,
                    vacuum_age_seconds: t.get("vacuumAgeSeconds").cloned().unwrap_or(Value::Null),
                    last_vacuum,
                };
                if disabled {
                    if last_vacuum == vacuum_before && dead > dead_before {
                        unvacuumed.push(garbage);
                    }
                } else if last_vacuum > vacuum_before && dead >= dead_before {
                    stuck.push(garbage);
                }
            }
            if !vacuumed_over {
                m.warned_xmin = false;
            }
            if !disabled_over {
                m.warned_autovacuum = false;
            }
            (stuck, unvacuumed)
        });
        self.warn_autovacuum_disabled(&unvacuumed).await;
        self.warn_xmin_horizon(&stuck).await
    }

    async fn warn_autovacuum_disabled(&self, unvacuumed: &[Garbage]) {
        let Some(worst) = unvacuumed.iter().max_by(|a, b| a.dead.total_cmp(&b.dead)) else {
            return;
        };
        if self
            .vacuum
            .memory(|m| std::mem::replace(&mut m.warned_autovacuum, true))
        {
            return;
        }
        let since = match worst.vacuum_age_seconds.as_i64() {
            None => "has never been vacuumed".to_string(),
            Some(s) => format!("was last vacuumed {s}s ago"),
        };
        let budget = worst.budget.round();
        let message = format!(
            "{AUTOVACUUM_MESSAGE}: {} has autovacuum_enabled = false, holds {} dead rows and is still growing, and {since} (Postgres would vacuum this table at {budget})",
            worst.name, worst.dead
        );
        let data = json!({
            "table": worst.name,
            "tables": unvacuumed.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            "liveTuples": worst.live,
            "deadTuples": worst.dead,
            "budget": budget,
            "vacuumAgeSeconds": worst.vacuum_age_seconds,
        });
        self.warn("autovacuum_disabled", message, data).await;
    }

    async fn warn_xmin_horizon(&self, stuck: &[Garbage]) -> Result<()> {
        if stuck.is_empty() || self.vacuum.memory(|m| m.warned_xmin) {
            return Ok(());
        }
        let last_vacuum = stuck.iter().map(|t| t.last_vacuum).fold(0.0, f64::max);
        let Some((row, unreadable)) = self.read_xmin_horizon(last_vacuum).await? else {
            return Ok(());
        };
        // the widest holder: the horizon is pinned to the oldest of them
        let holder = sql::XMIN_SOURCES
            .iter()
            .filter_map(|(source, _)| {
                row.get(*source)
                    .and_then(Value::as_f64)
                    .map(|age| (*source, age))
            })
            .fold(
                None,
                |best: Option<(&str, f64)>, (source, age)| match best {
                    Some((_, a)) if a >= age => best,
                    _ => Some((source, age)),
                },
            );
        // garbage that survived a vacuum with no holder old enough to explain it is not this problem
        let Some((source, age)) = holder else {
            return Ok(());
        };
        self.vacuum.memory(|m| m.warned_xmin = true);
        let worst = stuck
            .iter()
            .max_by(|a, b| a.dead.total_cmp(&b.dead))
            .cloned()
            .unwrap_or_else(|| stuck[0].clone());
        let backend = (source == "backends")
            .then(|| row.get("backendHolder").filter(|h| h.is_object()).cloned())
            .flatten();
        let opaque = num(&row, "opaqueBackends");
        let note = if opaque > 0.0 && backend.is_none() {
            format!(" {opaque} backend(s) could not be inspected by this role; GRANT pg_read_all_stats to name them.")
        } else {
            String::new()
        };
        let described = describe_holder(source, &row);
        let budget = worst.budget.round();
        let message = format!(
            "{XMIN_MESSAGE}: {described}, holding it {age} transactions back. {} has {} dead rows that a vacuum {}s ago could not reclaim (Postgres vacuums this table at {budget}).{note}",
            worst.name, worst.dead, worst.vacuum_age_seconds
        );
        let field = |k: &str| {
            backend
                .as_ref()
                .and_then(|b| b.get(k))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let own = row.get("selfApplicationName").and_then(Value::as_str);
        let self_holder = backend
            .as_ref()
            .map(|b| is_pgboss_holder(b.get("applicationName").and_then(Value::as_str), own));
        let data = json!({
            "source": source,
            "holder": described,
            "holderClass": holder_class(source),
            "holderPid": field("pid"),
            "holderApplicationName": field("applicationName"),
            "holderUserName": field("userName"),
            "holderState": field("state"),
            "holderTransactionSeconds": field("xactSeconds"),
            "self": self_holder,
            "opaqueBackends": opaque,
            "transactions": age,
            "table": worst.name,
            "liveTuples": worst.live,
            "deadTuples": worst.dead,
            "budget": budget,
            "vacuumAgeSeconds": worst.vacuum_age_seconds,
            "tables": stuck.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            "oldestTransactionSeconds": row.get("oldestTransactionSeconds").cloned().unwrap_or(Value::Null),
            "unreadableSources": unreadable,
        });
        self.warn("xmin_horizon", message, data).await;
        Ok(())
    }

    /// The horizon row, from the sources this role can read (narrowed once, on first failure),
    /// and the sources it could not read; `None` when it can read none.
    async fn read_xmin_horizon(
        &self,
        last_vacuum_ms: f64,
    ) -> Result<Option<(Value, Vec<&'static str>)>> {
        let all: Vec<&'static str> = sql::XMIN_SOURCES.iter().map(|(n, _)| *n).collect();
        let attempted = self
            .vacuum
            .memory(|m| m.readable.clone())
            .unwrap_or_else(|| all.clone());
        if attempted.is_empty() {
            return Ok(None);
        }
        let when = format!("{}", last_vacuum_ms / 1000.0);
        let params = |sources: &[&str]| {
            if sources.contains(&"backends") {
                vec![Some(when.clone())]
            } else {
                Vec::new()
            }
        };
        match self
            .timed(&sql::xmin_horizon(&attempted), &params(&attempted))
            .await
        {
            Ok(rows) => {
                let row = match rows.first() {
                    Some(text) => serde_json::from_str(text)?,
                    None => json!({}),
                };
                let unreadable = all.into_iter().filter(|s| !attempted.contains(s)).collect();
                Ok(Some((row, unreadable)))
            }
            Err(err) => {
                let mut readable = Vec::new();
                for source in &attempted {
                    let one = [*source];
                    if self
                        .timed(&sql::xmin_horizon(&one), &params(&one))
                        .await
                        .is_ok()
                    {
                        readable.push(*source);
                    }
                }
                let none = readable.is_empty();
                self.vacuum.memory(|m| m.readable = Some(readable));
                if none {
                    self.warn(
                        "xmin_horizon",
                        "Unable to read the transaction horizon; the xmin_horizon check is disabled for this instance.".into(),
                        json!({ "type": "xmin_horizon", "instance": self.config.instance.id, "error": err.message }),
                    )
                    .await;
                }
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_holder_is_named_as_ours_another_pgboss_or_another_application() {
        let row = |app: &str| {
            json!({ "selfApplicationName": "pgboss:abc",
                    "backendHolder": { "pid": 7, "applicationName": app, "userName": "root", "xactSeconds": 12 } })
        };
        assert_eq!(
            describe_holder("backends", &row("pgboss:abc")),
            "this application's own connection (application_name 'pgboss:abc', role root, pid 7) has held a transaction open for 12s"
        );
        assert!(describe_holder("backends", &row("pgboss"))
            .starts_with("another pg-boss instance's connection"));
        assert!(describe_holder("backends", &row("psql")).starts_with("another application"));
        assert!(
            describe_holder("backends", &row("")).starts_with("a backend with no application_name")
        );
        assert_eq!(describe_holder("slots", &row("psql")), "a replication slot");
    }
}

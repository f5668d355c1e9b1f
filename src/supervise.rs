//! Supervision: the monitor (cached queue counts, with `persistQueueStats` the throughput
//! counters and latency histograms of `plans::throughput` and their true-up, and backlog
//! warnings), expiry of jobs whose handler outlived `expireInSeconds` or whose heartbeat stopped,
//! and retention. Each pass claims its queues through the same columns pg-boss 12.38 uses, so a
//! mixed fleet never runs a pass twice.

use crate::engine::Engine;
use crate::error::Result;
use crate::js::Object;
use crate::plans::supervise as sql;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const EXPIRY_BATCH: i64 = 1000;
const DELETION_BATCH: i64 = 1000;

impl Engine {
    /// One supervise pass over every queue, or the one named; `isMaintaining()` reads true while
    /// one runs (the background pass or a `supervise()` call), as in pg-boss.
    /// `options.reindex` overrides the constructor's `reindex` for this pass (12.38's
    /// `supervise(name, { reindex })`).
    pub async fn supervise(&self, name: Option<&str>, options: &Object) -> Result<()> {
        self.maintaining
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let result = self.supervise_pass(name, options).await;
        self.maintaining
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        result
    }

    /// `isMaintaining()`.
    pub fn is_maintaining(&self) -> bool {
        self.maintaining.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// The queues (every one, or the one named) grouped by their physical table, each table's
    /// names in order: the passes that visit every queue go table by table.
    pub async fn queues_by_table(
        &self,
        name: Option<&str>,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let rows = match name {
            Some(n) => {
                self.get_queues_raw(Some(vec![n.to_string()]), None, None)
                    .await?
            }
            None => self.get_queues_raw(None, None, None).await?,
        };
        let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in rows {
            let v: Value = serde_json::from_str(&r)?;
            let (Some(q), Some(t)) = (
                v.get("name").and_then(Value::as_str),
                v.get("table").and_then(Value::as_str),
            ) else {
                continue;
            };
            crate::names::assert_table_name(t)?;
            by_table
                .entry(t.to_string())
                .or_default()
                .push(q.to_string());
        }
        Ok(by_table)
    }

    async fn supervise_pass(&self, name: Option<&str>, options: &Object) -> Result<()> {
        let by_table = self.queues_by_table(name).await?;
        // today's and tomorrow's stats partitions exist before any snapshot is written
        if self.config.persist_queue_stats {
            self.ensure_queue_stats_partitions().await?;
        }
        let tables: Vec<String> = by_table.keys().cloned().collect();
        for (table, names) in by_table {
            for chunk in names.chunks(100) {
                self.monitor(&table, chunk).await?;
                self.maintain(&table, chunk).await?;
            }
        }
        // the tail, in 12.38's order; the reindex last, as its DDL can run for seconds
        self.apply_monitor_backoff().await?;
        if self.config.monitor_vacuum {
            self.check_vacuum().await?;
        }
        self.maintain_warnings().await?;
        self.maintain_queue_stats().await?;
        self.reindex_pass(&tables, options).await
    }

    /// Drop stored warnings past `warningRetentionDays` (with `persistWarnings`).
    async fn maintain_warnings(&self) -> Result<()> {
        if !self.config.persist_warnings {
            return Ok(());
        }
        let sql = crate::plans::warnings::delete_old_warnings(
            &self.config.schema,
            self.config.warning_retention_days,
        );
        self.timed(&sql, &[]).await.map(|_| ())
    }

    pub(crate) async fn timed(&self, text: &str, params: &[Option<String>]) -> Result<Vec<String>> {
        let db = self.instance_db()?;
        let started = Instant::now();
        let rows = self.query(&db, text, params).await?;
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed > self.config.warning_slow_query_seconds {
            self.warn(
                "slow_query",
                "Warning: slow query. Your queues and/or database server should be reviewed".into(),
                json!({ "elapsed": elapsed, "sql": text, "values": params }),
            )
            .await;
        }
        Ok(rows)
    }

    async fn monitor(&self, table: &str, names: &[String]) -> Result<()> {
        let s = &self.config.schema;
        let names_json = Some(json!(names).to_string());
        let claimed = self
            .timed(
                &sql::claim_monitor(s, self.config.monitor_interval_seconds),
                &[names_json],
            )
            .await?;
        if claimed.is_empty() {
            return Ok(());
        }
        let claimed_json = Some(json!(claimed).to_string());
        // throughput is counted only with persistQueueStats, as in 12.38; passes are as far
        // apart as the longer of the two timers
        let counting = self.config.persist_queue_stats.then(|| {
            crate::plans::throughput::reset_max_seconds(
                self.config
                    .monitor_interval_seconds
                    .max(self.config.supervise_interval_seconds),
            )
        });
        let written = self
            .timed(
                &sql::cache_queue_stats(s, table, counting),
                std::slice::from_ref(&claimed_json),
            )
            .await?;
        // what the counts cost the MVCC horizon, for the monitor backoff (empty: nothing counted)
        let pinned = written
            .iter()
            .filter_map(|row| serde_json::from_str::<Value>(row).ok())
            .filter_map(|v| v.get("pinSeconds").and_then(Value::as_f64))
            .fold(0.0, f64::max);
        self.vacuum.add_pinned(pinned);
        // a snapshot of each queue this pass counted (another instance holding the stats lock
        // wrote none, and copying the previous counts would record them twice)
        if self.config.persist_queue_stats && !written.is_empty() {
            let mut counted = Vec::with_capacity(written.len());
            for row in &written {
                let v: Value = serde_json::from_str(row)?;
                if let Some(name) = v.get("name").and_then(Value::as_str) {
                    counted.push(name.to_string());
                }
            }
            self.insert_queue_stats(&counted).await?;
            self.true_up_queue_stats(table, &written).await?;
        }
        for row in written {
            let v: Value = serde_json::from_str(&row)?;
            let queued = v.get("queuedCount").and_then(Value::as_f64).unwrap_or(0.0);
            let own = v
                .get("warningQueueSize")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let threshold = if own > 0.0 {
                own
            } else {
                self.config.warning_queue_size
            };
            if queued > threshold {
                let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
                self.warn(
                    "queue_backlog",
                    format!(
                        "Warning: large queue backlog: queue \"{name}\" has {queued} jobs in the created or retry state, over its warning threshold of {threshold}. Your queue should be reviewed"
                    ),
                    json!({ "name": name, "queuedCount": queued, "warningQueueSize": threshold }),
                )
                .await;
            }
        }
        for statement in [
            sql::expire_timed_out(s, table, EXPIRY_BATCH),
            sql::expire_heartbeat_lost(s, table, EXPIRY_BATCH),
        ] {
            loop {
                let picked = self
                    .timed(&statement, std::slice::from_ref(&claimed_json))
                    .await?;
                let n: i64 = picked.first().and_then(|c| c.parse().ok()).unwrap_or(0);
                if n < EXPIRY_BATCH {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn maintain(&self, table: &str, names: &[String]) -> Result<()> {
        let s = &self.config.schema;
        let claimed = self
            .timed(
                &sql::claim_maintenance(s, self.config.maintenance_interval_seconds),
                &[Some(json!(names).to_string())],
            )
            .await?;
        for queue in claimed {
            loop {
                let deleted = self
                    .timed(
                        &sql::delete_expired(s, table, DELETION_BATCH),
                        &[Some(queue.clone())],
                    )
                    .await?;
                let n: i64 = deleted.first().and_then(|c| c.parse().ok()).unwrap_or(0);
                if n < DELETION_BATCH {
                    break;
                }
            }
            self.cleanup_flow_edges(&queue).await?;
        }
        Ok(())
    }

    /// The background supervisor (when `supervise` is on): a pass every `superviseIntervalSeconds`.
    pub fn spawn_supervisor(self: &Arc<Self>) {
        let period = Duration::from_secs_f64(self.config.supervise_interval_seconds);
        self.spawn_every(
            period,
            tokio::time::MissedTickBehavior::Burst,
            |engine| async move { engine.supervise(None, &Object::new()).await },
        );
    }
}

//! The flow resolver: releases the children of completed parents out of band, as pg-boss 12.38's
//! does, so completions never chase dependents. A background loop (when `supervise` is on) claims
//! `version.flow_on` every `flowIntervalSeconds`, the first time at start; `resolveFlow()` runs a
//! pass now, ungated, after any pass in progress.

use crate::engine::{Engine, EngineEvent};
use crate::error::Result;
use crate::plans::flow as sql;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Batches one pass runs per chunk of queues before it leaves the rest to the next pass, so a
/// large backlog cannot hold the resolver.
const MAX_BATCHES_PER_PASS: usize = 100;

/// Queues per resolver statement.
const QUEUE_CHUNK: usize = 100;

#[derive(Default)]
pub struct FlowResolver {
    /// One pass at a time, the background one or `resolveFlow()`'s.
    pass: tokio::sync::Mutex<()>,
    /// A pass runs now (`isResolvingFlow()`).
    working: AtomicBool,
    /// `stop()` has begun: passes end at their next batch and no new one starts.
    stopping: AtomicBool,
}

impl Engine {
    /// `isResolvingFlow()`.
    pub fn is_resolving_flow(&self) -> bool {
        self.flow.working.load(Ordering::SeqCst)
    }

    /// `resolveFlow()`: one pass now, after the one in progress (if any); none once stopping.
    pub async fn resolve_flow(&self) -> Result<()> {
        let _pass = self.flow.pass.lock().await;
        if self.flow.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.flow_pass().await
    }

    /// At start: passes may run again, and with `supervise` the background loop begins.
    pub fn start_flow_resolver(self: &Arc<Self>) {
        self.flow.stopping.store(false, Ordering::SeqCst);
        if !self.config.supervise {
            return;
        }
        let weak = Arc::downgrade(self);
        let period = Duration::from_secs_f64(self.config.flow_interval_seconds);
        let task = tokio::spawn(async move {
            loop {
                let Some(engine) = weak.upgrade() else { break };
                if let Err(err) = engine.flow_poll().await {
                    engine.emit(EngineEvent::Error(err));
                }
                drop(engine);
                // measured from the claim's end, so instances that lost it stay out of the way
                tokio::time::sleep(period).await;
            }
        });
        self.add_task(task);
    }

    /// At stop: no new pass starts, and a pass in progress ends at its next batch before this
    /// returns, so no statement of it is cut off when the pool closes.
    pub async fn stop_flow_resolver(&self) {
        self.flow.stopping.store(true, Ordering::SeqCst);
        let _pass = self.flow.pass.lock().await;
    }

    /// One background tick: skipped while a pass runs; claims the gate; resolves on a win.
    async fn flow_poll(&self) -> Result<()> {
        let Ok(_pass) = self.flow.pass.try_lock() else {
            return Ok(());
        };
        if self.flow.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.flow.working.store(true, Ordering::SeqCst);
        let result = async {
            let db = self.instance_db()?;
            let claim = sql::claim_flow(&self.config.schema, self.config.flow_interval_seconds);
            if self.query(&db, &claim, &[]).await?.len() == 1 {
                self.resolve_all().await?;
            }
            Ok(())
        }
        .await;
        self.flow.working.store(false, Ordering::SeqCst);
        result
    }

    async fn flow_pass(&self) -> Result<()> {
        self.flow.working.store(true, Ordering::SeqCst);
        let result = self.resolve_all().await;
        self.flow.working.store(false, Ordering::SeqCst);
        result
    }

    /// Every queue, table by table, a chunk of names per statement, batch after batch while they
    /// come back full. Each batch that resolved parents raises `flow` with `{ table, resolved }`.
    async fn resolve_all(&self) -> Result<()> {
        let stopping = || self.flow.stopping.load(Ordering::SeqCst);
        let db = self.instance_db()?;
        for (table, names) in self.queues_by_table(None).await? {
            let statement = sql::resolve_flow_batch(&self.config.schema, &table);
            for chunk in names.chunks(QUEUE_CHUNK) {
                let chunk = json!(chunk).to_string();
                for _ in 0..MAX_BATCHES_PER_PASS {
                    if stopping() {
                        return Ok(());
                    }
                    let rows = self.query(&db, &statement, &[Some(chunk.clone())]).await?;
                    let resolved: i64 = rows.first().and_then(|r| r.parse().ok()).unwrap_or(0);
                    if resolved > 0 {
                        self.emit(EngineEvent::Named {
                            name: "flow",
                            data: json!({ "table": table, "resolved": resolved }),
                        });
                    }
                    if resolved < sql::RESOLVE_BATCH {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Maintenance for `queue`: drop the edges whose child or parent job is gone (retention and
    /// deletes remove jobs, never their edges), walking the edges in batches.
    pub async fn cleanup_flow_edges(&self, queue: &str) -> Result<()> {
        let db = self.instance_db()?;
        let names = json!([queue]).to_string();
        for side in ["child", "parent"] {
            let statement = sql::cleanup_edges(&self.config.schema, side);
            let mut cursor: Option<String> = None;
            loop {
                let rows = self
                    .query(&db, &statement, &[Some(names.clone()), cursor.clone()])
                    .await?;
                let next = rows
                    .first()
                    .and_then(|r| r.split('|').next())
                    .filter(|c| !c.is_empty())
                    .map(str::to_string);
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(())
    }
}

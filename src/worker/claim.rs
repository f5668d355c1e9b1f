//! A `work()` loop's claim: the fetch options it claims with, `localGroupConcurrency`'s gate
//! (groups at their limit are not fetched; jobs over it are handed back unstarted), the shared
//! claimer, and the carry: a completed batch written back by the next claim's statement.

use super::batch::write_back;
use super::handler_call::Handled;
use super::outcome::SettleRow;
use super::{now_ms, ClaimedJob, Worker};
use crate::engine::Engine;
use crate::error::BossError;
use crate::js::Object;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// The fetch options a worker claims with.
pub(super) fn claim_options(worker: &Worker, limit: i64) -> Object {
    let o = &worker.options;
    let mut m = Object::new();
    m.insert("batchSize".into(), json!(limit));
    m.insert("includeMetadata".into(), json!(o.include_metadata));
    if let Some(p) = o.min_priority {
        m.insert("minPriority".into(), json!(p));
    }
    if let Some(p) = o.max_priority {
        m.insert("maxPriority".into(), json!(p));
    }
    if let Some(g) = &o.group_concurrency {
        m.insert("groupConcurrency".into(), g.clone());
    }
    m
}

/// The limit `localGroupConcurrency` sets for a group tier.
fn local_limit(config: &Value, tier: Option<&str>) -> i64 {
    match config {
        Value::Number(n) => n.as_i64().unwrap_or(1),
        Value::Object(o) => tier
            .and_then(|t| o.get("tiers").and_then(|tiers| tiers.get(t)))
            .and_then(Value::as_i64)
            .or_else(|| o.get("default").and_then(Value::as_i64))
            .unwrap_or(1),
        _ => 1,
    }
}

fn local_max_limit(config: &Value) -> i64 {
    match config {
        Value::Object(o) => {
            let tiers = o.get("tiers").and_then(Value::as_object);
            let top = tiers
                .map(|t| t.values().filter_map(Value::as_i64).max().unwrap_or(0))
                .unwrap_or(0);
            top.max(o.get("default").and_then(Value::as_i64).unwrap_or(1))
        }
        other => local_limit(other, None),
    }
}

/// Claim up to `limit` jobs for `worker`, recording the fetch. With group limits the loops of one
/// `work()` claim one at a time; with `localGroupConcurrency`, groups already at their limit in
/// this process are not fetched, and jobs fetched over a group's limit are handed back unstarted
/// before any handler sees them.
///
/// `carry` (a batch of this loop's, all completed; only without group limits) is completed in
/// the claim's statement, with whatever other loops of a shared claim bring.
pub(super) async fn claim(
    engine: &Engine,
    worker: &Worker,
    limit: i64,
    carry: Option<Carry>,
) -> Result<Vec<ClaimedJob>, BossError> {
    worker.with_info(|i| i.last_fetched_on = Some(now_ms()));
    let started = Instant::now();
    let _claiming = match &worker.groups {
        Some(gate) => Some(gate.claim.lock().await),
        None => None,
    };
    let mut options = claim_options(worker, limit);
    let local = worker.options.local_group_concurrency.clone();
    if let (Some(config), Some(gate)) = (&local, &worker.groups) {
        let max = local_max_limit(config);
        let full: Vec<String> = gate
            .held
            .lock()
            .map(|held| {
                held.iter()
                    .filter(|(_, n)| **n >= max)
                    .map(|(g, _)| g.clone())
                    .collect()
            })
            .unwrap_or_default();
        if !full.is_empty() {
            options.insert("ignoreGroups".into(), json!(full));
        }
    }
    let mut jobs: Vec<ClaimedJob> = match &worker.claimer {
        Some(shared) => {
            let fetch = |n: usize, carries: Vec<Carry>| {
                let mut options = options.clone();
                options.insert("batchSize".into(), json!(n));
                async move { claim_completing(engine, &worker.name, &options, carries).await }
            };
            shared.claim(limit.max(1) as usize, carry, fetch).await?
        }
        None => {
            claim_completing(engine, &worker.name, &options, carry.into_iter().collect()).await?
        }
    };
    if let (Some(config), Some(gate)) = (&local, &worker.groups) {
        let mut over = Vec::new();
        if let Ok(mut held) = gate.held.lock() {
            jobs.retain(|j| {
                let Some(g) = &j.group_id else { return true };
                let n = held.entry(g.clone()).or_insert(0);
                if *n >= local_limit(config, j.group_tier.as_deref()) {
                    over.push(j.clone());
                    false
                } else {
                    *n += 1;
                    true
                }
            });
        }
        if !over.is_empty() {
            // pg-boss records every job it fetched as active, these too
            engine.spy_active(&worker.name, &over);
            let ids: Vec<String> = over.into_iter().map(|j| j.id).collect();
            let q = engine.queue_info(&worker.name).await?;
            engine.hand_back(&worker.name, &q.table, &ids).await?;
        }
    }
    engine
        .metrics
        .fetched(&worker.name, &worker.id, jobs.len(), started.elapsed());
    Ok(jobs)
}

/// A batch of one loop's, every job of it completed, to be written back by its next claim.
pub struct Carry {
    pub(super) worker: Arc<Worker>,
    pub(super) tx: super::settler::SettleSender,
    pub(super) unsettled: Arc<tokio::sync::Semaphore>,
    pub(super) done: Handled,
}

/// Claim with `options`, completing the `carries` in the same statement (one round trip and one
/// commit for both). If that statement fails it wrote nothing: each carry goes to its settler and
/// the claim is retried alone.
async fn claim_completing(
    engine: &Engine,
    name: &str,
    options: &Object,
    carries: Vec<Carry>,
) -> Result<Vec<ClaimedJob>, BossError> {
    if carries.is_empty() {
        return Ok(engine.claim_rows(name, options, None, None, true).await?.1);
    }
    let started = Instant::now();
    let rows: Vec<SettleRow> = carries
        .iter()
        .flat_map(|c| c.done.rows.iter().cloned())
        .collect();
    let payload = super::settle::settle_payload(&rows);
    match engine
        .claim_rows(name, options, None, Some(payload), true)
        .await
    {
        Ok((completed, jobs)) => {
            let took = started.elapsed();
            let landed = completed == rows.len() as u64;
            let mut left = crate::metrics::SettleCounts {
                completed,
                ..Default::default()
            };
            let ended = now_ms();
            for c in &carries {
                let n = c.done.rows.len();
                let counts = super::settler::attribute(&mut left, n as u64, 0);
                engine
                    .metrics
                    .settled(&c.worker.name, &c.worker.id, counts, n, took);
                super::settler::written_back(&c.worker, &[c.done.batch], c.done.started_ms, ended);
                engine.spy_settled(&c.worker.name, landed, [(c.done.batch, &c.done.rows[..])]);
            }
            engine.emit_wip_soon();
            Ok(jobs)
        }
        Err(_) => {
            for c in carries {
                write_back(&c.worker, &c.tx, &c.unsettled, c.done).await;
            }
            Ok(engine.claim_rows(name, options, None, None, true).await?.1)
        }
    }
}

//! Heartbeats: a handler's jobs that use `heartbeatSeconds` are touched while it runs, so their
//! claims do not lapse.

use super::{ClaimedJob, Worker};
use crate::engine::{Engine, EngineEvent};
use crate::plans;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Keeps the claims of `jobs` alive while their handler runs, when any job uses heartbeats.
/// Jobs `held` claimed before (`prefetch`) get their first beat that much sooner: their
/// heartbeat clock ran from the claim.
pub(super) fn spawn_heartbeat(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    jobs: &[ClaimedJob],
    held: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    let min = jobs
        .iter()
        .filter_map(|j| j.heartbeat_seconds)
        .fold(f64::INFINITY, f64::min);
    if !min.is_finite() {
        return None;
    }
    let every = worker
        .options
        .heartbeat_refresh_seconds
        .unwrap_or(min / 2.0)
        .max(0.05);
    let ids = json!(jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>()).to_string();
    let attempts = json!(jobs.iter().map(ClaimedJob::attempt).collect::<Vec<_>>()).to_string();
    let sql = plans::jobs::touch_jobs(&engine.config.schema, table, true);
    let engine = engine.clone();
    let worker = worker.clone();
    Some(tokio::spawn(async move {
        let every = Duration::from_secs_f64(every);
        let first = tokio::time::Instant::now() + every.saturating_sub(held);
        let mut ticker = tokio::time::interval_at(first, every);
        loop {
            ticker.tick().await;
            let db = match engine.instance_db() {
                Ok(db) => db,
                Err(_) => break,
            };
            let params = [
                Some(worker.name.clone()),
                Some(ids.clone()),
                Some(attempts.clone()),
            ];
            if let Err(err) = engine.query(&db, &sql, &params).await {
                engine.emit(EngineEvent::Error(err));
            }
        }
    }))
}

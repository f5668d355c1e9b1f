//! The write-back side of a worker: outcomes queue here and are settled in coalesced statements
//! (whatever finished while the previous settle ran goes into the next one), so a worker claims
//! its next jobs while the last ones commit.

use super::batch::{report, settle};
use super::outcome::SettleRow;
use super::{now_ms, ClaimedJob, Worker};
use crate::engine::Engine;
use std::sync::Arc;
use tokio::sync::mpsc;

/// One handler call's outcome: its batch id (its entry in the worker's jobs in hand), when the
/// handler started, and a row per job.
pub struct Settled {
    pub batch: u64,
    pub started_ms: u64,
    pub rows: Vec<SettleRow>,
    /// Released once these rows are written: claims wait for it, so jobs claimed but not yet
    /// settled stay bounded (a slow database slows the claims instead of the worker taking the
    /// whole queue).
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

pub type SettleSender = mpsc::UnboundedSender<Settled>;

pub fn spawn(
    engine: Arc<Engine>,
    worker: Arc<Worker>,
) -> (SettleSender, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, tokio::spawn(run(engine, worker, rx)))
}

async fn run(engine: Arc<Engine>, worker: Arc<Worker>, mut rx: mpsc::UnboundedReceiver<Settled>) {
    while let Some(first) = rx.recv().await {
        let mut items = vec![first];
        while let Ok(more) = rx.try_recv() {
            items.push(more);
        }
        if worker.is_abandoned() {
            // a shutdown failed these jobs itself
            drop(items);
            continue;
        }
        let table = match engine.queue_info(&worker.name).await {
            Ok(q) => q.table,
            Err(err) => {
                report(&engine, &worker, err);
                continue;
            }
        };
        let rows: Vec<SettleRow> = items.iter().flat_map(|s| s.rows.iter().cloned()).collect();
        settle(&engine, &worker, &table, &rows, rows.len()).await;
        let batches: Vec<u64> = items.iter().map(|s| s.batch).collect();
        let done: Vec<ClaimedJob> = worker
            .with_info(|i| {
                i.in_hand
                    .iter()
                    .filter(|(b, _)| batches.contains(b))
                    .flat_map(|(_, jobs)| jobs.clone())
                    .collect()
            })
            .unwrap_or_default();
        worker.release_groups(&done);
        let ended = now_ms();
        let started = items.iter().map(|s| s.started_ms).max().unwrap_or(ended);
        worker.with_info(|i| {
            i.in_hand.retain(|(b, _)| !batches.contains(b));
            i.last_job_ended_on = Some(ended);
            i.last_job_duration = Some(ended.saturating_sub(started));
        });
        drop(items);
        engine.emit_wip_soon();
    }
}

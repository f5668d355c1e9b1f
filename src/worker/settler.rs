//! The write-back side of a `work()` / `workEach()` call, shared by all its loops: outcomes
//! queue here and are settled in coalesced statements (whatever finished while the previous
//! settle ran goes into the next one, whichever loop it came from), so loops claim their next
//! jobs while the last ones commit and sixteen loops finishing together cost one statement.

use super::batch::report;
use super::outcome::SettleRow;
use super::{now_ms, ClaimedJob, Worker};
use crate::engine::Engine;
use crate::error::Result;
use crate::metrics::SettleCounts;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One handler call's outcome: the loop that ran it, its batch id (its entry in that loop's jobs
/// in hand), when the handler started, and a row per job.
pub struct Settled {
    pub worker: Arc<Worker>,
    pub batch: u64,
    pub started_ms: u64,
    pub rows: Vec<SettleRow>,
    /// Released once these rows are written: claims wait for it, so jobs claimed but not yet
    /// settled stay bounded (a slow database slows the claims instead of the worker taking the
    /// whole queue), and a stopping loop waits for it so nothing is left half-settled.
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

pub type SettleSender = mpsc::UnboundedSender<Settled>;

/// Start the settler of one `work()` call; it ends once every sender is dropped and its last
/// flush is written.
pub fn spawn(engine: Arc<Engine>) -> SettleSender {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(engine, rx));
    tx
}

/// Flushes in flight at once. One: what finishes while a flush runs goes into the next, bigger
/// one. Two (one committing while the next is sent) measured worse once the claims had got
/// cheaper and a loop could have two batches waiting: batchSize 100 with 10% failing
/// ~27,000 → ~29,500 jobs/s with one, `workEach` ~22,200 → ~24,100, no change at batchSize 1 ×
/// localConcurrency 16. The loop stays ready for more flushes in flight (each holds jobs no
/// other holds).
const FLUSHES_IN_FLIGHT: usize = 1;

async fn run(engine: Arc<Engine>, mut rx: mpsc::UnboundedReceiver<Settled>) {
    let mut flushing = tokio::task::JoinSet::new();
    loop {
        if flushing.len() >= FLUSHES_IN_FLIGHT {
            let _ = flushing.join_next().await;
            continue;
        }
        let first = tokio::select! {
            item = rx.recv() => match item {
                Some(item) => item,
                None => break,
            },
            Some(_) = flushing.join_next(), if !flushing.is_empty() => continue,
        };
        let mut items = vec![first];
        while let Ok(more) = rx.try_recv() {
            items.push(more);
        }
        // a shutdown failed an abandoned loop's jobs itself
        items.retain(|s| !s.worker.is_abandoned());
        if !items.is_empty() {
            flushing.spawn(flush(engine.clone(), items));
        }
    }
    while flushing.join_next().await.is_some() {}
}

/// How long a write-back keeps trying while the server is unreachable (a restart, a failover):
/// long enough that an outage of some seconds costs no handler a second run, short enough that a
/// longer one leaves the jobs to expire and be retried, as pg-boss does at once.
const OUTAGE_RETRY_WINDOW: Duration = Duration::from_secs(20);

/// One settle statement, tried again with backoff while the failure is the connection's (the
/// statement is fenced by each job's claimed attempt, so running it again never settles a job
/// twice: what the first try committed matches no row the second time). The first failure is
/// reported at once, as pg-boss reports it; a give-up is reported too.
async fn write_back_through_outages(
    engine: &Arc<Engine>,
    lead: &Arc<Worker>,
    rows: &[SettleRow],
) -> Result<SettleCounts> {
    let deadline = Instant::now() + OUTAGE_RETRY_WINDOW;
    let mut wait = Duration::from_millis(250);
    let mut reported = false;
    loop {
        let result = match engine.queue_info(&lead.name).await {
            Ok(q) => engine.settle_rows(&lead.name, &q, rows).await,
            Err(err) => Err(err),
        };
        match result {
            Err(err)
                if err.is_transient()
                    && !lead.is_abandoned()
                    && Instant::now() + wait < deadline =>
            {
                if !reported {
                    report(engine, lead, err);
                    reported = true;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(4));
            }
            other => return other,
        }
    }
}

/// Write back `items` in one statement, then do each loop's bookkeeping.
async fn flush(engine: Arc<Engine>, items: Vec<Settled>) {
    let lead = items[0].worker.clone();
    let rows: Vec<SettleRow> = items.iter().flat_map(|s| s.rows.iter().cloned()).collect();
    let started = Instant::now();
    let result = write_back_through_outages(&engine, &lead, &rows).await;
    let took = started.elapsed();
    let mut left = match result {
        Ok(counts) => counts,
        Err(err) => {
            report(&engine, &lead, err);
            SettleCounts::default()
        }
    };
    let landed = engine.spies_enabled() && crate::spy::all_landed(&rows, &left);
    let ended = now_ms();
    let mut seen: Vec<String> = Vec::new();
    for s in &items {
        if seen.contains(&s.worker.id) {
            continue;
        }
        seen.push(s.worker.id.clone());
        let mine: Vec<&Settled> = items
            .iter()
            .filter(|i| i.worker.id == s.worker.id)
            .collect();
        let worker = &s.worker;
        let my_rows = mine.iter().flat_map(|i| i.rows.iter());
        let completed_rows = my_rows.clone().filter(|r| r.status == "completed").count() as u64;
        let released = my_rows.count();
        let counts = attribute(&mut left, completed_rows, released as u64 - completed_rows);
        engine
            .metrics
            .settled(&worker.name, &worker.id, counts, released, took);
        let batches: Vec<u64> = mine.iter().map(|i| i.batch).collect();
        let started = mine.iter().map(|i| i.started_ms).max().unwrap_or(ended);
        written_back(worker, &batches, started, ended);
    }
    engine.spy_settled(
        &lead.name,
        landed,
        items.iter().map(|s| (s.batch, s.rows.as_slice())),
    );
    drop(items);
    engine.emit_wip_soon();
}

/// `batches` of `worker` are written back: they leave its jobs in hand (and its group counts),
/// and its last-job times move on.
pub(super) fn written_back(worker: &Worker, batches: &[u64], started_ms: u64, ended_ms: u64) {
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
    worker.with_info(|i| {
        i.in_hand.retain(|(b, _)| !batches.contains(b));
        i.last_job_ended_on = Some(ended_ms);
        i.last_job_duration = Some(ended_ms.saturating_sub(started_ms));
    });
}

/// One loop's share of a flush's counts: what its rows asked for, as far as the statement's
/// totals (`left`) go. Exact whenever every row was written; when the attempt fence skipped some,
/// the queue's totals stay exact and the loops of one `work()` may split them differently.
pub(super) fn attribute(
    left: &mut SettleCounts,
    completed_rows: u64,
    failed_rows: u64,
) -> SettleCounts {
    let take = |pool: &mut u64, want: u64| {
        let n = want.min(*pool);
        *pool -= n;
        n
    };
    let completed = take(&mut left.completed, completed_rows);
    let retried = take(&mut left.retried, failed_rows);
    let failed = take(&mut left.failed, failed_rows - retried);
    let dead_lettered = take(&mut left.dead_lettered, failed);
    SettleCounts {
        completed,
        retried,
        failed,
        dead_lettered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_splits_totals_by_what_each_loop_asked() {
        let mut left = SettleCounts {
            completed: 5,
            retried: 1,
            failed: 2,
            dead_lettered: 1,
        };
        let a = attribute(&mut left, 3, 2);
        assert_eq!(
            (a.completed, a.retried, a.failed, a.dead_lettered),
            (3, 1, 1, 1)
        );
        let b = attribute(&mut left, 2, 1);
        assert_eq!(
            (b.completed, b.retried, b.failed, b.dead_lettered),
            (2, 0, 1, 0)
        );
        // a fenced-out row: nothing left to attribute
        let c = attribute(&mut left, 1, 0);
        assert_eq!(c.completed, 0);
    }
}

//! The `workEach()` loop: per-job handlers with at most `concurrency` in flight. Jobs are claimed
//! in batches of up to `batchSize` into a local buffer; the next batch is claimed in the
//! background once the buffer is down to `concurrency` jobs, so slots refill from the buffer
//! while the claim runs (never waiting for the slowest job of a batch, nor for the claim).
//! Outcomes are written back in coalesced settles: whatever finished while the previous settle
//! ran goes in the next one.
//!
//! Two bounds: `concurrency` handlers run at once, and at most `4 × batchSize + concurrency` jobs
//! are claimed but not yet written back, so a slow database slows the claims instead of the
//! worker taking the whole queue.
//!
//! This claiming ahead is `workEach()`'s default (it is not a pg-boss API, and has claimed so
//! since its first version): `prefetch: false` claims the next batch only once every buffered job
//! has started, and `prefetch: n` buffers at most `n` jobs.

use super::batch::report;
use super::cadence::next_delay;
use super::claim::claim;
use super::handler_call::{handle, Dispatch};
use super::outcome;
use super::settler;
use super::{ClaimedJob, Worker, WorkerStatus};
use crate::engine::Engine;
use crate::error::BossError;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// A claimed job waiting for a handler slot, with its share of the write-back budget.
type Buffered = (ClaimedJob, OwnedSemaphorePermit);

/// One background claim: the queue's table, the jobs (each with its budget permit) and how many
/// were asked for.
type Claimed = Result<(String, Vec<Buffered>, usize), BossError>;

/// Batches' worth of jobs that may be claimed but not yet written back (plus `concurrency`): the
/// buffer, the batch being claimed, and outcomes waiting for their settle. Measured at batchSize
/// 100, concurrency 16: 2 → ~18,000 jobs/s (claims waited on write-backs), 4 → ~21,500.
const WRITE_BACK_BATCHES: usize = 4;

pub async fn run(engine: Arc<Engine>, worker: Arc<Worker>) {
    worker.set_status(WorkerStatus::Active);
    let batch_size = (worker.options.batch_size.max(1)) as usize;
    let concurrency = worker.options.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let budget = WRITE_BACK_BATCHES * batch_size + concurrency;
    let unsettled = Arc::new(Semaphore::new(budget));
    let Some(tx) = worker.take_settler() else {
        return;
    };
    let mut running: JoinSet<()> = JoinSet::new();
    let mut buffer: VecDeque<Buffered> = VecDeque::new();
    let mut table = String::new();
    let mut claiming: Option<JoinHandle<Claimed>> = None;
    // the next claim starts while a batch's worth of jobs is still buffered, so it lands before
    // they run out (measured: starting at half a batch let the handlers run dry between claims)
    let low_water = batch_size.max(concurrency);
    let pace = Arc::new(Pace::default());
    // `prefetch: false`: the next claim waits until every buffered job has started; a number caps
    // the jobs buffered (see options.rs)
    let prefetch = worker.options.prefetch;
    // no claim before this instant (after a short claim the queue is drained: poll as pg-boss does)
    let mut hold_until: Option<Instant> = None;

    while !worker.is_stopping() {
        while running.try_join_next().is_some() {}
        let held = hold_until.is_some_and(|t| Instant::now() < t);
        let room = pace
            .room(concurrency)
            .min(prefetch.unwrap_or(usize::MAX))
            .saturating_sub(buffer.len());
        let wanted = match prefetch {
            Some(_) => buffer.len() <= low_water,
            None => buffer.is_empty() && slots.available_permits() > 0,
        };
        if claiming.is_none() && !held && wanted && room > 0 {
            claiming = Some(tokio::spawn(claim_batch(
                engine.clone(),
                worker.clone(),
                unsettled.clone(),
                batch_size.min(room),
            )));
        }
        tokio::select! {
            done = async { claiming.as_mut().expect("guarded").await }, if claiming.is_some() => {
                claiming = None;
                let started = Instant::now();
                let result = done.unwrap_or_else(|_| Err(BossError::operational("claim task failed")));
                let (fetched, limit) = match result {
                    Ok((t, jobs, limit)) => {
                        if !t.is_empty() {
                            table = t;
                        }
                        let n = jobs.len();
                        pace.claimed(jobs.iter().map(|(j, _)| j));
                        buffer.extend(jobs);
                        (n, limit)
                    }
                    Err(err) => {
                        report(&engine, &worker, err);
                        (0, batch_size)
                    }
                };
                hold_until = if fetched < limit {
                    Some(started + next_delay(&engine, &worker, 0, limit as i64).await)
                } else {
                    None
                };
            }
            slot = slots.clone().acquire_owned(), if !buffer.is_empty() => {
                let Ok(slot) = slot else { break };
                let Some((job, budget)) = buffer.pop_front() else { continue };
                let engine = engine.clone();
                let worker = worker.clone();
                let tx = tx.clone();
                let table = table.clone();
                let pace = pace.clone();
                running.spawn(async move {
                    let started = Instant::now();
                    run_job(&engine, &worker, &table, job, &tx, slot, budget).await;
                    pace.handled(started.elapsed());
                });
            }
            _ = tokio::time::sleep_until(hold_until.unwrap_or_else(Instant::now)), if held => {}
            // `prefetch: false` waits for a free slot before it claims
            _ = running.join_next(), if prefetch.is_none() && claiming.is_none() && buffer.is_empty() && !running.is_empty() => {}
            _ = worker.wake.notified() => {
                // a NOTIFY or notifyWorker(): new jobs may be there, claim now
                hold_until = None;
            }
        }
    }

    // Stopping: jobs claimed but never started go back to the queue as they were.
    if let Some(pending) = claiming.take() {
        if let Ok(Ok((t, jobs, _))) = pending.await {
            if !t.is_empty() {
                table = t;
            }
            buffer.extend(jobs);
        }
    }
    hand_back(&engine, &worker, &table, buffer).await;
    // let handlers in flight finish (stop()/offWork() bound the wait) unless abandoned
    loop {
        tokio::select! {
            next = running.join_next() => if next.is_none() { break },
            _ = worker.abandon.notified() => { running.abort_all(); break }
        }
    }
    drop(tx);
    // everything handled is written back before this loop reports stopped
    let _ = unsettled.acquire_many(budget as u32).await;
    worker.with_info(|i| i.status = WorkerStatus::Stopped);
}

/// How far ahead of the handlers the buffer may run. A buffered job is already active: its
/// expiry (and heartbeat) clock runs from the claim, and nothing touches it until its handler
/// starts. So the buffer holds no more than the handlers get through in a quarter of the
/// shortest such window seen (`heartbeatSeconds`, else `expireInSeconds`); until a handler has
/// finished (no pace known yet), no more than `concurrency`.
#[derive(Default)]
struct Pace {
    /// Handler time per job, smoothed, in microseconds (0: none finished yet).
    handler_us: std::sync::atomic::AtomicU64,
    /// The shortest window of the jobs last claimed, in milliseconds (0: nothing claimed yet).
    window_ms: std::sync::atomic::AtomicU64,
}

impl Pace {
    fn handled(&self, took: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let sample = (took.as_micros() as u64).max(1);
        let old = self.handler_us.load(Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.handler_us.store(new, Relaxed);
    }

    fn claimed<'a>(&self, jobs: impl Iterator<Item = &'a ClaimedJob>) {
        let window = jobs
            .map(|j| j.heartbeat_seconds.unwrap_or(j.expire_seconds))
            .fold(f64::INFINITY, f64::min);
        if window.is_finite() {
            let ms = (window * 1000.0).max(1.0) as u64;
            self.window_ms
                .store(ms, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// How many jobs may wait in the buffer.
    fn room(&self, concurrency: usize) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let per_job_us = self.handler_us.load(Relaxed);
        if per_job_us == 0 {
            return concurrency;
        }
        let window_ms = match self.window_ms.load(Relaxed) {
            0 => 900_000,
            ms => ms,
        };
        let safe_us = window_ms as f64 * 1000.0 / 4.0;
        let room = concurrency as f64 * safe_us / per_job_us as f64;
        (room.min(1e9) as usize).max(concurrency)
    }
}

/// Claim up to `batch_size` jobs (the worker's batch size, or less when the buffer has less room),
/// as many as the write-back budget allows (waiting for at least one), each job taking one budget
/// permit.
async fn claim_batch(
    engine: Arc<Engine>,
    worker: Arc<Worker>,
    unsettled: Arc<Semaphore>,
    batch_size: usize,
) -> Claimed {
    // waiting for budget gives way to a stop, so stop() never waits on a claim that cannot start
    let first = loop {
        if worker.is_stopping() {
            return Ok((String::new(), Vec::new(), 0));
        }
        tokio::select! {
            permit = unsettled.clone().acquire_owned() => {
                break permit.map_err(|_| BossError::operational("worker stopped"))?
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let extra = (batch_size - 1).min(unsettled.available_permits());
    let mut budget = first;
    if extra > 0 {
        if let Ok(more) = unsettled.clone().try_acquire_many_owned(extra as u32) {
            budget.merge(more);
        }
    }
    // short of a full batch, claim a power of two: each claim size is a statement PostgreSQL
    // plans once per connection, so the sizes stay few
    let mut limit = budget.num_permits();
    if limit < worker.options.batch_size.max(1) as usize {
        let pow2 = 1usize << (usize::BITS - 1 - limit.leading_zeros());
        drop(budget.split(limit - pow2));
        limit = pow2;
    }
    let table = engine.queue_info(&worker.name).await?.table;
    let jobs = claim(&engine, &worker, limit as i64, None).await?;
    // unused permits go back as `budget` drops
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let Some(permit) = budget.split(1) else { break };
        out.push((job, permit));
    }
    Ok((table, out, limit))
}

/// Return buffered, never-started jobs to the queue (a later claim counts the same attempt).
async fn hand_back(engine: &Engine, worker: &Worker, table: &str, buffer: VecDeque<Buffered>) {
    if buffer.is_empty() {
        return;
    }
    let jobs: Vec<ClaimedJob> = buffer.into_iter().map(|(j, _)| j).collect();
    worker.release_groups(&jobs);
    engine
        .metrics
        .handed_back(&worker.name, &worker.id, jobs.len());
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    if let Err(err) = engine.hand_back(&worker.name, table, &ids).await {
        // they stay active and are retried after expiry, as after a crash
        report(engine, worker, err);
    }
}

async fn run_job(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    job: ClaimedJob,
    tx: &settler::SettleSender,
    slot: OwnedSemaphorePermit,
    budget: OwnedSemaphorePermit,
) {
    let jobs = vec![job];
    let call = (super::next_batch_id(), Dispatch::Send);
    let handled = handle(
        engine,
        worker,
        table,
        &jobs,
        None,
        Duration::ZERO,
        call,
        |v| vec![outcome::each_row(&jobs[0], &v)],
    )
    .await;
    let Some(mut done) = handled else {
        return;
    };
    let overrun = done.overrun.take();
    if let Some(overrun) = &overrun {
        overrun.reserve(worker);
    }
    // the budget permit stays with the outcome until it is written
    let _ = tx.send(settler::Settled {
        worker: worker.clone(),
        batch: done.batch,
        started_ms: done.started_ms,
        rows: done.rows,
        permit: Some(budget),
    });
    // the handler slot frees when the handler has returned, even after its timeout
    if let Some(overrun) = overrun {
        overrun.hold(engine, worker).await;
    }
    drop(slot);
}

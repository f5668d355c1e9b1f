//! The `workEach()` loop: per-job handlers with at most `concurrency` in flight. Jobs are claimed
//! as slots free (never waiting for the slowest job of a batch) and their outcomes are written
//! back in coalesced settles: whatever finished while the previous settle ran goes in the next one.

use super::batch::{claim, handle, next_delay, report, wait};
use super::outcome;
use super::settler;
use super::{ClaimedJob, Worker, WorkerStatus};
use crate::engine::Engine;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub async fn run(engine: Arc<Engine>, worker: Arc<Worker>) {
    worker.set_status(WorkerStatus::Active);
    let slots = Arc::new(Semaphore::new(worker.options.concurrency));
    let (tx, settler) = settler::spawn(engine.clone(), worker.clone());
    let mut running: JoinSet<()> = JoinSet::new();

    while !worker.is_stopping() {
        // reap finished tasks so the set does not grow
        while running.try_join_next().is_some() {}
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            _ = worker.wake.notified() => continue,
        };
        let started = Instant::now();
        let table = match engine.queue_info(&worker.name).await {
            Ok(q) => q.table,
            Err(err) => {
                drop(first);
                report(&engine, &worker, err);
                wait(
                    &worker,
                    started,
                    Duration::from_secs_f64(worker.options.polling_interval_ms / 1000.0),
                )
                .await;
                continue;
            }
        };
        let free = 1 + slots.available_permits();
        let limit = (worker.options.batch_size as usize).min(free).max(1);
        let jobs = match claim(&engine, &worker, limit as i64).await {
            Ok(jobs) => jobs,
            Err(err) => {
                report(&engine, &worker, err);
                Vec::new()
            }
        };
        let fetched = jobs.len();
        let mut permits = vec![first];
        for _ in 1..fetched {
            // only this loop takes permits, so the ones counted as free are still there
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        for (job, permit) in jobs.into_iter().zip(permits) {
            let engine = engine.clone();
            let worker = worker.clone();
            let tx = tx.clone();
            let table = table.clone();
            // the slot stays taken until the job's outcome is written, so claimed-but-unsettled
            // jobs never exceed `concurrency`
            running.spawn(async move {
                run_job(&engine, &worker, &table, job, &tx, permit).await;
            });
        }
        if fetched < limit {
            let delay = next_delay(&engine, &worker, 0).await;
            wait(&worker, started, delay).await;
        }
    }

    // Stopping: let handlers in flight finish (stop()/offWork() bound the wait) unless abandoned.
    loop {
        tokio::select! {
            next = running.join_next() => if next.is_none() { break },
            _ = worker.abandon.notified() => { running.abort_all(); break }
        }
    }
    drop(tx);
    let _ = settler.await;
    worker.with_info(|i| i.status = WorkerStatus::Stopped);
}

async fn run_job(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    job: ClaimedJob,
    tx: &settler::SettleSender,
    slot: tokio::sync::OwnedSemaphorePermit,
) {
    let jobs = vec![job];
    let Some((batch, started_ms, rows)) = handle(engine, worker, table, &jobs, |v| {
        vec![outcome::each_row(&jobs[0], &v)]
    })
    .await
    else {
        return;
    };
    let _ = tx.send(settler::Settled {
        batch,
        started_ms,
        rows,
        permit: Some(slot),
    });
}

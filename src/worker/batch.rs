//! The `work()` loop: claim a batch, call the handler once with all of it, settle, wait.

use super::cadence::{next_delay, wait};
use super::claim::{claim, Carry};
use super::handler_call::{handle, Dispatch, Handled};
use super::local_queue::Chain;
use super::outcome;
use super::{now_ms, ClaimedJob, Worker, WorkerStatus};
use crate::engine::{Engine, EngineEvent};
use crate::error::BossError;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Report a worker failure as pg-boss does: an `error` event naming queue and worker.
pub(super) fn report(engine: &Engine, worker: &Worker, err: BossError) {
    worker.with_info(|i| {
        i.last_error = Some(json!({ "message": err.message }));
        i.last_error_on = Some(now_ms());
    });
    engine.emit(EngineEvent::WorkerError {
        error: err,
        queue: worker.name.clone(),
        worker: worker.id.clone(),
    });
}

/// Handled batches of one loop that may wait to be written back while it handles the next. Two,
/// not one: a settle with failures in it (fail chain) can take longer than a claim, and with one
/// the loop waited on it (batchSize 100, 10% failing: ~27,000 -> ~29,000 jobs/s). Bounded so
/// that a slow database slows the claims instead of the worker taking the whole queue.
const UNSETTLED_BATCHES: u32 = 2;

/// How long a local queue's outcomes may wait in the loop to be written back together, while its
/// handlers are quicker than this: one settle for a few dozen fast jobs instead of one per few
/// (the server's cost is largely per statement). Measured at batchSize 1, prefetch 100,
/// localConcurrency 16: ~20,000 → ~26,000 jobs/s. A slower handler's outcome goes back at once.
const LOCAL_QUEUE_LINGER: Duration = Duration::from_millis(2);

/// The largest `batchSize` whose completions ride on the next claim.
const CARRY_MAX_BATCH: i64 = 10;

pub async fn run(engine: Arc<Engine>, worker: Arc<Worker>) {
    worker.set_status(WorkerStatus::Active);
    let Some(tx) = worker.take_settler() else {
        return;
    };
    let batch_size = worker.options.batch_size.max(1);
    // `prefetch: n`: hold at most n claimed-but-unstarted jobs. Up to one batch, the held jobs
    // are the next batch. Beyond it they are a local queue, handed to the handler `batchSize` at
    // a time: claimed in halves (`ahead_limit`, at least a batch), the next half while the first
    // batch of the current one runs, so the claim's statement (a few ms for 100 rows: every
    // index of the job table takes each claimed row) overlaps the handlers instead of stalling
    // them; held at once: the current half's rest and the next half, at most n. At batchSize 1
    // a claim's round trip is then paid once per half instead of once per job.
    let prefetch = worker.options.prefetch.map(|n| (n as i64).max(1));
    let ahead_limit = prefetch.map(|n| {
        if n > batch_size {
            ((n + 1) / 2).max(batch_size)
        } else {
            n
        }
    });
    // what a loop claims itself (its first claim, and after a hand-back)
    let own_claim = ahead_limit.map_or(batch_size, |n| n.max(batch_size));
    let batches_per_claim = ((own_claim + batch_size - 1) / batch_size) as u32;
    let unsettled_permits = UNSETTLED_BATCHES * batches_per_claim;
    let unsettled = Arc::new(tokio::sync::Semaphore::new(unsettled_permits as usize));
    // A loop may complete a small batch in the statement that claims the next (one commit per
    // cycle instead of two: less server and client time per job, and at batchSize 1 the commit
    // is what a loop waits on); with a shared claimer, the carries of all loops waiting together
    // ride on their one claim. Big batches settle apart, so their write-back runs on another
    // connection while the next batch is handled (measured: at batchSize 100 and 1000 that
    // overlap is worth more than the commit). Group gates settle apart too.
    // a claim ahead is in flight when the next claim would carry: so with `prefetch` none carries
    let may_carry = prefetch.is_none() && worker.groups.is_none() && batch_size <= CARRY_MAX_BATCH;
    let mut carried: Option<Handled> = None;
    let mut ahead: Option<super::prefetch::Ahead> = None;
    // how long the last handler took: a loop whose handler outlasts the jobs' holding share
    // would only claim ahead to hand back, so it does not
    let mut last_handled = Duration::ZERO;
    'cycle: while !worker.is_stopping() {
        let mut started = Instant::now();
        let mut asked = own_claim;
        // jobs claimed ahead were held from `started`: their handler's timeout is that much shorter
        let mut from_ahead = false;
        let table = match engine.queue_info(&worker.name).await {
            Ok(q) => q.table,
            Err(err) => {
                if let Some(done) = carried.take() {
                    write_back(&worker, &tx, &unsettled, done).await;
                }
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
        let carry = carried.take().map(|done| Carry {
            worker: worker.clone(),
            tx: tx.clone(),
            unsettled: unsettled.clone(),
            done,
        });
        let claimed = match ahead.take() {
            None => claim(&engine, &worker, own_claim, carry).await,
            Some(a) => {
                use super::prefetch::Held;
                match a.take().await {
                    Held::Jobs { jobs, claimed_at } => {
                        if worker.is_stopping() {
                            super::prefetch::hand_back(&engine, &worker, jobs).await;
                            break;
                        }
                        started = claimed_at.into_std();
                        from_ahead = true;
                        asked = ahead_limit.unwrap_or(asked);
                        Ok(jobs)
                    }
                    Held::Nothing { claimed_at } => {
                        started = claimed_at.into_std();
                        Ok(Vec::new())
                    }
                    Held::HandedBack => claim(&engine, &worker, own_claim, carry).await,
                    Held::Stopped => break,
                }
            }
        };
        let jobs = match claimed {
            Ok(jobs) => jobs,
            Err(err) => {
                report(&engine, &worker, err);
                Vec::new()
            }
        };
        let fetched = jobs.len();
        if fetched == 0 {
            let delay = next_delay(&engine, &worker, fetched, asked).await;
            wait(&worker, started, delay).await;
            continue;
        }
        // the claimed jobs, a batch at a time; all but the first batch wait claimed (held). A
        // local queue's batches are chained to start one after another in JavaScript.
        let batches: Vec<&[ClaimedJob]> = jobs.chunks(batch_size as usize).collect();
        let mut chain = if batches.len() > 1 {
            Chain::new(&worker, &batches)
        } else {
            None
        };
        // the batches from this one on went back to the queue (a stop, or held their share)
        let mut handed_back_from = batches.len();
        // a local queue's fast batches' outcomes, written back together (see LOCAL_QUEUE_LINGER)
        let mut lingering: Vec<Handled> = Vec::new();
        let mut lingering_since = Instant::now();
        for (i, batch) in batches.iter().enumerate() {
            if i >= handed_back_from {
                break;
            }
            let next = i * batch_size as usize;
            let rest = &jobs[next + batch.len()..];
            let call = match chain.as_mut() {
                Some(c) => c.dispatch(i),
                None => (super::next_batch_id(), Dispatch::Send),
            };
            let held = match &call.1 {
                Dispatch::Started(_, at) => at.saturating_duration_since(started),
                Dispatch::Send if next > 0 || from_ahead => started.elapsed(),
                Dispatch::Send => Duration::ZERO,
            };
            if next > 0
                && matches!(call.1, Dispatch::Send)
                && (worker.is_stopping() || held > super::prefetch::hold_limit(&jobs[next..]))
            {
                // a local queue's rest: back to the queue on stop, or once held its share
                if let Some(c) = chain.as_mut() {
                    c.withdraw_from(i + 1);
                }
                let until = (handed_back_from * batch_size as usize).min(fetched);
                super::prefetch::hand_back(&engine, &worker, jobs[next..until].to_vec()).await;
                break;
            }
            // the claim ahead goes out as the first batch of these jobs starts
            if next == 0 && ahead.is_none() && !worker.is_stopping() {
                if let Some(limit) = ahead_limit {
                    if last_handled <= super::prefetch::hold_limit(batch) {
                        let delay = next_delay(&engine, &worker, fetched, asked).await;
                        ahead = Some(super::prefetch::claim_ahead(
                            engine.clone(),
                            worker.clone(),
                            started.into(),
                            delay,
                            limit,
                        ));
                    }
                }
            }
            let handling = Instant::now();
            let done = if rest.is_empty() {
                process(&engine, &worker, &table, batch, held, call).await
            } else {
                // while the handler runs, the local queue's rest goes back on a stop or once held
                // its share of the window, without waiting for the handler (batches already
                // started after it run on)
                let deadline = started + super::prefetch::hold_limit(rest);
                let mut stop = worker.stop_signal.subscribe();
                let processing = process(&engine, &worker, &table, batch, held, call);
                tokio::pin!(processing);
                let give_back = tokio::select! {
                    biased;
                    done = &mut processing => Err(done),
                    _ = async { stop.wait_for(|s| *s).await.is_ok() } => Ok(()),
                    _ = tokio::time::sleep_until(deadline.into()) => Ok(()),
                };
                match give_back {
                    Err(done) => done,
                    Ok(()) => {
                        // (a stop still set, or a deadline passed, fires again at the started
                        // batches that follow: only what is not handed back yet goes)
                        let from = chain
                            .as_mut()
                            .map_or(i + 1, |c| c.withdraw_from(i + 1))
                            .min(handed_back_from);
                        if from < handed_back_from {
                            let until = (handed_back_from * batch_size as usize).min(fetched);
                            let back = jobs[from * batch_size as usize..until].to_vec();
                            super::prefetch::hand_back(&engine, &worker, back).await;
                            handed_back_from = from;
                        }
                        processing.await
                    }
                }
            };
            let Some(mut done) = done else {
                // abandoned by a shutdown: what has not started goes back (what has, expires)
                let from = chain.as_mut().map_or(i + 1, |c| c.withdraw_from(i + 1));
                if from < handed_back_from {
                    let (a, b) = (
                        from * batch_size as usize,
                        (handed_back_from * batch_size as usize).min(fetched),
                    );
                    super::prefetch::hand_back(&engine, &worker, jobs[a..b].to_vec()).await;
                }
                break 'cycle;
            };
            last_handled = handling.elapsed();
            let overrun = done.overrun.take();
            if let Some(overrun) = &overrun {
                overrun.reserve(&worker);
                // its handler still runs: the batches queued after it do not start when it ends
                // (one that started meanwhile runs on, as any started batch)
                if let Some(c) = chain.as_mut() {
                    c.withdraw_from(i + 1);
                }
            }
            let all_completed = done.rows.iter().all(|r| r.status == "completed");
            if done.rows.is_empty() {
                // settled already (a transactional batch commits its own completion)
            } else if may_carry && all_completed && !worker.is_stopping() {
                // carried only if the next claim goes out at once (checked below)
                carried = Some(done);
            } else if chain.is_some() && overrun.is_none() && last_handled < LOCAL_QUEUE_LINGER {
                if lingering.is_empty() {
                    lingering_since = Instant::now();
                }
                lingering.push(done);
                if lingering_since.elapsed() >= LOCAL_QUEUE_LINGER || i + 1 == batches.len() {
                    for done in lingering.drain(..) {
                        write_back(&worker, &tx, &unsettled, done).await;
                    }
                }
            } else {
                for done in lingering.drain(..).chain(Some(done)) {
                    write_back(&worker, &tx, &unsettled, done).await;
                }
            }
            if let Some(overrun) = overrun {
                overrun.hold(&engine, &worker).await;
            }
        }
        drop(chain);
        for done in lingering.drain(..) {
            write_back(&worker, &tx, &unsettled, done).await;
        }
        if ahead.is_none() {
            let delay = next_delay(&engine, &worker, fetched, asked).await;
            if !delay.is_zero() {
                if let Some(done) = carried.take() {
                    write_back(&worker, &tx, &unsettled, done).await;
                }
            }
            wait(&worker, started, delay).await;
        }
    }
    // held jobs go back to the queue before this loop reports stopped
    if let Some(a) = ahead.take() {
        a.release().await;
    }
    if let Some(done) = carried.take() {
        write_back(&worker, &tx, &unsettled, done).await;
    }
    drop(tx);
    // the last batch is written back before this loop reports stopped
    // (every permit: a batch still being written holds one)
    let _ = unsettled.acquire_many(unsettled_permits).await;
    worker.with_info(|i| i.status = WorkerStatus::Stopped);
}

/// Hand `done` to the settler, which writes it while this loop claims its next batch; waits
/// while the previous batch is still being written.
pub(super) async fn write_back(
    worker: &Arc<Worker>,
    tx: &super::settler::SettleSender,
    unsettled: &Arc<tokio::sync::Semaphore>,
    done: Handled,
) {
    let permit = unsettled.clone().acquire_owned().await.ok();
    let _ = tx.send(super::settler::Settled {
        worker: worker.clone(),
        batch: done.batch,
        started_ms: done.started_ms,
        rows: done.rows,
        permit,
    });
}
/// One handler call for `jobs` (`call`: its batch id and how it starts; a transactional batch is
/// never chained and starts its own).
async fn process(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    jobs: &[ClaimedJob],
    held: Duration,
    call: (u64, Dispatch),
) -> Option<Handled> {
    if worker.options.transactional {
        return super::transaction::process(engine, worker, table, jobs).await;
    }
    let per_job_results = worker.options.per_job_results;
    handle(engine, worker, table, jobs, None, held, call, |v| {
        outcome::batch_rows(jobs, &v, per_job_results)
    })
    .await
}

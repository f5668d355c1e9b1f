//! `prefetch` for `work()`: a loop claims its next batch while the handler runs, so the handler
//! never waits on a claim's round trip. Off unless asked (pg-boss's loop: claim, handle, settle,
//! wait, claim).
//!
//! The claim ahead is a task of its own (`claim_ahead`) that keeps pg-boss's cadence (it claims
//! when the loop would have: at once while bursting, else once the polling interval since the
//! last claim has passed, or on a wake-up) and then holds what it claimed until the loop takes
//! it. Its bounds:
//!
//! - at most `prefetch` jobs (one batch's worth for `true`) per loop; beyond `batchSize` they are
//!   a local queue, claimed in halves, that the loop (`batch::run`) hands out a batch at a time
//!   and whose rest it hands back by the same rules while a batch before it runs;
//! - a held job is already active, so its expiry and heartbeat clocks run from the claim: it is
//!   held no longer than a quarter of its shortest window (`expireInSeconds`, `heartbeatSeconds`),
//!   then handed back (to `created`, its retry count not charged: `started_on` stays null) before
//!   any handler sees it; a loop whose last handler outlasted that share does not claim ahead;
//! - a stop (`stop()`, graceful or not, `offWork()`) hands back what is held at once, even while
//!   the handler still runs; the loop waits for that before it reports stopped.
//!
//! Held jobs are active in the database, which is what `singleton`, `exclusive`,
//! `key_strict_fifo` and `groupConcurrency` count, and they count against
//! `localGroupConcurrency` in this process from their claim: every limit holds. `short` and
//! `stately` queues are refused: their unique index admits one `created` job per key, so handing
//! a held job back could collide with one sent meanwhile.

use super::batch::report;
use super::claim::claim;
use super::options::WorkOptions;
use super::{ClaimedJob, Worker};
use crate::engine::Engine;
use crate::error::{ensure, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Refuse `prefetch` where a hand-back could break the queue's policy (see the module's doc).
pub fn check_policy(options: &WorkOptions, policy: &str) -> Result<()> {
    let asked = crate::js::truthy(options.resolved.get("prefetch"));
    ensure(
        !(asked && matches!(policy, "short" | "stately")),
        format!(
            "prefetch is not available on {policy} queues: a job claimed ahead and handed back could collide with the job of its singleton key queued meanwhile"
        ),
    )
}

/// What a claim ahead came to.
pub(super) enum Held {
    /// Claimed, for the loop to run: when the claim was sent (the jobs' clocks run from it).
    Jobs {
        jobs: Vec<ClaimedJob>,
        claimed_at: Instant,
    },
    /// Claimed nothing, or the claim failed (reported): the loop polls on from `claimed_at`.
    Nothing { claimed_at: Instant },
    /// Held past their share of the window and handed back: the loop claims again itself.
    HandedBack,
    /// The worker is stopping; nothing is held.
    Stopped,
}

/// A claim ahead in progress.
pub(super) struct Ahead {
    take: Option<oneshot::Sender<()>>,
    task: JoinHandle<Held>,
}

impl Ahead {
    /// The jobs claimed ahead (waiting for the claim when it is not done yet).
    pub async fn take(mut self) -> Held {
        if let Some(take) = self.take.take() {
            let _ = take.send(());
        }
        (&mut self.task).await.unwrap_or(Held::Stopped)
    }

    /// Give up the claim ahead: whatever it holds goes back to the queue before this returns.
    pub async fn release(mut self) {
        drop(self.take.take());
        let _ = (&mut self.task).await;
    }
}

/// A quarter of the shortest expiry or heartbeat window of `jobs`: how long they may be held.
pub(super) fn hold_limit(jobs: &[ClaimedJob]) -> Duration {
    let window = jobs
        .iter()
        .map(|j| {
            j.heartbeat_seconds
                .map_or(j.expire_seconds, |h| h.min(j.expire_seconds))
        })
        .fold(f64::INFINITY, f64::min);
    if window.is_finite() {
        Duration::from_secs_f64(window.max(0.0) / 4.0)
    } else {
        Duration::ZERO
    }
}

/// Start claiming up to `limit` jobs ahead for `worker`, `delay` after `since` (pg-boss's wait
/// before its next fetch).
pub(super) fn claim_ahead(
    engine: Arc<Engine>,
    worker: Arc<Worker>,
    since: Instant,
    delay: Duration,
    limit: i64,
) -> Ahead {
    let (take, mut taken_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut stop = worker.stop_signal.subscribe();
        // the same short cut as the loop's own wait: within 100 ms of due is due
        let due = since + delay;
        let mut taken = false;
        if due.saturating_duration_since(Instant::now()) > Duration::from_millis(100) {
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return Held::Stopped,
                    _ = tokio::time::sleep_until(due) => break,
                    _ = worker.wake.notified() => break,
                    r = &mut taken_rx, if !taken => match r {
                        Ok(()) => taken = true,
                        Err(_) => return Held::Stopped,
                    },
                }
            }
        }
        if worker.is_stopping() {
            return Held::Stopped;
        }
        let claimed_at = Instant::now();
        let jobs = match claim(&engine, &worker, limit, None).await {
            Ok(jobs) => jobs,
            Err(err) => {
                report(&engine, &worker, err);
                return Held::Nothing { claimed_at };
            }
        };
        if jobs.is_empty() {
            return Held::Nothing { claimed_at };
        }
        if taken {
            return Held::Jobs { jobs, claimed_at };
        }
        let deadline = claimed_at + hold_limit(&jobs);
        tokio::select! {
            biased;
            r = &mut taken_rx => if r.is_ok() && !worker.is_stopping() {
                return Held::Jobs { jobs, claimed_at };
            },
            _ = stop.wait_for(|s| *s) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
        hand_back(&engine, &worker, jobs).await;
        if worker.is_stopping() {
            Held::Stopped
        } else {
            Held::HandedBack
        }
    });
    Ahead {
        take: Some(take),
        task,
    }
}

/// Return held, never-started `jobs` to the queue as they were claimed (one statement: all or
/// none; if it fails they stay active and are retried after expiry, as after a crash).
pub(super) async fn hand_back(engine: &Engine, worker: &Worker, jobs: Vec<ClaimedJob>) {
    worker.release_groups(&jobs);
    engine
        .metrics
        .handed_back(&worker.name, &worker.id, jobs.len());
    // pg-boss records every job it fetched as active, these too
    engine.spy_active(&worker.name, &jobs);
    let ids: Vec<String> = jobs.into_iter().map(|j| j.id).collect();
    let handed = match engine.queue_info(&worker.name).await {
        Ok(q) => engine.hand_back(&worker.name, &q.table, &ids).await,
        Err(err) => Err(err),
    };
    if let Err(err) = handed {
        report(engine, worker, err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_held_a_quarter_of_their_shortest_window() {
        let mut a = ClaimedJob::with_id("a");
        a.expire_seconds = 8.0;
        let mut b = ClaimedJob::with_id("b");
        b.expire_seconds = 60.0;
        b.heartbeat_seconds = Some(4.0);
        assert_eq!(hold_limit(&[a.clone()]), Duration::from_secs(2));
        assert_eq!(hold_limit(&[a, b]), Duration::from_secs(1));
        assert_eq!(hold_limit(&[]), Duration::ZERO);
    }
}

//! A loop's cadence: how long it waits before its next claim (pg-boss's polling intervals and
//! burst options), and the wait itself.
//!
//! `burstWhenReadyExceeds` on a fresh count: pg-boss decides from the queue cache's `readyCount`,
//! which only the monitor refreshes: a worker started on a full queue polls at its interval for
//! up to a monitor pass (60 s at the defaults) before it bursts. Here the decision is made from
//! what the claim itself saw, the documented meaning kept (keep fetching while more than N jobs
//! are ready, counted as the claim found them: the batch it took plus those still ready after):
//!
//! - a full batch larger than N is proof enough, and costs nothing;
//! - otherwise a bounded count beside the claim (`count_ready`, no further than a margin past N)
//!   says how many are left; the loops of the `work()` call then count that down by what they
//!   claim, and count again only once it no longer exceeds N. Deep queues cost one count per
//!   `COUNT_MARGIN_BATCHES` batches; a queue near N, whose loops poll at their interval, one
//!   count per poll.
//!
//! The cached count still counts too: wherever pg-boss would burst (its cache says more than N),
//! this bursts, so the fresh count only adds the bursts a stale cache misses (the stale start).
//! Either way a burst still needs the last claim to have come back full (pg-boss's guard against
//! spinning on empty fetches).

use super::Worker;
use crate::engine::Engine;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Batches' worth counted past N, so a deep queue is recounted once per that many batches.
const COUNT_MARGIN_BATCHES: i64 = 16;

const UNKNOWN: i64 = i64::MIN;

/// Jobs left ready after the loops' last claims, as last counted less what they claimed since.
pub struct ReadyLeft(AtomicI64);

impl Default for ReadyLeft {
    fn default() -> Self {
        ReadyLeft(AtomicI64::new(UNKNOWN))
    }
}

impl ReadyLeft {
    /// Take `fetched` off what is known to be left; `Some(left before)` when something was.
    fn claimed(&self, fetched: i64) -> Option<i64> {
        let before = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                (v != UNKNOWN).then(|| (v - fetched).max(0))
            })
            .ok()?;
        Some(before)
    }

    fn set(&self, left: i64) {
        self.0.store(left, Ordering::Relaxed);
    }
}

/// Whether more than `n` jobs were ready when the last claim took `fetched` (a full batch).
pub(super) async fn ready_exceeds(engine: &Engine, worker: &Worker, n: i64, fetched: i64) -> bool {
    let cached = engine
        .queues
        .get(&worker.name)
        .is_some_and(|q| q.ready_count > n);
    // where pg-boss bursts (its cached count), so does this: the fresh count only adds the bursts
    // a stale cache misses
    if cached || fetched > n {
        return true;
    }
    if let Some(before) = worker.ready_left.claimed(fetched) {
        if before > n {
            return true;
        }
    }
    let limit = n + 1 + COUNT_MARGIN_BATCHES * worker.options.batch_size.max(1);
    let counted = match engine.queue_info(&worker.name).await {
        Ok(q) => engine.count_ready(&worker.name, &q.table, limit).await,
        Err(err) => Err(err),
    };
    match counted {
        Ok(left) => {
            worker.ready_left.set(left);
            left + fetched > n
        }
        // the count failed (the claim's own errors are reported by the loop): the cache decided,
        // as in pg-boss
        Err(_) => false,
    }
}

/// How long to wait before the next fetch (pg-boss's cadence, burst options included;
/// `burstWhenReadyExceeds` on a fresh count, see above). `asked`: the size of the claim that
/// fetched them (`batchSize`, or a smaller `prefetch` claim ahead), which decides a full batch.
pub(super) async fn next_delay(
    engine: &Engine,
    worker: &Worker,
    fetched: usize,
    asked: i64,
) -> Duration {
    let o = &worker.options;
    let full = fetched as i64 >= asked.min(o.batch_size) && fetched > 0;
    let burst = full
        && ((o.burst_when_batch_full && o.batch_size > 1)
            || match o.burst_when_ready_exceeds {
                Some(n) => ready_exceeds(engine, worker, n, fetched as i64).await,
                None => false,
            });
    if burst {
        return Duration::ZERO;
    }
    let info = engine.queues.get(&worker.name);
    let notify = info.map(|q| q.notify).unwrap_or(false) && engine.listening();
    let ms = if notify {
        o.notify_polling_interval_ms
    } else {
        o.polling_interval_ms
    };
    Duration::from_secs_f64(ms / 1000.0)
}

/// Sleep until `delay` has passed since `since`, or the worker is woken.
pub(super) async fn wait(worker: &Worker, since: Instant, delay: Duration) {
    let elapsed = since.elapsed();
    if delay <= elapsed || delay - elapsed <= Duration::from_millis(100) || worker.is_stopping() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay - elapsed) => {}
        _ = worker.wake.notified() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_counts_down_by_the_claims_until_unknown_is_counted_again() {
        let left = ReadyLeft::default();
        assert_eq!(left.claimed(5), None, "nothing counted yet");
        left.set(12);
        assert_eq!(left.claimed(5), Some(12));
        assert_eq!(left.claimed(5), Some(7));
        assert_eq!(left.claimed(5), Some(2));
        assert_eq!(left.claimed(5), Some(0), "never below zero");
    }
}

//! A handler that outlives its jobs' expiry (pg-boss 12.38's `handler_overrun`).
//!
//! The timeout stops the wait for a handler, not the handler: its jobs are failed and their
//! signals aborted, but one that ignores `job.signal` keeps running. Its worker is held until it
//! returns, so `localConcurrency` (and `concurrency` in `workEach()`) stays a bound on handlers
//! actually running, and the worker does not fetch a retry of the same job beside it. Stopping
//! the worker (`offWork()`, `stop()`) ends the hold: a stopping worker fetches nothing anyway.
//!
//! Every overrun is a `warning` event. With `persistWarnings`, a queue's first overrun is stored
//! at once; the ones after it within the hour are counted, and the hour's end (or `stop()`)
//! stores one row with the count.

use super::handler_call::trim_number;
use super::Worker;
use crate::engine::Engine;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub const WARNING_TYPE: &str = "handler_overrun";

/// How long a queue's tally runs before it is stored, and how many job ids a row samples.
const WINDOW: Duration = Duration::from_secs(60 * 60);
const SAMPLE_JOBS: usize = 10;

/// A handler call still running after its batch timed out.
pub struct Overrun {
    pub(super) pending: BoxFuture<'static, crate::error::Result<String>>,
    pub(super) expire_seconds: f64,
    pub(super) jobs: Vec<super::ClaimedJob>,
    /// The handler call's batch, in hand until its failure is written back.
    pub(super) batch: u64,
}

fn message(queue: &str, expire_seconds: f64) -> String {
    format!(
        "a handler on queue {queue} is still running after exceeding {}s. Its jobs were failed and their signals aborted, and this worker fetches nothing until it returns. Stop the handler on job.signal.",
        trim_number(expire_seconds)
    )
}

impl Overrun {
    /// Keep the jobs' groups' slots (`localGroupConcurrency`) taken while the handler runs, as
    /// the worker itself is: called before the timed-out jobs are handed to be failed, whose
    /// write-back releases them once.
    pub fn reserve(&self, worker: &Worker) {
        worker.hold_groups(&self.jobs);
    }

    /// Warn, then hold `worker` until the handler returns or the worker is stopped; then free what
    /// [`Overrun::reserve`] took. Called once the timed-out jobs have been handed to be failed.
    pub async fn hold(mut self, engine: &Arc<Engine>, worker: &Worker) {
        if !worker.is_stopping() && (&mut self.pending).now_or_never().is_none() {
            self.wait(engine, worker).await;
        }
        worker.release_groups(&self.jobs);
    }

    async fn wait(&mut self, engine: &Arc<Engine>, worker: &Worker) {
        // warned once the jobs are failed, as pg-boss does: they are no longer this worker's
        let written = async {
            while worker
                .with_info(|i| i.in_hand.iter().any(|(b, _)| *b == self.batch))
                .unwrap_or(false)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), written).await;
        let ids: Vec<String> = self.jobs.iter().map(|j| j.id.clone()).collect();
        engine.emit(crate::engine::EngineEvent::Warning {
            message: message(&worker.name, self.expire_seconds),
            data: json!({
                "type": WARNING_TYPE,
                "instance": engine.config.instance.id,
                "queue": worker.name,
                "jobs": ids,
                "expireInSeconds": self.expire_seconds,
            }),
        });
        record(engine, &worker.name, &ids, self.expire_seconds);
        loop {
            if worker.is_stopping() {
                return;
            }
            tokio::select! {
                _ = &mut self.pending => return,
                _ = worker.wake.notified() => {}
                _ = worker.abandon.notified() => return,
            }
        }
    }
}

/// Per queue: the overruns counted since the last stored row.
#[derive(Default)]
pub struct Overruns {
    tallies: Mutex<HashMap<String, Tally>>,
}

struct Tally {
    since_ms: u64,
    count: u64,
    expire_seconds: f64,
    jobs: Vec<String>,
    timer: tokio::task::JoinHandle<()>,
}

fn record(engine: &Arc<Engine>, queue: &str, jobs: &[String], expire_seconds: f64) {
    if !engine.config.persist_warnings {
        return;
    }
    let Ok(mut tallies) = engine.overruns.tallies.lock() else {
        return;
    };
    if let Some(tally) = tallies.get_mut(queue) {
        tally.count += 1;
        tally.expire_seconds = tally.expire_seconds.max(expire_seconds);
        tally.jobs.extend(jobs.iter().cloned());
        let excess = tally.jobs.len().saturating_sub(SAMPLE_JOBS);
        tally.jobs.drain(..excess);
        return;
    }
    let now = super::now_ms();
    let (text, data) = row(engine, queue, now, now, 1, expire_seconds, jobs.to_vec());
    let writer = engine.clone();
    tokio::spawn(async move { writer.store_warning(WARNING_TYPE, text, data).await });
    tallies.insert(queue.to_string(), open_window(engine, queue, now));
}

fn open_window(engine: &Arc<Engine>, queue: &str, since_ms: u64) -> Tally {
    let weak: Weak<Engine> = Arc::downgrade(engine);
    let name = queue.to_string();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(WINDOW).await;
        let Some(engine) = weak.upgrade() else { return };
        // a window that counted nothing closes its tally, so the queue's next overrun is
        // stored at once again
        let now = super::now_ms();
        let closed = take_window(&engine, &name).map(|tally| {
            let reopened = tally.count > 0;
            if reopened {
                if let Ok(mut tallies) = engine.overruns.tallies.lock() {
                    tallies.insert(name.clone(), open_window(&engine, &name, now));
                }
            }
            (tally, reopened)
        });
        if let Some((tally, true)) = closed {
            let (text, data) = tally_row(&engine, &name, tally, now);
            engine.store_warning(WARNING_TYPE, text, data).await;
        }
    });
    Tally {
        since_ms,
        count: 0,
        expire_seconds: 0.0,
        jobs: Vec::new(),
        timer,
    }
}

fn take_window(engine: &Engine, queue: &str) -> Option<Tally> {
    engine.overruns.tallies.lock().ok()?.remove(queue)
}

fn tally_row(engine: &Engine, queue: &str, tally: Tally, until_ms: u64) -> (String, Value) {
    row(
        engine,
        queue,
        tally.since_ms,
        until_ms,
        tally.count,
        tally.expire_seconds,
        tally.jobs,
    )
}

/// On `stop()`, while the pool is open: every open window stores what it counted.
pub async fn flush(engine: &Engine) {
    let queues: Vec<String> = engine
        .overruns
        .tallies
        .lock()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    for queue in queues {
        let Some(tally) = take_window(engine, &queue) else {
            continue;
        };
        tally.timer.abort();
        if tally.count > 0 {
            let (text, data) = tally_row(engine, &queue, tally, super::now_ms());
            engine.store_warning(WARNING_TYPE, text, data).await;
        }
    }
}

/// The stored row for `count` overruns of `queue` between the two instants.
fn row(
    engine: &Engine,
    queue: &str,
    since_ms: u64,
    until_ms: u64,
    count: u64,
    expire_seconds: f64,
    mut jobs: Vec<String>,
) -> (String, Value) {
    jobs.truncate(SAMPLE_JOBS);
    let (since, until) = (
        crate::registry::iso_from_ms(since_ms),
        crate::registry::iso_from_ms(until_ms),
    );
    let text = if count == 1 {
        message(queue, expire_seconds)
    } else {
        format!(
            "{count} handlers on queue {queue} kept running after exceeding their timeout of up to {}s between {since} and {until}. Their jobs were failed and their signals aborted, and each held its worker until it returned. Stop the handler on job.signal.",
            trim_number(expire_seconds)
        )
    };
    let data = json!({
        "type": WARNING_TYPE,
        "instance": engine.config.instance.id,
        "queue": queue,
        "count": count,
        "since": since,
        "until": until,
        "expireInSeconds": expire_seconds,
        "jobs": jobs,
    });
    (text, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_reads_as_pg_boss_words_it() {
        assert_eq!(
            message("emails", 30.0),
            "a handler on queue emails is still running after exceeding 30s. Its jobs were failed and their signals aborted, and this worker fetches nothing until it returns. Stop the handler on job.signal."
        );
    }
}

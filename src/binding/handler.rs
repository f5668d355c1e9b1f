//! A worker's JavaScript side as an engine `JobHandler`. `run(message)` starts the handler and
//! returns at once; index.js reports the outcome JSON through `NativeBoss.handled(batch, text)`
//! (it never lets the handler's rejection or throw escape). `abort(message)` aborts job signals.
//!
//! Why a report call instead of awaiting the returned Promise from Rust: awaiting a Promise
//! through napi attaches two new JS functions to it per call, a measurable share of a per-job
//! handler's cost in `workEach()`.

use crate::error::{BossError, Result};
use crate::worker::{Chained, JobHandler};
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::oneshot;

/// Weak: a running instance keeps the event loop alive by itself; after `stop()` nothing of the
/// worker holds it.
pub type RunFn = ThreadsafeFunction<String, (), String, Status, false, true>;
pub type AbortFn = ThreadsafeFunction<String, (), String, Status, false, true>;

/// Handler calls awaiting their outcome, by batch id (shared by all workers of an instance), and
/// the batches chained to start after them.
#[derive(Default)]
pub struct Outcomes {
    waiting: Mutex<HashMap<u64, oneshot::Sender<String>>>,
    /// batch id → the batch to start once it reports (`JobHandler::chain`)
    chained: Mutex<HashMap<u64, Link>>,
}

struct Link {
    message: String,
    started: Arc<OnceLock<Instant>>,
}

impl Outcomes {
    /// Deliver the outcome of `batch`; the run message of the batch chained after it, which
    /// JavaScript starts at once, when there is one. A batch nobody waits for any more (timed
    /// out, shut down) starts nothing.
    pub fn deliver(&self, batch: u64, outcome: String) -> Option<String> {
        let sender = self.waiting.lock().ok().and_then(|mut w| w.remove(&batch));
        if sender.is_none_or(|s| s.send(outcome).is_err()) {
            return None;
        }
        // taken and marked started under the lock `unchain` takes: a batch is either taken back
        // or started, never both
        let mut chained = self.chained.lock().ok()?;
        let link = chained.remove(&batch)?;
        let _ = link.started.set(Instant::now());
        Some(link.message)
    }

    fn expect(self: &Arc<Self>, batch: u64) -> (oneshot::Receiver<String>, Expected) {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(batch, tx);
        }
        (
            rx,
            Expected {
                outcomes: self.clone(),
                batch,
            },
        )
    }
}

/// Forgets a batch whose wait ended another way (timeout, shutdown), so its entry never lingers.
struct Expected {
    outcomes: Arc<Outcomes>,
    batch: u64,
}

impl Drop for Expected {
    fn drop(&mut self) {
        if let Ok(mut w) = self.outcomes.waiting.lock() {
            w.remove(&self.batch);
        }
    }
}

pub struct JsHandler {
    run: RunFn,
    abort: AbortFn,
    outcomes: Arc<Outcomes>,
}

impl JsHandler {
    pub fn new(run: RunFn, abort: AbortFn, outcomes: Arc<Outcomes>) -> JsHandler {
        JsHandler {
            run,
            abort,
            outcomes,
        }
    }
}

impl JobHandler for JsHandler {
    fn run(&self, batch: u64, message: String) -> BoxFuture<'static, Result<String>> {
        let (answer, expected) = self.outcomes.expect(batch);
        let status = self
            .run
            .call(message, ThreadsafeFunctionCallMode::NonBlocking);
        Box::pin(async move {
            let _expected = expected;
            if status != Status::Ok {
                return Err(BossError::operational(format!(
                    "handler could not be called: {status}"
                )));
            }
            // The sender goes only when the wait ends otherwise: then nothing reads this.
            answer
                .await
                .map_err(|_| BossError::operational("handler outcome was lost"))
        })
    }

    fn abort(&self, message: String) {
        self.abort
            .call(message, ThreadsafeFunctionCallMode::NonBlocking);
    }

    fn chain(&self, after: u64, batch: u64, message: String) -> Option<Chained> {
        let (answer, expected) = self.outcomes.expect(batch);
        let started = Arc::new(OnceLock::new());
        self.outcomes.chained.lock().ok()?.insert(
            after,
            Link {
                message,
                started: started.clone(),
            },
        );
        Some(Chained {
            outcome: Box::pin(async move {
                let _expected = expected;
                answer
                    .await
                    .map_err(|_| BossError::operational("handler outcome was lost"))
            }),
            started,
        })
    }

    fn unchain(&self, after: u64) -> bool {
        self.outcomes
            .chained
            .lock()
            .map(|mut c| c.remove(&after).is_some())
            .unwrap_or(true)
    }
}

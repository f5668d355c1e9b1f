//! A worker's JavaScript side as an engine `JobHandler`. `run(message)` starts the handler and
//! returns at once; index.js reports the outcome JSON through `NativeBoss.handled(batch, text)`
//! (it never lets the handler's rejection or throw escape). `abort(message)` aborts job signals.
//!
//! Why a report call instead of awaiting the returned Promise from Rust: awaiting a Promise
//! through napi attaches two new JS functions to it per call, a measurable share of a per-job
//! handler's cost in `workEach()`.

use crate::error::{BossError, Result};
use crate::worker::JobHandler;
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Weak: a running instance keeps the event loop alive by itself; after `stop()` nothing of the
/// worker holds it.
pub type RunFn = ThreadsafeFunction<String, (), String, Status, false, true>;
pub type AbortFn = ThreadsafeFunction<String, (), String, Status, false, true>;

/// Handler calls awaiting their outcome, by batch id (shared by all workers of an instance).
#[derive(Default)]
pub struct Outcomes {
    waiting: Mutex<HashMap<u64, oneshot::Sender<String>>>,
}

impl Outcomes {
    /// Deliver the outcome of `batch`; false when nobody waits for it any more (timed out).
    pub fn deliver(&self, batch: u64, outcome: String) -> bool {
        let sender = self.waiting.lock().ok().and_then(|mut w| w.remove(&batch));
        sender.is_some_and(|s| s.send(outcome).is_ok())
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
}

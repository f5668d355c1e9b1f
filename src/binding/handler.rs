//! A worker's JavaScript side as an engine `JobHandler`: `run(message)` resolves with the outcome
//! JSON (index.js never lets it reject or throw), `abort(message)` aborts job signals.

use crate::error::{BossError, Result};
use crate::worker::JobHandler;
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use std::sync::Arc;

/// Weak: a running instance keeps the event loop alive by itself; after `stop()` nothing of the
/// worker holds it.
pub type RunFn = ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;
pub type AbortFn = ThreadsafeFunction<String, (), String, Status, false, true>;

pub struct JsHandler {
    run: Arc<RunFn>,
    abort: AbortFn,
}

impl JsHandler {
    pub fn new(run: RunFn, abort: AbortFn) -> JsHandler {
        JsHandler {
            run: Arc::new(run),
            abort,
        }
    }
}

impl JobHandler for JsHandler {
    fn run(&self, message: String) -> BoxFuture<'static, Result<String>> {
        let run = self.run.clone();
        Box::pin(async move {
            let promise = run.call_async_catch(message).await.map_err(|e| {
                BossError::operational(format!("handler could not be called: {}", e.reason))
            })?;
            match promise.await {
                Ok(text) => Ok(text),
                // The handler's Promise was garbage-collected unsettled: nothing can resolve it any
                // more, which is a handler that never settles; the worker's expiry timeout decides.
                Err(e) if e.reason.contains("canceled") => futures_util::future::pending().await,
                Err(e) => Err(BossError::operational(e.reason.to_string())),
            }
        })
    }

    fn abort(&self, message: String) {
        self.abort
            .call(message, ThreadsafeFunctionCallMode::NonBlocking);
    }
}

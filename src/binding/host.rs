//! The instance's JavaScript side (lib/host.js) as the engine's `TimekeeperHost` and
//! `VitalsSource`. index.js passes one function `(messageJson) => Promise<string>` that never
//! rejects: `{ "ok": ... }` or `{ "err": "message" }`. Messages: `{ type: 'evaluate', request }`
//! (lib/recurrence.js `evaluatePass`), `{ type: 'now' }`, `{ type: 'sleep', chain, ms }`,
//! `{ type: 'attach' }` and `{ type: 'detach' }` (the `clock` option), `{ type: 'vitals' }` (heap
//! and event loop figures for the registry).

use crate::error::{BossError, Result};
use crate::schedule::TimekeeperHost;
use crate::vitals::VitalsSource;
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use serde_json::{json, Value};
use std::sync::Arc;

/// Weak, as every callback of an instance: a pending clock timer must not hold the process open.
pub type HostFn = ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;

pub struct JsHost {
    func: Arc<HostFn>,
}

impl JsHost {
    pub fn new(func: HostFn) -> JsHost {
        JsHost {
            func: Arc::new(func),
        }
    }

    fn ask(&self, message: Value) -> BoxFuture<'static, Result<Value>> {
        let func = self.func.clone();
        Box::pin(async move {
            let failed =
                |reason: String| BossError::operational(format!("pg-boss-native host: {reason}"));
            let promise = func
                .call_async_catch(message.to_string())
                .await
                .map_err(|e| failed(e.reason))?;
            let text = promise.await.map_err(|e| failed(e.reason))?;
            let mut reply: Value = serde_json::from_str(&text)?;
            if let Some(message) = reply.get("err").and_then(Value::as_str) {
                return Err(BossError::operational(message.to_string()));
            }
            Ok(reply.get_mut("ok").map(Value::take).unwrap_or(Value::Null))
        })
    }
}

impl TimekeeperHost for JsHost {
    fn evaluate(&self, request: Value) -> BoxFuture<'static, Result<Value>> {
        self.ask(json!({ "type": "evaluate", "request": request }))
    }

    fn now(&self) -> BoxFuture<'static, Result<f64>> {
        let reply = self.ask(json!({ "type": "now" }));
        Box::pin(async move {
            reply
                .await?
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| BossError::operational("clock.now() did not return a number"))
        })
    }

    fn sleep(&self, chain: &'static str, ms: f64) -> BoxFuture<'static, Result<()>> {
        let reply = self.ask(json!({ "type": "sleep", "chain": chain, "ms": ms }));
        Box::pin(async move { reply.await.map(|_| ()) })
    }

    fn attach(&self) -> BoxFuture<'static, Result<()>> {
        let reply = self.ask(json!({ "type": "attach" }));
        Box::pin(async move { reply.await.map(|_| ()) })
    }

    fn detach(&self) -> BoxFuture<'static, Result<()>> {
        let reply = self.ask(json!({ "type": "detach" }));
        Box::pin(async move { reply.await.map(|_| ()) })
    }
}

impl VitalsSource for JsHost {
    fn sample(&self) -> BoxFuture<'static, Value> {
        let reply = self.ask(json!({ "type": "vitals" }));
        // a sample the JavaScript side cannot give is null figures, never a failed heartbeat
        Box::pin(async move { reply.await.unwrap_or(Value::Null) })
    }
}

//! The caller's `password` function as the engine's `PasswordProvider`. index.js wraps it in a
//! function `(paramsJson) => Promise<string>` that always resolves, with `{ "ok": "..." }`,
//! `{ "ok": null }` (the function returned undefined) or `{ "err": "message" }`.

use crate::connection::PasswordProvider;
use crate::error::{BossError, Result};
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use std::sync::Arc;

pub type PasswordFn = ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;

pub struct JsPassword {
    func: Arc<PasswordFn>,
}

impl JsPassword {
    pub fn new(func: PasswordFn) -> JsPassword {
        JsPassword {
            func: Arc::new(func),
        }
    }
}

impl PasswordProvider for JsPassword {
    fn password(&self, params: serde_json::Value) -> BoxFuture<'static, Result<Option<String>>> {
        let func = self.func.clone();
        Box::pin(async move {
            let failed = |reason: String| {
                BossError::operational(format!("password function failed: {reason}"))
            };
            let promise = func
                .call_async_catch(params.to_string())
                .await
                .map_err(|e| failed(e.reason))?;
            let text = promise.await.map_err(|e| failed(e.reason))?;
            let reply: serde_json::Value = serde_json::from_str(&text)?;
            if let Some(message) = reply.get("err").and_then(|m| m.as_str()) {
                return Err(BossError::operational(message.to_string()));
            }
            Ok(reply.get("ok").and_then(|p| p.as_str()).map(str::to_string))
        })
    }
}

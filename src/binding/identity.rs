//! The caller's `ssl.checkServerIdentity` as the engine's `IdentityCheck`. index.js wraps it in a
//! function `(host, certificateHex) => Promise<string>` that always resolves, with `{}` (the
//! function returned nothing: the certificate is good for the host) or `{ "err": message, "code" }`.

use crate::connection::tls::IdentityCheck;
use crate::error::{BossError, Result};
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use std::sync::Arc;

pub type IdentityFn = ThreadsafeFunction<
    FnArgs<(String, String)>,
    Promise<String>,
    FnArgs<(String, String)>,
    Status,
    false,
    true,
>;

pub struct JsIdentityCheck {
    func: Arc<IdentityFn>,
}

impl JsIdentityCheck {
    pub fn new(func: IdentityFn) -> JsIdentityCheck {
        JsIdentityCheck {
            func: Arc::new(func),
        }
    }
}

impl IdentityCheck for JsIdentityCheck {
    fn check(&self, host: String, certificate: Vec<u8>) -> BoxFuture<'static, Result<()>> {
        let func = self.func.clone();
        Box::pin(async move {
            let failed = |reason: String| {
                BossError::operational(format!("ssl.checkServerIdentity failed: {reason}"))
            };
            let promise = func
                .call_async_catch(FnArgs {
                    data: (host, hex::encode(&certificate)),
                })
                .await
                .map_err(|e| failed(e.reason))?;
            let text = promise.await.map_err(|e| failed(e.reason))?;
            let reply: serde_json::Value = serde_json::from_str(&text)?;
            match reply.get("err").and_then(|m| m.as_str()) {
                None => Ok(()),
                Some(message) => Err(match reply.get("code").and_then(|c| c.as_str()) {
                    Some(code) => BossError::coded(code, message),
                    None => BossError::operational(message),
                }),
            }
        })
    }
}

//! A JavaScript `executeSql` as an engine `Executor`. index.js wraps the user's `db` in a function
//! `(sql, paramsJson) => Promise<string>` that always resolves, with `{ rows: [[...], ...] }`
//! (cells as text) or `{ error: { message, code } }`, so driver errors keep their SQLSTATE.

use crate::db::{Executor, Param, Row};
use crate::error::{BossError, Result};
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;

pub type ExecuteSqlFn = ThreadsafeFunction<
    FnArgs<(String, Option<String>)>,
    Promise<String>,
    FnArgs<(String, Option<String>)>,
    Status,
    false,
    true,
>;

pub struct JsExecutor {
    func: ExecuteSqlFn,
}

impl JsExecutor {
    pub fn new(func: ExecuteSqlFn) -> JsExecutor {
        JsExecutor { func }
    }

    async fn run(&self, sql: &str, params: Option<String>) -> Result<Vec<Row>> {
        let promise = self
            .func
            .call_async_catch(FnArgs {
                data: (sql.to_string(), params),
            })
            .await
            .map_err(|e| BossError::operational(format!("executeSql failed: {}", e.reason)))?;
        let text = promise
            .await
            .map_err(|e| BossError::operational(format!("executeSql failed: {}", e.reason)))?;
        let value: serde_json::Value = serde_json::from_str(&text)?;
        if let Some(err) = value.get("error") {
            let message = err
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("executeSql failed")
                .to_string();
            let code = err.get("code").and_then(|c| c.as_str()).map(str::to_string);
            return Err(BossError::database(code, message));
        }
        let rows = value
            .get("rows")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|row| {
                row.as_array()
                    .map(|cells| {
                        cells
                            .iter()
                            .map(|c| c.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect())
    }
}

impl Executor for JsExecutor {
    fn query<'a>(&'a self, sql: &'a str, params: &'a [Param]) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let params = serde_json::to_string(params)?;
            self.run(sql, Some(params)).await
        })
    }

    fn batch<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.run(sql, None).await.map(|_| ()) })
    }
}

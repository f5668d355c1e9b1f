//! A JavaScript `executeSql` as an engine `Executor`. index.js wraps the user's `db` in a function
//! `(sql, paramsJson) => Promise<string>` that always resolves, with `{ rows: [[...], ...] }`
//! (cells as text) or `{ error: { message, code } }`, so driver errors keep their SQLSTATE.

use crate::db::{Executor, Param, Row};
use crate::error::{BossError, Result};
use crate::worker::transaction::{HandlerTx, TransactionOpener};
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use std::sync::Arc;

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
        reply_rows(&text)
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

    fn script_rows<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move { self.run(sql, None).await })
    }
}

/// A caller's `db.beginTransaction()` as the engine's `TransactionOpener`. index.js wraps it in a
/// function `(op, id, sql, paramsJson) => Promise<string>` that never rejects: `begin` opens one
/// (`{ id }`), `query` runs a statement in transaction `id` (`{ rows }`), `commit` and `rollback`
/// settle it (`{}`); any failure is `{ error: { message, code } }`.
pub type TransactionFn = ThreadsafeFunction<
    FnArgs<(String, i64, Option<String>, Option<String>)>,
    Promise<String>,
    FnArgs<(String, i64, Option<String>, Option<String>)>,
    Status,
    false,
    true,
>;

/// The reply of an `executeSql`-style call (`{ rows }` or `{ error }`, see index.js's wrappers)
/// as rows of text cells, or its error with the driver's SQLSTATE.
fn reply_rows(text: &str) -> Result<Vec<Row>> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    if let Some(err) = value.get("error") {
        let message = err
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("executeSql failed")
            .to_string();
        let code = err.get("code").and_then(|c| c.as_str()).map(str::to_string);
        return Err(BossError::database(code, message));
    }
    Ok(value.get("rows").map(text_rows).unwrap_or_default())
}

/// JSON rows (`[[cell, ...], ...]`, each cell a string or null) as the engine's text rows; a row
/// or cell of another shape reads as empty or NULL.
fn text_rows(rows: &serde_json::Value) -> Vec<Row> {
    let Some(rows) = rows.as_array() else {
        return Vec::new();
    };
    rows.iter()
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
        .collect()
}

async fn call_transaction(
    func: &TransactionFn,
    op: &str,
    id: i64,
    sql: Option<&str>,
    params: Option<String>,
) -> Result<String> {
    let promise = func
        .call_async_catch(FnArgs {
            data: (op.to_string(), id, sql.map(str::to_string), params),
        })
        .await
        .map_err(|e| BossError::operational(format!("beginTransaction failed: {}", e.reason)))?;
    promise
        .await
        .map_err(|e| BossError::operational(format!("beginTransaction failed: {}", e.reason)))
}

pub struct JsTransactionOpener {
    func: Arc<TransactionFn>,
}

impl JsTransactionOpener {
    pub fn new(func: TransactionFn) -> JsTransactionOpener {
        JsTransactionOpener {
            func: Arc::new(func),
        }
    }
}

impl TransactionOpener for JsTransactionOpener {
    fn begin(&self) -> BoxFuture<'static, Result<Arc<dyn HandlerTx>>> {
        let func = self.func.clone();
        Box::pin(async move {
            let text = call_transaction(&func, "begin", 0, None, None).await?;
            reply_rows(&text)?;
            let value: serde_json::Value = serde_json::from_str(&text)?;
            let id = value
                .get("id")
                .and_then(|v| v.as_i64())
                .ok_or_else(|| BossError::operational("beginTransaction() gave no transaction"))?;
            Ok(Arc::new(JsTransaction {
                db: Arc::new(JsTransactionDb { func, id }),
            }) as Arc<dyn HandlerTx>)
        })
    }
}

/// Statements in one adapter transaction.
struct JsTransactionDb {
    func: Arc<TransactionFn>,
    id: i64,
}

impl Executor for JsTransactionDb {
    fn query<'a>(&'a self, sql: &'a str, params: &'a [Param]) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let params = serde_json::to_string(params)?;
            let text =
                call_transaction(&self.func, "query", self.id, Some(sql), Some(params)).await?;
            reply_rows(&text)
        })
    }

    fn batch<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let text = call_transaction(&self.func, "query", self.id, Some(sql), None).await?;
            reply_rows(&text).map(|_| ())
        })
    }
}

struct JsTransaction {
    db: Arc<JsTransactionDb>,
}

impl HandlerTx for JsTransaction {
    fn db(&self) -> crate::db::SharedExecutor {
        self.db.clone()
    }

    fn commit(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let text = call_transaction(&self.db.func, "commit", self.db.id, None, None).await?;
            reply_rows(&text).map(|_| ())
        })
    }

    fn rollback(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = call_transaction(&self.db.func, "rollback", self.db.id, None, None).await;
        })
    }

    fn adapter_id(&self) -> Option<u64> {
        u64::try_from(self.db.id).ok()
    }
}

//! `transactional: true`: the handler's SQL and the batch's completion commit or roll back
//! together, as in pg-boss 12.38.
//!
//! The batch is claimed as usual (outside the transaction, so the jobs stay visibly `active` and
//! expiry, heartbeats and other instances' supervisors treat them as any other). Then a pool
//! connection is held in a transaction, bounded by the database ([`plans::transaction`]), and the
//! handler gets `(jobs, tx)`, `tx.executeSql` running on that connection. A handler that returns
//! has the batch completed in the transaction and committed; one that throws, times out or is
//! cut off by a shutdown has the transaction rolled back and its jobs failed on a pooled
//! connection, with the usual retry accounting.

use super::batch::report;
use super::handler_call::{handle, Dispatch, Handled};
use super::outcome::{self, SettleRow};
use super::{now_ms, ClaimedJob, Worker};
use crate::connection::pinned::PinnedConnection;
use crate::db::{Executor, SharedExecutor};
use crate::engine::{Engine, EngineEvent};
use crate::error::{BossError, ErrorKind, Result};
use crate::plans;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Added to the batch's longest `expireInSeconds` for the default bound, so that the server only
/// ends the transaction once the process has failed to (the handler timeout fires first, then
/// the rollback's own deadline).
const DEFAULT_BOUND_MARGIN_MS: i64 = 5000;

/// How long a failed probe of the timeout settings is remembered before a batch asks again.
const PROBE_COOLDOWN: Duration = Duration::from_secs(60);

/// PostgreSQL: current transaction is aborted, commands ignored until end of transaction block.
const TRANSACTION_ABORTED: &str = "25P02";

/// A transaction a handler runs in: on the engine's pool, or opened by a caller's `db` adapter
/// through its `beginTransaction()`.
pub trait HandlerTx: Send + Sync {
    /// Where the engine's own statements in the transaction run (the bound, the completion).
    fn db(&self) -> SharedExecutor;
    fn commit(&self) -> BoxFuture<'_, Result<()>>;
    /// Idempotent; never fails.
    fn rollback(&self) -> BoxFuture<'_, ()>;
    /// The adapter transaction's id on the JavaScript side (`None` on the engine's pool).
    fn adapter_id(&self) -> Option<u64>;
}

/// A caller's `db` adapter that implements `beginTransaction()`.
pub trait TransactionOpener: Send + Sync {
    fn begin(&self) -> BoxFuture<'static, Result<Arc<dyn HandlerTx>>>;
}

struct NativeTx(Arc<PinnedConnection>);

impl HandlerTx for NativeTx {
    fn db(&self) -> SharedExecutor {
        self.0.clone()
    }
    fn commit(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.0.commit())
    }
    fn rollback(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.0.rollback())
    }
    fn adapter_id(&self) -> Option<u64> {
        None
    }
}

/// Open handler transactions by id (what `tx.executeSql` names), the caller's adapter when it
/// can open transactions, and the timeout probe's memo.
#[derive(Default)]
pub struct Transactions {
    open: Mutex<HashMap<u64, Arc<PinnedConnection>>>,
    next: AtomicU64,
    probe: tokio::sync::Mutex<Probe>,
    opener: Mutex<Option<Arc<dyn TransactionOpener>>>,
}

#[derive(Default)]
struct Probe {
    /// `Some(setting)` once answered (`Some(None)`: the server has neither).
    answer: Option<Option<&'static str>>,
    retry_at: Option<Instant>,
    warned: bool,
}

impl Transactions {
    /// The constructor `db` implements `beginTransaction()`: transactional workers use it.
    pub fn set_opener(&self, opener: Arc<dyn TransactionOpener>) {
        if let Ok(mut o) = self.opener.lock() {
            *o = Some(opener);
        }
    }

    fn opener(&self) -> Option<Arc<dyn TransactionOpener>> {
        self.opener.lock().ok().and_then(|o| o.clone())
    }

    /// The transaction `id`, while it is open.
    pub fn get(&self, id: u64) -> Option<Arc<PinnedConnection>> {
        self.open.lock().ok().and_then(|o| o.get(&id).cloned())
    }

    fn register(&self, tx: Arc<PinnedConnection>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, tx);
        }
        id
    }

    fn forget(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    /// How many are open now (tests, and nothing should be left after a batch).
    pub fn open_count(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }
}

impl Engine {
    /// `tx.executeSql(text, values)` of the handler holding transaction `id`.
    pub async fn transaction_sql(&self, id: u64, sql: &str, values: Vec<Value>) -> Result<String> {
        let tx = self
            .transactions
            .get(id)
            .ok_or_else(|| BossError::operational("Transaction is already settled"))?;
        tx.execute_raw(sql, values).await
    }

    /// The setting this server bounds a transaction with, asked once (on a pooled connection, off
    /// the transaction: a probe that fails must cost the bound, not the batch).
    async fn transaction_timeout_setting(&self) -> Option<&'static str> {
        let mut probe = self.transactions.probe.lock().await;
        if let Some(answer) = probe.answer {
            return answer;
        }
        if probe.retry_at.is_some_and(|t| Instant::now() < t) {
            return None;
        }
        let asked = async {
            let db = self.instance_db()?;
            let rows = db.query(&plans::transaction::probe_settings(), &[]).await?;
            let known = rows.first().and_then(|row| {
                plans::transaction::TIMEOUT_SETTINGS
                    .iter()
                    .zip(row.iter())
                    .find(|(_, value)| value.is_some())
                    .map(|(name, _)| *name)
            });
            if let Some(name) = known {
                let params = [Some(name.to_string()), Some("0".to_string())];
                db.query(&plans::transaction::rehearse_bound(), &params)
                    .await?;
            }
            Ok::<_, BossError>(known)
        }
        .await;
        match asked {
            Ok(known) => {
                probe.answer = Some(known);
                known
            }
            Err(err) => {
                probe.retry_at = Some(Instant::now() + PROBE_COOLDOWN);
                if !probe.warned {
                    probe.warned = true;
                    self.emit(EngineEvent::Warning {
                        message: format!("could not ask this server which transaction timeout it supports, or read the bound it already carries, so transactional handlers run with no database-side bound until the next probe: {}", err.message),
                        data: json!({ "type": "transaction_timeout_probe" }),
                    });
                }
                None
            }
        }
    }

    /// Open the transaction a batch's handler runs in, bounded by `bound_ms` (0: unbounded):
    /// the transaction and, on the engine's pool, the id `tx.executeSql` names it by.
    async fn begin_handler_transaction(
        &self,
        bound_ms: i64,
    ) -> Result<(Arc<dyn HandlerTx>, Option<u64>)> {
        let setting = if bound_ms > 0 {
            self.transaction_timeout_setting().await
        } else {
            None
        };
        let (tx, id): (Arc<dyn HandlerTx>, Option<u64>) = if self.config.external_db {
            let opener = self
                .transactions
                .opener()
                .ok_or_else(|| BossError::assertion(NO_TRANSACTIONS))?;
            (opener.begin().await?, None)
        } else {
            let pool = self
                .native_pool()
                .ok_or_else(|| BossError::assertion("Database connection is not opened"))?;
            let pinned = Arc::new(pool.begin().await?);
            let id = self.transactions.register(pinned.clone());
            (Arc::new(NativeTx(pinned)), Some(id))
        };
        if let Some(setting) = setting {
            let params = [Some(setting.to_string()), Some(bound_ms.to_string())];
            if let Err(err) = tx
                .db()
                .query(&plans::transaction::apply_bound(), &params)
                .await
            {
                tx.rollback().await;
                if let Some(id) = id {
                    self.transactions.forget(id);
                }
                return Err(err);
            }
        }
        Ok((tx, id))
    }
}

/// pg-boss's refusal of a transactional worker over a `db` without `beginTransaction()`.
const NO_TRANSACTIONS: &str = "transactional workers require a database connection pg-boss can open a transaction on: the built-in pool, or a db adapter implementing beginTransaction";

/// What `work()` refuses for a transactional worker, and the pool-headroom warning (pg-boss
/// 12.38's `transactional_pool_headroom`, emitted only: it is static configuration, not an
/// episode worth a row).
pub fn check_transactional(engine: &Engine, each: bool, local_concurrency: usize) -> Result<()> {
    crate::error::ensure(
        !engine.config.external_db || engine.transactions.opener().is_some(),
        NO_TRANSACTIONS,
    )?;
    crate::error::ensure(
        !each,
        "transactional is not available with workEach(): use work(), whose handler and completion share one transaction per batch",
    )?;
    let Some(pool) = engine.native_pool() else {
        return Ok(());
    };
    let max = pool.counts().max;
    let running: usize = engine
        .workers
        .all()
        .iter()
        .filter(|w| w.options.transactional)
        .count();
    let pinned = running + local_concurrency;
    if pinned >= max {
        engine.emit(EngineEvent::Warning {
            message: format!("transactional workers can hold {pinned} of this pool's {max} connections while their handlers run, leaving nothing for fetches, failures, or maintenance. Raise max above {pinned}, or lower localConcurrency."),
            data: json!({ "type": "transactional_pool_headroom", "max": max, "transactionalWorkers": pinned }),
        });
    }
    Ok(())
}

/// The bound `transactionTimeoutSeconds` sets, or by default the batch's longest expiry plus a
/// margin, in milliseconds.
fn bound_ms(worker: &Worker, jobs: &[ClaimedJob]) -> i64 {
    match worker.options.transaction_timeout_seconds {
        Some(seconds) => seconds.saturating_mul(1000),
        None => {
            let longest = jobs.iter().map(|j| j.expire_seconds).fold(0.0, f64::max);
            (longest * 1000.0) as i64 + DEFAULT_BOUND_MARGIN_MS
        }
    }
}

/// pg-boss's words when the handler's transaction was aborted by a SQL error it swallowed.
fn explain_aborted(message: &str) -> String {
    format!("{message} (the handler left its transaction aborted: let a SQL error raised through tx propagate out of the handler, or isolate the statement with a SAVEPOINT)")
}

fn code_of(err: &BossError) -> Option<&str> {
    match &err.kind {
        ErrorKind::Database { code } => code.as_deref(),
        ErrorKind::Coded { code } => Some(code.as_str()),
        _ => None,
    }
}

/// A failure row's output with the aborted-transaction explanation, when that was the cause.
fn explain_rows(rows: &mut [SettleRow]) {
    for row in rows {
        if row.output.get("code").and_then(Value::as_str) != Some(TRANSACTION_ABORTED) {
            continue;
        }
        if let Some(message) = row.output.get("message").and_then(Value::as_str) {
            let explained = explain_aborted(message);
            row.output["message"] = Value::from(explained);
        }
    }
}

/// How the handler's JavaScript side finds its transaction: an engine transaction id
/// (`tx.executeSql` calls back into the engine), or the id of the adapter transaction JavaScript
/// opened itself (the handler gets the adapter's own `tx.db`, as in pg-boss).
#[derive(Debug, Clone, Copy)]
pub enum TxHandle {
    Native(u64),
    Adapter(u64),
}

/// One transactional batch: begin, handler, then completion and commit, or rollback and fail.
/// `None` when a shutdown abandoned the handler (the shutdown failed the jobs).
pub(super) async fn process(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    jobs: &[ClaimedJob],
) -> Option<Handled> {
    let (tx, id) = match engine
        .begin_handler_transaction(bound_ms(worker, jobs))
        .await
    {
        Ok(opened) => opened,
        Err(err) => {
            report(engine, worker, err.clone());
            let output = outcome::error_output(&err.message);
            return Some(Handled::unstarted(outcome::fail_all(jobs, output, false)));
        }
    };
    let handle_for_js = match (id, tx.adapter_id()) {
        (Some(id), _) => TxHandle::Native(id),
        (None, Some(id)) => TxHandle::Adapter(id),
        (None, None) => TxHandle::Native(0),
    };
    let mut settled_by_handler: Vec<String> = Vec::new();
    let handled = handle(
        engine,
        worker,
        table,
        jobs,
        Some(handle_for_js),
        std::time::Duration::ZERO,
        (super::next_batch_id(), Dispatch::Send),
        |v| {
            if let Some(ids) = v.get("handlerSettled").and_then(Value::as_array) {
                settled_by_handler = ids
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect();
            }
            outcome::batch_rows(jobs, &v, false)
        },
    )
    .await;
    if let Some(id) = id {
        engine.transactions.forget(id);
    }
    let Some(mut done) = handled else {
        tx.rollback().await;
        return None;
    };
    if !done.rows.iter().all(|r| r.status == "completed") {
        // a throw or a timeout: the handler's SQL goes, then the jobs fail as any worker's do
        tx.rollback().await;
        explain_rows(&mut done.rows);
        return Some(done);
    }
    let settling = Instant::now();
    match complete_and_commit(engine, worker, &tx, jobs, &done.rows, &settled_by_handler).await {
        Ok(counts) => {
            let ended = now_ms();
            let took = settling.elapsed();
            engine
                .metrics
                .settled(&worker.name, &worker.id, counts, jobs.len(), took);
            super::settler::written_back(worker, &[done.batch], done.started_ms, ended);
            // committed: the spies see the completions now, as a settler's flush reports them
            engine.spy_settled(&worker.name, true, [(done.batch, done.rows.as_slice())]);
            engine.emit_wip_soon();
            done.rows.clear();
            Some(done)
        }
        Err(err) => {
            tx.rollback().await;
            let message = if code_of(&err) == Some(TRANSACTION_ABORTED) {
                explain_aborted(&err.message)
            } else {
                err.message.clone()
            };
            let mut output = outcome::error_output(&message);
            if let Some(code) = code_of(&err) {
                output["code"] = Value::from(code);
            }
            done.rows = outcome::fail_all(jobs, output, false);
            Some(done)
        }
    }
}

/// Complete the batch inside the handler's transaction and commit, if this worker still holds
/// every job's claim (or the handler settled the job itself through `tx`).
async fn complete_and_commit(
    engine: &Engine,
    worker: &Worker,
    tx: &Arc<dyn HandlerTx>,
    jobs: &[ClaimedJob],
    rows: &[SettleRow],
    settled_by_handler: &[String],
) -> Result<crate::metrics::SettleCounts> {
    let q = engine.queue_info(&worker.name).await?;
    let db = tx.db();
    let counts = engine.settle_rows_on(&db, &worker.name, &q, rows).await?;
    let by_handler = jobs
        .iter()
        .filter(|j| settled_by_handler.contains(&j.id))
        .count() as u64;
    let accounted = counts.completed + by_handler;
    let n = jobs.len() as u64;
    if accounted < n {
        return Err(BossError::operational(format!(
            "{} of {n} job(s) were no longer claimed by this worker when the handler returned, so the transaction was rolled back. Either something took the claim away (expireInSeconds, a heartbeat the database stopped seeing, an operator's cancel() or fail(), another instance's supervisor), or the handler settled the job with SQL of its own instead of complete(), fail(), cancel() or deleteJob() on {{ db: tx }}",
            n - accounted
        )));
    }
    tx.commit().await?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aborted_transaction_is_explained_on_the_failure() {
        let mut rows = vec![SettleRow {
            id: "a".into(),
            retry_count: 0,
            status: "failed",
            output: json!({ "message": "current transaction is aborted", "code": "25P02" }),
        }];
        explain_rows(&mut rows);
        let message = rows[0].output["message"].as_str().unwrap();
        assert!(message.starts_with("current transaction is aborted (the handler left"));
    }

    #[test]
    fn the_timeout_probe_asks_for_both_settings_in_one_statement() {
        assert_eq!(
            plans::transaction::probe_settings(),
            "SELECT current_setting('transaction_timeout', true) AS transaction_timeout, current_setting('idle_in_transaction_session_timeout', true) AS idle_in_transaction_session_timeout"
        );
    }
}

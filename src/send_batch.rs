//! Group commit for `send()`: concurrent sends to one queue on the instance's own pool share
//! INSERT statements. A send that finds no insert of its queue in flight goes out at once (no
//! added wait); sends that arrive while two are in flight wait for one to finish and then go
//! together, as one statement and one commit. Each job gets its id before the insert, so the
//! ids the statement returns say which of the sends were skipped (singleton, throttle).
//!
//! A statement the server refused wrote nothing; its sends then run one by one, so each caller
//! gets its own answer or error as if it had been alone.

use crate::engine::Engine;
use crate::error::Result;
use crate::plans;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Statements in flight per queue: one commits while the next one fills.
const IN_FLIGHT: usize = 2;
/// Rows per statement at most.
const MAX_ROWS: usize = 1000;

/// What a coalesced send learns: `Ok(true)` inserted, `Ok(false)` skipped by a policy or
/// throttle, `Err(None)` run it alone (the shared statement was refused), `Err(Some(e))` the
/// statement's fate is unknown (a connection failure) and so is this send's.
pub type Outcome = std::result::Result<bool, Option<crate::error::BossError>>;

struct Pending {
    row: Value,
    id: String,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct QueueSends {
    in_flight: usize,
    waiting: Vec<Pending>,
}

#[derive(Default)]
pub struct SendBatcher {
    queues: Mutex<HashMap<String, QueueSends>>,
}

/// Where a queue's sends go: its name, physical table, and whether inserts notify.
#[derive(Clone)]
pub struct Target {
    pub name: String,
    pub table: String,
    pub policy: String,
    pub notify: bool,
}

impl SendBatcher {
    /// Insert `row` (whose `id` is `id`) into `target` together with concurrent sends.
    pub async fn send(
        &self,
        engine: &Arc<Engine>,
        target: Target,
        row: Value,
        id: String,
    ) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let start = {
            let Ok(mut queues) = self.queues.lock() else {
                return Err(None);
            };
            let q = queues.entry(target.name.clone()).or_default();
            q.waiting.push(Pending { row, id, reply });
            let start = q.in_flight < IN_FLIGHT;
            if start {
                q.in_flight += 1;
            }
            start
        };
        if start {
            // this send's own statement goes out from here, without a hop to another task; a
            // later batch that is already waiting when it returns is left to a spawned drain
            // (an empty take means another drain took this send and has ended this one's turn)
            let batch = self.take(&target.name);
            if !batch.is_empty() {
                flush(engine, &target, batch).await;
                let next = self.take(&target.name);
                if !next.is_empty() {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        flush(&engine, &target, next).await;
                        drain(engine, target).await;
                    });
                }
            }
        }
        answer.await.unwrap_or(Err(None))
    }

    /// The next statement's sends; none (and one turn in flight fewer) when nothing waits.
    fn take(&self, name: &str) -> Vec<Pending> {
        let Ok(mut queues) = self.queues.lock() else {
            return Vec::new();
        };
        let Some(q) = queues.get_mut(name) else {
            return Vec::new();
        };
        if q.waiting.is_empty() {
            q.in_flight = q.in_flight.saturating_sub(1);
            if q.in_flight == 0 {
                queues.remove(name);
            }
            return Vec::new();
        }
        let n = q.waiting.len().min(MAX_ROWS);
        q.waiting.drain(..n).collect()
    }
}

/// Insert whatever is waiting for `target`, statement after statement, until nothing is.
async fn drain(engine: Arc<Engine>, target: Target) {
    loop {
        let batch = engine.send_batcher.take(&target.name);
        if batch.is_empty() {
            return;
        }
        flush(&engine, &target, batch).await;
    }
}

/// One statement for `batch`, every sender told its outcome.
async fn flush(engine: &Engine, target: &Target, batch: Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    // a panic here must not end the drain without replies (or leave this queue's turn taken)
    let attempt = std::panic::AssertUnwindSafe(insert(engine, target, &batch));
    let result = match futures_util::FutureExt::catch_unwind(attempt).await {
        Ok(result) => result,
        Err(_) => {
            for p in batch {
                let _ = p.reply.send(Err(None));
            }
            return;
        }
    };
    match result {
        Ok(inserted) => {
            for p in batch {
                let _ = p.reply.send(Ok(inserted.contains(&p.id)));
            }
        }
        Err(err) => {
            let refused = err.sqlstate().is_some();
            for p in batch {
                let outcome = if refused { None } else { Some(err.clone()) };
                let _ = p.reply.send(Err(outcome));
            }
        }
    }
}

async fn insert(
    engine: &Engine,
    target: &Target,
    batch: &[Pending],
) -> Result<std::collections::HashSet<String>> {
    let db = engine.instance_db()?;
    let rows: Vec<Value> = batch.iter().map(|p| p.row.clone()).collect();
    // a batched send never names its id (those go alone)
    let may_conflict = crate::jobs::may_conflict(&target.policy, &rows, false);
    let sql = plans::jobs::insert_jobs(
        &engine.config.schema,
        &target.table,
        target.notify,
        true,
        may_conflict,
    );
    let rows = Value::Array(rows).to_string();
    let ids = engine
        .query(&db, &sql, &[Some(target.name.clone()), Some(rows)])
        .await?;
    Ok(ids.into_iter().collect())
}

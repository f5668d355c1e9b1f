//! The `work()` loop: claim a batch, call the handler once with all of it, settle, wait.

use super::cadence::{next_delay, wait};
use super::outcome::{self, SettleRow};
use super::transaction::TxHandle;
use super::{next_batch_id, now_ms, ClaimedJob, Worker, WorkerStatus};
use crate::engine::{Engine, EngineEvent};
use crate::error::BossError;
use crate::js::Object;
use crate::plans;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fetch options a worker claims with.
pub(super) fn claim_options(worker: &Worker, limit: i64) -> Object {
    let o = &worker.options;
    let mut m = Object::new();
    m.insert("batchSize".into(), json!(limit));
    m.insert("includeMetadata".into(), json!(o.include_metadata));
    if let Some(p) = o.min_priority {
        m.insert("minPriority".into(), json!(p));
    }
    if let Some(p) = o.max_priority {
        m.insert("maxPriority".into(), json!(p));
    }
    if let Some(g) = &o.group_concurrency {
        m.insert("groupConcurrency".into(), g.clone());
    }
    m
}

/// The limit `localGroupConcurrency` sets for a group tier.
fn local_limit(config: &Value, tier: Option<&str>) -> i64 {
    match config {
        Value::Number(n) => n.as_i64().unwrap_or(1),
        Value::Object(o) => tier
            .and_then(|t| o.get("tiers").and_then(|tiers| tiers.get(t)))
            .and_then(Value::as_i64)
            .or_else(|| o.get("default").and_then(Value::as_i64))
            .unwrap_or(1),
        _ => 1,
    }
}

fn local_max_limit(config: &Value) -> i64 {
    match config {
        Value::Object(o) => {
            let tiers = o.get("tiers").and_then(Value::as_object);
            let top = tiers
                .map(|t| t.values().filter_map(Value::as_i64).max().unwrap_or(0))
                .unwrap_or(0);
            top.max(o.get("default").and_then(Value::as_i64).unwrap_or(1))
        }
        other => local_limit(other, None),
    }
}

/// Claim up to `limit` jobs for `worker`, recording the fetch. With group limits the loops of one
/// `work()` claim one at a time; with `localGroupConcurrency`, groups already at their limit in
/// this process are not fetched, and jobs fetched over a group's limit are handed back unstarted
/// before any handler sees them.
///
/// `carry` (a batch of this loop's, all completed; only without group limits) is completed in
/// the claim's statement, with whatever other loops of a shared claim bring.
pub(super) async fn claim(
    engine: &Engine,
    worker: &Worker,
    limit: i64,
    carry: Option<Carry>,
) -> Result<Vec<ClaimedJob>, BossError> {
    worker.with_info(|i| i.last_fetched_on = Some(now_ms()));
    let started = Instant::now();
    let _claiming = match &worker.groups {
        Some(gate) => Some(gate.claim.lock().await),
        None => None,
    };
    let mut options = claim_options(worker, limit);
    let local = worker.options.local_group_concurrency.clone();
    if let (Some(config), Some(gate)) = (&local, &worker.groups) {
        let max = local_max_limit(config);
        let full: Vec<String> = gate
            .held
            .lock()
            .map(|held| {
                held.iter()
                    .filter(|(_, n)| **n >= max)
                    .map(|(g, _)| g.clone())
                    .collect()
            })
            .unwrap_or_default();
        if !full.is_empty() {
            options.insert("ignoreGroups".into(), json!(full));
        }
    }
    let mut jobs: Vec<ClaimedJob> = match &worker.claimer {
        Some(shared) => {
            let fetch = |n: usize, carries: Vec<Carry>| {
                let mut options = options.clone();
                options.insert("batchSize".into(), json!(n));
                async move { claim_completing(engine, &worker.name, &options, carries).await }
            };
            shared.claim(limit.max(1) as usize, carry, fetch).await?
        }
        None => {
            claim_completing(engine, &worker.name, &options, carry.into_iter().collect()).await?
        }
    };
    if let (Some(config), Some(gate)) = (&local, &worker.groups) {
        let mut over = Vec::new();
        if let Ok(mut held) = gate.held.lock() {
            jobs.retain(|j| {
                let Some(g) = &j.group_id else { return true };
                let n = held.entry(g.clone()).or_insert(0);
                if *n >= local_limit(config, j.group_tier.as_deref()) {
                    over.push(j.clone());
                    false
                } else {
                    *n += 1;
                    true
                }
            });
        }
        if !over.is_empty() {
            // pg-boss records every job it fetched as active, these too
            engine.spy_active(&worker.name, &over);
            let ids: Vec<String> = over.into_iter().map(|j| j.id).collect();
            let q = engine.queue_info(&worker.name).await?;
            engine.hand_back(&worker.name, &q.table, &ids).await?;
        }
    }
    engine
        .metrics
        .fetched(&worker.name, &worker.id, jobs.len(), started.elapsed());
    Ok(jobs)
}

/// Report a worker failure as pg-boss does: an `error` event naming queue and worker.
pub(super) fn report(engine: &Engine, worker: &Worker, err: BossError) {
    worker.with_info(|i| {
        i.last_error = Some(json!({ "message": err.message }));
        i.last_error_on = Some(now_ms());
    });
    engine.emit(EngineEvent::WorkerError {
        error: err,
        queue: worker.name.clone(),
        worker: worker.id.clone(),
    });
}

/// Keeps the claims of `jobs` alive while their handler runs, when any job uses heartbeats.
/// Jobs `held` claimed before (`prefetch`) get their first beat that much sooner: their
/// heartbeat clock ran from the claim.
pub(super) fn spawn_heartbeat(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    jobs: &[ClaimedJob],
    held: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    let min = jobs
        .iter()
        .filter_map(|j| j.heartbeat_seconds)
        .fold(f64::INFINITY, f64::min);
    if !min.is_finite() {
        return None;
    }
    let every = worker
        .options
        .heartbeat_refresh_seconds
        .unwrap_or(min / 2.0)
        .max(0.05);
    let ids = json!(jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>()).to_string();
    let attempts = json!(jobs.iter().map(ClaimedJob::attempt).collect::<Vec<_>>()).to_string();
    let sql = plans::jobs::touch_jobs(&engine.config.schema, table, true);
    let engine = engine.clone();
    let worker = worker.clone();
    Some(tokio::spawn(async move {
        let every = Duration::from_secs_f64(every);
        let first = tokio::time::Instant::now() + every.saturating_sub(held);
        let mut ticker = tokio::time::interval_at(first, every);
        loop {
            ticker.tick().await;
            let db = match engine.instance_db() {
                Ok(db) => db,
                Err(_) => break,
            };
            let params = [
                Some(worker.name.clone()),
                Some(ids.clone()),
                Some(attempts.clone()),
            ];
            if let Err(err) = engine.query(&db, &sql, &params).await {
                engine.emit(EngineEvent::Error(err));
            }
        }
    }))
}

/// The message that runs the handler for `jobs` (`tx`: the transaction it is handed).
pub(super) fn run_message(batch: u64, jobs: &[ClaimedJob], tx: Option<TxHandle>) -> String {
    let mut s = String::with_capacity(64 + jobs.iter().map(|j| j.json.len() + 1).sum::<usize>());
    s.push_str(&format!("{{\"type\":\"run\",\"batch\":{batch},"));
    match tx {
        Some(TxHandle::Native(id)) => s.push_str(&format!("\"tx\":{id},")),
        Some(TxHandle::Adapter(id)) => s.push_str(&format!("\"adapterTx\":{id},")),
        None => {}
    }
    s.push_str("\"jobs\":[");
    for (i, j) in jobs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&j.json);
    }
    s.push_str("]}");
    s
}

pub(super) fn abort_message(batch: u64, reason: &str) -> String {
    json!({ "type": "abort", "batch": batch, "reason": reason }).to_string()
}

pub(super) enum HandlerResult {
    Outcome(Value),
    /// The batch's timeout passed; the handler call is still running.
    TimedOut(f64, BoxFuture<'static, crate::error::Result<String>>),
    Abandoned,
}

/// Run the handler for `jobs` racing pg-boss's timeout (the batch's longest `expireInSeconds`,
/// less the time the jobs were `held` claimed before it: their expiry runs from the claim) and a
/// shutdown. The jobs' signals are aborted once the race is decided, as in pg-boss.
pub(super) async fn call_handler(
    worker: &Worker,
    batch: u64,
    jobs: &[ClaimedJob],
    tx: Option<TxHandle>,
    held: Duration,
) -> HandlerResult {
    let max_expire = jobs.iter().map(|j| j.expire_seconds).fold(0.0, f64::max);
    let timeout = Duration::from_secs_f64(max_expire.max(1.0)).saturating_sub(held);
    let mut call = worker.handler.run(batch, run_message(batch, jobs, tx));
    let result = tokio::select! {
        r = &mut call => match r {
            Ok(text) => HandlerResult::Outcome(serde_json::from_str(&text).unwrap_or_else(|e| {
                json!({ "kind": "rejected", "error": outcome::error_output(&format!("handler outcome was not JSON: {e}")) })
            })),
            Err(err) => HandlerResult::Outcome(json!({ "kind": "rejected", "error": outcome::error_output(&err.message) })),
        },
        _ = tokio::time::sleep(timeout) => HandlerResult::TimedOut(max_expire, call),
        _ = worker.abandon.notified() => HandlerResult::Abandoned,
    };
    // a settled handler's signals are aborted by the JS side itself (one call into JS per batch)
    let reason = match &result {
        HandlerResult::TimedOut(s, _) => {
            Some(format!("handler execution exceeded {}s", trim_number(*s)))
        }
        HandlerResult::Abandoned => Some(outcome::SHUTDOWN_MESSAGE.to_string()),
        HandlerResult::Outcome(_) => None,
    };
    if let Some(reason) = reason {
        worker.handler.abort(abort_message(batch, &reason));
    }
    result
}

/// `5` rather than `5.0`, as JS prints numbers.
pub(super) fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Handled batches of one loop that may wait to be written back while it handles the next. Two,
/// not one: a settle with failures in it (fail chain) can take longer than a claim, and with one
/// the loop waited on it (batchSize 100, 10% failing: ~27,000 -> ~29,000 jobs/s). Bounded so
/// that a slow database slows the claims instead of the worker taking the whole queue.
const UNSETTLED_BATCHES: u32 = 2;

/// The largest `batchSize` whose completions ride on the next claim.
const CARRY_MAX_BATCH: i64 = 10;

pub async fn run(engine: Arc<Engine>, worker: Arc<Worker>) {
    worker.set_status(WorkerStatus::Active);
    let Some(tx) = worker.take_settler() else {
        return;
    };
    let unsettled = Arc::new(tokio::sync::Semaphore::new(UNSETTLED_BATCHES as usize));
    // A loop may complete a small batch in the statement that claims the next (one commit per
    // cycle instead of two: less server and client time per job, and at batchSize 1 the commit
    // is what a loop waits on); with a shared claimer, the carries of all loops waiting together
    // ride on their one claim. Big batches settle apart, so their write-back runs on another
    // connection while the next batch is handled (measured: at batchSize 100 and 1000 that
    // overlap is worth more than the commit). Group gates settle apart too.
    // a claim ahead is in flight when the next claim would carry: so with `prefetch` none carries
    let prefetch = worker
        .options
        .prefetch
        .map(|n| (n as i64).clamp(1, worker.options.batch_size.max(1)));
    let may_carry = prefetch.is_none()
        && worker.groups.is_none()
        && worker.options.batch_size <= CARRY_MAX_BATCH;
    let mut carried: Option<Handled> = None;
    let mut ahead: Option<super::prefetch::Ahead> = None;
    // how long the last handler took: a loop whose handler outlasts the jobs' holding share
    // would only claim ahead to hand back, so it does not
    let mut last_handled = Duration::ZERO;
    while !worker.is_stopping() {
        let mut started = Instant::now();
        let mut held = Duration::ZERO;
        let mut asked = worker.options.batch_size;
        let table = match engine.queue_info(&worker.name).await {
            Ok(q) => q.table,
            Err(err) => {
                if let Some(done) = carried.take() {
                    write_back(&worker, &tx, &unsettled, done).await;
                }
                report(&engine, &worker, err);
                wait(
                    &worker,
                    started,
                    Duration::from_secs_f64(worker.options.polling_interval_ms / 1000.0),
                )
                .await;
                continue;
            }
        };
        let carry = carried.take().map(|done| Carry {
            worker: worker.clone(),
            tx: tx.clone(),
            unsettled: unsettled.clone(),
            done,
        });
        let claimed = match ahead.take() {
            None => claim(&engine, &worker, worker.options.batch_size, carry).await,
            Some(a) => {
                use super::prefetch::Held;
                match a.take().await {
                    Held::Jobs { jobs, claimed_at } => {
                        if worker.is_stopping() {
                            super::prefetch::hand_back(&engine, &worker, jobs).await;
                            break;
                        }
                        started = claimed_at.into_std();
                        held = claimed_at.elapsed();
                        asked = prefetch.unwrap_or(asked);
                        Ok(jobs)
                    }
                    Held::Nothing { claimed_at } => {
                        started = claimed_at.into_std();
                        Ok(Vec::new())
                    }
                    Held::HandedBack => {
                        claim(&engine, &worker, worker.options.batch_size, carry).await
                    }
                    Held::Stopped => break,
                }
            }
        };
        let jobs = match claimed {
            Ok(jobs) => jobs,
            Err(err) => {
                report(&engine, &worker, err);
                Vec::new()
            }
        };
        let fetched = jobs.len();
        let delay = if fetched > 0 {
            if let Some(limit) = prefetch {
                if !worker.is_stopping() && last_handled <= super::prefetch::hold_limit(&jobs) {
                    let delay = next_delay(&engine, &worker, fetched, asked).await;
                    ahead = Some(super::prefetch::claim_ahead(
                        engine.clone(),
                        worker.clone(),
                        started.into(),
                        delay,
                        limit,
                    ));
                }
            }
            let handling = Instant::now();
            let Some(mut done) = process(&engine, &worker, &table, &jobs, held).await else {
                break;
            };
            last_handled = handling.elapsed();
            let overrun = done.overrun.take();
            if let Some(overrun) = &overrun {
                overrun.reserve(&worker);
            }
            let delay = if ahead.is_some() {
                Duration::ZERO // the claim ahead keeps the cadence
            } else {
                next_delay(&engine, &worker, fetched, asked).await
            };
            let all_completed = done.rows.iter().all(|r| r.status == "completed");
            if done.rows.is_empty() {
                // settled already (a transactional batch commits its own completion)
            } else if may_carry && delay.is_zero() && all_completed && !worker.is_stopping() {
                carried = Some(done);
            } else {
                write_back(&worker, &tx, &unsettled, done).await;
            }
            if let Some(overrun) = overrun {
                overrun.hold(&engine, &worker).await;
            }
            delay
        } else {
            next_delay(&engine, &worker, fetched, asked).await
        };
        if ahead.is_none() {
            wait(&worker, started, delay).await;
        }
    }
    // held jobs go back to the queue before this loop reports stopped
    if let Some(a) = ahead.take() {
        a.release().await;
    }
    if let Some(done) = carried.take() {
        write_back(&worker, &tx, &unsettled, done).await;
    }
    drop(tx);
    // the last batch is written back before this loop reports stopped
    // (every permit: a batch still being written holds one)
    let _ = unsettled.acquire_many(UNSETTLED_BATCHES).await;
    worker.with_info(|i| i.status = WorkerStatus::Stopped);
}

/// A handled batch: its id, when its handler started, and a row per job to write back (none when
/// it is settled already); and its handler, when that outlived the batch's timeout.
pub(super) struct Handled {
    pub batch: u64,
    pub started_ms: u64,
    pub rows: Vec<SettleRow>,
    pub overrun: Option<super::overrun::Overrun>,
}

impl Handled {
    /// A batch failed before its handler was called.
    pub fn unstarted(rows: Vec<SettleRow>) -> Handled {
        Handled {
            batch: next_batch_id(),
            started_ms: now_ms(),
            rows,
            overrun: None,
        }
    }
}

/// Hand `done` to the settler, which writes it while this loop claims its next batch; waits
/// while the previous batch is still being written.
async fn write_back(
    worker: &Arc<Worker>,
    tx: &super::settler::SettleSender,
    unsettled: &Arc<tokio::sync::Semaphore>,
    done: Handled,
) {
    let permit = unsettled.clone().acquire_owned().await.ok();
    let _ = tx.send(super::settler::Settled {
        worker: worker.clone(),
        batch: done.batch,
        started_ms: done.started_ms,
        rows: done.rows,
        permit,
    });
}

/// A batch of one loop's, every job of it completed, to be written back by its next claim.
pub struct Carry {
    worker: Arc<Worker>,
    tx: super::settler::SettleSender,
    unsettled: Arc<tokio::sync::Semaphore>,
    done: Handled,
}

/// Claim with `options`, completing the `carries` in the same statement (one round trip and one
/// commit for both). If that statement fails it wrote nothing: each carry goes to its settler and
/// the claim is retried alone.
async fn claim_completing(
    engine: &Engine,
    name: &str,
    options: &Object,
    carries: Vec<Carry>,
) -> Result<Vec<ClaimedJob>, BossError> {
    if carries.is_empty() {
        return Ok(engine.claim_rows(name, options, None, None, true).await?.1);
    }
    let started = Instant::now();
    let rows: Vec<SettleRow> = carries
        .iter()
        .flat_map(|c| c.done.rows.iter().cloned())
        .collect();
    let payload = super::settle::settle_payload(&rows);
    match engine
        .claim_rows(name, options, None, Some(payload), true)
        .await
    {
        Ok((completed, jobs)) => {
            let took = started.elapsed();
            let landed = completed == rows.len() as u64;
            let mut left = crate::metrics::SettleCounts {
                completed,
                ..Default::default()
            };
            let ended = now_ms();
            for c in &carries {
                let n = c.done.rows.len();
                let counts = super::settler::attribute(&mut left, n as u64, 0);
                engine
                    .metrics
                    .settled(&c.worker.name, &c.worker.id, counts, n, took);
                super::settler::written_back(&c.worker, &[c.done.batch], c.done.started_ms, ended);
                engine.spy_settled(&c.worker.name, landed, [(c.done.batch, &c.done.rows[..])]);
            }
            engine.emit_wip_soon();
            Ok(jobs)
        }
        Err(_) => {
            for c in carries {
                write_back(&c.worker, &c.tx, &c.unsettled, c.done).await;
            }
            Ok(engine.claim_rows(name, options, None, None, true).await?.1)
        }
    }
}

/// One handler call for `jobs`: recorded as in hand, heartbeats kept while it runs, timed, and
/// turned into rows to write back (`to_rows` maps a returned outcome; a timeout fails them all).
/// `tx` is the transaction a transactional handler is handed; `held`, how long the jobs were
/// held claimed before (`prefetch`). `None` when a shutdown abandoned the call: the shutdown
/// failed those jobs itself.
#[allow(clippy::too_many_arguments)]
pub(super) async fn handle(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    jobs: &[ClaimedJob],
    tx: Option<TxHandle>,
    held: Duration,
    to_rows: impl FnOnce(Value) -> Vec<SettleRow>,
) -> Option<Handled> {
    let batch = next_batch_id();
    let started_ms = now_ms();
    worker.with_info(|i| {
        i.in_hand.push((batch, jobs.to_vec()));
        i.last_job_started_on = Some(started_ms);
    });
    engine.emit_wip_soon();
    let heartbeat = spawn_heartbeat(engine, worker, table, jobs, held);
    let started = Instant::now();
    let result = call_handler(worker, batch, jobs, tx, held).await;
    engine
        .metrics
        .handled(&worker.name, &worker.id, started.elapsed());
    if let Some(h) = heartbeat {
        h.abort();
    }
    let mut overrun = None;
    let rows = match result {
        HandlerResult::Abandoned => {
            worker.release_groups(jobs);
            // Claimed while the shutdown was failing the jobs in hand (its claim was in flight):
            // the shutdown never saw this batch, so it is failed here, as it would have been.
            let unseen = worker
                .with_info(|i| {
                    let at = i.in_hand.iter().position(|(b, _)| *b == batch);
                    at.map(|at| i.in_hand.remove(at)).is_some()
                })
                .unwrap_or(false);
            if !unseen {
                return None;
            }
            outcome::fail_all(jobs, outcome::shutdown_output(), false)
        }
        HandlerResult::TimedOut(seconds, pending) => {
            overrun = Some(super::overrun::Overrun {
                pending,
                expire_seconds: seconds,
                jobs: jobs.to_vec(),
                batch,
            });
            outcome::fail_all(
                jobs,
                outcome::error_output(&format!(
                    "handler execution exceeded {}s",
                    trim_number(seconds)
                )),
                false,
            )
        }
        HandlerResult::Outcome(v) => to_rows(v),
    };
    Some(Handled {
        batch,
        started_ms,
        rows,
        overrun,
    })
}

async fn process(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    jobs: &[ClaimedJob],
    held: Duration,
) -> Option<Handled> {
    if worker.options.transactional {
        return super::transaction::process(engine, worker, table, jobs).await;
    }
    let per_job_results = worker.options.per_job_results;
    handle(engine, worker, table, jobs, None, held, |v| {
        outcome::batch_rows(jobs, &v, per_job_results)
    })
    .await
}

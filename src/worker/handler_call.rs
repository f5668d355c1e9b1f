//! One handler call: the messages that start and abort it in JavaScript, the race against the
//! batch's timeout and a shutdown, and the rows its outcome turns into (`Handled`).

use super::heartbeat::spawn_heartbeat;
use super::outcome::{self, SettleRow};
use super::transaction::TxHandle;
use super::{next_batch_id, now_ms, ClaimedJob, Worker};
use crate::engine::Engine;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How a handler call starts: sent now, or already started in JavaScript after the batch before
/// it (`JobHandler::chain`), at the instant given.
pub(super) enum Dispatch {
    Send,
    Started(BoxFuture<'static, crate::error::Result<String>>, Instant),
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
    dispatch: Dispatch,
) -> HandlerResult {
    let max_expire = jobs.iter().map(|j| j.expire_seconds).fold(0.0, f64::max);
    let timeout = Duration::from_secs_f64(max_expire.max(1.0)).saturating_sub(held);
    let (mut call, since) = match dispatch {
        Dispatch::Send => (
            worker.handler.run(batch, run_message(batch, jobs, tx)),
            Instant::now(),
        ),
        Dispatch::Started(call, at) => (call, at),
    };
    let result = tokio::select! {
        r = &mut call => match r {
            Ok(text) => HandlerResult::Outcome(serde_json::from_str(&text).unwrap_or_else(|e| {
                json!({ "kind": "rejected", "error": outcome::error_output(&format!("handler outcome was not JSON: {e}")) })
            })),
            Err(err) => HandlerResult::Outcome(json!({ "kind": "rejected", "error": outcome::error_output(&err.message) })),
        },
        _ = tokio::time::sleep_until((since + timeout).into()) => HandlerResult::TimedOut(max_expire, call),
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

/// One handler call for `jobs`: recorded as in hand, heartbeats kept while it runs, timed, and
/// turned into rows to write back (`to_rows` maps a returned outcome; a timeout fails them all).
/// `tx` is the transaction a transactional handler is handed; `held`, how long the jobs were
/// held claimed before (`prefetch`). `None` when a shutdown abandoned the call: the shutdown
/// failed those jobs itself. `call`: its batch id and how it starts (`Dispatch::Send` unless a
/// local queue chained it).
#[allow(clippy::too_many_arguments)]
pub(super) async fn handle(
    engine: &Arc<Engine>,
    worker: &Arc<Worker>,
    table: &str,
    jobs: &[ClaimedJob],
    tx: Option<TxHandle>,
    held: Duration,
    (batch, dispatch): (u64, Dispatch),
    to_rows: impl FnOnce(Value) -> Vec<SettleRow>,
) -> Option<Handled> {
    let started = match &dispatch {
        Dispatch::Send => Instant::now(),
        Dispatch::Started(_, at) => *at,
    };
    let started_ms = now_ms().saturating_sub(started.elapsed().as_millis() as u64);
    worker.with_info(|i| {
        i.in_hand.push((batch, jobs.to_vec()));
        i.last_job_started_on = Some(started_ms);
    });
    engine.emit_wip_soon();
    let heartbeat = spawn_heartbeat(engine, worker, table, jobs, held + started.elapsed());
    let result = call_handler(worker, batch, jobs, tx, held, dispatch).await;
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

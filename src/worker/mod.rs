//! Workers: Rust loops that claim jobs, hand them to the JavaScript handler and settle them.
//!
//! `work()` runs `batch::run` (one handler call per batch, pg-boss semantics, `perJobResults`
//! and `Promise.allSettled` output); `workEach()` runs `each::run` (one handler call per job,
//! bounded concurrency, slots refilled as jobs finish, settles coalesced). Both settle through
//! `settle::settle_rows`: one statement per flush whatever the mix of outcomes.

pub mod batch;
pub mod cadence;
pub mod claim;
pub mod claimer;
pub mod each;
pub mod handler_call;
pub mod heartbeat;
pub mod lifecycle;
pub mod local_queue;
pub mod options;
pub mod outcome;
pub mod overrun;
pub mod prefetch;
pub mod settle;
pub mod settler;
pub mod transaction;

use futures_util::future::BoxFuture;
use options::WorkOptions;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The JavaScript side of a worker. Messages are JSON; see index.js `#runner`.
pub trait JobHandler: Send + Sync {
    /// Run the handler for `batch`: `{ type: 'run', batch, jobs: [...] }` → the outcome JSON.
    fn run(&self, batch: u64, message: String) -> BoxFuture<'static, crate::error::Result<String>>;
    /// Abort job signals: `{ type: 'abort', batch, ids?, reason }`. Fire and forget.
    fn abort(&self, message: String);
    /// Queue batch `batch` (its run `message`) to start the moment batch `after` reports its
    /// outcome, with no round trip through the engine between them (a local queue's batches,
    /// see `batch::run`). `None`: this handler does not chain; run it with `run`.
    fn chain(&self, after: u64, batch: u64, message: String) -> Option<Chained> {
        let _ = (after, batch, message);
        None
    }
    /// Take back the batch queued after `after`: true when it had not started (it never will),
    /// false when it did (its `Chained::started` is set).
    fn unchain(&self, after: u64) -> bool {
        let _ = after;
        true
    }
}

/// A batch queued to start after another (`JobHandler::chain`): its outcome, and when it started.
pub struct Chained {
    pub outcome: BoxFuture<'static, crate::error::Result<String>>,
    pub started: Arc<std::sync::OnceLock<std::time::Instant>>,
}

/// A job as claimed, with what the worker needs to time, fence and settle it.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: String,
    pub retry_count: i64,
    pub expire_seconds: f64,
    pub heartbeat_seconds: Option<f64>,
    pub group_id: Option<String>,
    pub group_tier: Option<String>,
    pub json: String,
}

impl ClaimedJob {
    /// A claimed job from its row of [`crate::plans::jobs::CLAIM_COLUMNS`] (text columns), with
    /// its place in claim order. Its JSON is `Job<T>` (plus the metadata fields when the row has
    /// them) in pg-boss's key order, as JavaScript will read it.
    pub fn from_columns(row: &[Option<String>]) -> Option<(i64, ClaimedJob)> {
        let col = |i: usize| row.get(i).and_then(Option::as_deref);
        let pos = col(0)?.parse::<i64>().ok()?;
        let id = col(1)?.to_string();
        let retry_count = col(4)?.parse::<i64>().ok()?;
        let expire = col(5).and_then(|v| v.parse::<i64>().ok());
        let heartbeat = col(6).and_then(|v| v.parse::<i64>().ok());
        let (group_id, group_tier) = (col(7), col(8));
        let string =
            |v: Option<&str>| v.map_or_else(|| "null".to_string(), |s| Value::from(s).to_string());
        let mut json = String::with_capacity(160 + col(3).map_or(0, str::len));
        json.push_str("{\"id\":");
        json.push_str(&string(Some(&id)));
        json.push_str(",\"name\":");
        json.push_str(&string(col(2)));
        json.push_str(",\"data\":");
        json.push_str(col(3).unwrap_or("null")); // jsonb's text is JSON
        json.push_str(",\"retryCount\":");
        json.push_str(&retry_count.to_string());
        json.push_str(",\"expireInSeconds\":");
        json.push_str(&expire.map_or("null".into(), |v| v.to_string()));
        json.push_str(",\"heartbeatSeconds\":");
        json.push_str(&heartbeat.map_or("null".into(), |v| v.to_string()));
        json.push_str(",\"groupId\":");
        json.push_str(&string(group_id));
        json.push_str(",\"groupTier\":");
        json.push_str(&string(group_tier));
        if let Some(meta) = col(9).and_then(|m| m.strip_prefix('{')) {
            if meta != "}" {
                json.push(',');
            }
            json.push_str(meta);
        } else {
            json.push('}');
        }
        Some((
            pos,
            ClaimedJob {
                id,
                retry_count,
                expire_seconds: expire.map_or(900.0, |e| e as f64),
                heartbeat_seconds: heartbeat.map(|h| h as f64).filter(|h| *h > 0.0),
                group_id: group_id.map(str::to_string),
                group_tier: group_tier.map(str::to_string),
                json,
            },
        ))
    }

    /// The jobs of a claim's rows, in claim order.
    pub fn from_rows(rows: &[Vec<Option<String>>]) -> Vec<ClaimedJob> {
        let mut jobs: Vec<(i64, ClaimedJob)> = rows
            .iter()
            .filter_map(|r| ClaimedJob::from_columns(r))
            .collect();
        jobs.sort_unstable_by_key(|(pos, _)| *pos);
        jobs.into_iter().map(|(_, job)| job).collect()
    }

    /// A job with just an id, for tests of the worker's bookkeeping.
    #[cfg(test)]
    pub(crate) fn with_id(id: &str) -> ClaimedJob {
        ClaimedJob {
            id: id.into(),
            retry_count: 0,
            expire_seconds: 900.0,
            heartbeat_seconds: None,
            group_id: None,
            group_tier: None,
            json: String::new(),
        }
    }

    pub fn attempt(&self) -> String {
        format!("{}:{}", self.id, self.retry_count)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerStatus {
    Created,
    Active,
    Stopping,
    Stopped,
}

impl WorkerStatus {
    fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Created => "created",
            WorkerStatus::Active => "active",
            WorkerStatus::Stopping => "stopping",
            WorkerStatus::Stopped => "stopped",
        }
    }
}

/// What `getWipData()` reports, plus the jobs in hand for a shutdown to fail.
#[derive(Debug, Clone)]
pub struct WipInfo {
    pub status: WorkerStatus,
    pub created_on: u64,
    pub last_fetched_on: Option<u64>,
    pub last_job_started_on: Option<u64>,
    pub last_job_ended_on: Option<u64>,
    pub last_job_duration: Option<u64>,
    pub last_error: Option<Value>,
    pub last_error_on: Option<u64>,
    /// batch id → jobs held by that handler call.
    pub in_hand: Vec<(u64, Vec<ClaimedJob>)>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);

pub fn next_batch_id() -> u64 {
    NEXT_BATCH.fetch_add(1, Ordering::Relaxed)
}

/// Shared by the loops of one `work()` call that limits groups: claims are taken one at a time
/// (so a loop sees the jobs its siblings just claimed), and `localGroupConcurrency` counts jobs
/// held per group in this process.
#[derive(Default)]
pub struct GroupGate {
    pub claim: tokio::sync::Mutex<()>,
    pub held: Mutex<std::collections::HashMap<String, i64>>,
}

/// One loop of a `work()` / `workEach()` call: what the call's loops share (read through it, as
/// `worker.name`, `worker.options`, ...) and this loop's own state.
pub struct Worker {
    pub id: String,
    shared: Arc<WorkShared>,
    /// The `work()` call's settler, taken by the loop when it starts; the settler ends once every
    /// loop has dropped its sender.
    settler: Mutex<Option<settler::SettleSender>>,
    stopping: AtomicBool,
    /// Set when a shutdown failed this worker's jobs: the loop drops them without settling.
    abandoned: AtomicBool,
    /// Wakes the polling sleep (`notifyWorker`, NOTIFY, stop).
    pub wake: Notify,
    /// Turns true on stop: what a loop's claim ahead watches to hand its jobs back at once.
    pub stop_signal: tokio::sync::watch::Sender<bool>,
    /// Released when the worker is abandoned, so an in-flight handler wait ends.
    pub abandon: Notify,
    pub info: Mutex<WipInfo>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the loops of one `work()` / `workEach()` call share.
pub struct WorkShared {
    pub work_id: String,
    pub name: String,
    pub each: bool,
    pub options: WorkOptions,
    pub handler: Arc<dyn JobHandler>,
    pub groups: Option<Arc<GroupGate>>,
    /// Shared by the loops of a `work()` with `localConcurrency > 1` (without group limits).
    pub claimer: Option<Arc<claimer::SharedClaimer<claim::Carry>>>,
    /// `burstWhenReadyExceeds`: the jobs left ready after the loops' last claims, as last counted
    /// and less what they claimed since (see `cadence`).
    pub ready_left: cadence::ReadyLeft,
}

impl std::ops::Deref for Worker {
    type Target = WorkShared;

    fn deref(&self) -> &WorkShared {
        &self.shared
    }
}

impl Worker {
    /// Loop `id` of the call `shared`, sending its outcomes to the call's `settler`.
    pub fn new(id: String, shared: Arc<WorkShared>, settler: settler::SettleSender) -> Worker {
        Worker {
            id,
            shared,
            settler: Mutex::new(Some(settler)),
            stopping: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            wake: Notify::new(),
            stop_signal: tokio::sync::watch::channel(false).0,
            abandon: Notify::new(),
            info: Mutex::new(WipInfo {
                status: WorkerStatus::Created,
                created_on: now_ms(),
                last_fetched_on: None,
                last_job_started_on: None,
                last_job_ended_on: None,
                last_job_duration: None,
                last_error: None,
                last_error_on: None,
                in_hand: Vec::new(),
            }),
            task: Mutex::new(None),
        }
    }

    /// The sender for this loop's outcomes (`None` once taken).
    pub fn take_settler(&self) -> Option<settler::SettleSender> {
        self.settler.lock().ok().and_then(|mut s| s.take())
    }

    pub fn internal(&self) -> bool {
        self.name.starts_with("__pgboss__")
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_signal.send_replace(true);
        self.set_status(WorkerStatus::Stopping);
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    pub fn mark_abandoned(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        self.abandon.notify_waiters();
        self.abandon.notify_one();
    }

    pub fn with_info<R>(&self, f: impl FnOnce(&mut WipInfo) -> R) -> Option<R> {
        self.info.lock().ok().map(|mut i| f(&mut i))
    }

    pub fn set_status(&self, status: WorkerStatus) {
        self.with_info(|i| {
            if i.status != WorkerStatus::Stopped {
                i.status = status
            }
        });
    }

    /// Jobs leaving this worker's hands no longer count against `localGroupConcurrency`.
    pub fn release_groups(&self, jobs: &[ClaimedJob]) {
        let Some(gate) = &self.groups else { return };
        if let Ok(mut held) = gate.held.lock() {
            for g in jobs.iter().filter_map(|j| j.group_id.as_ref()) {
                if let Some(n) = held.get_mut(g) {
                    *n -= 1;
                    if *n <= 0 {
                        held.remove(g);
                    }
                }
            }
        }
    }

    /// Count `jobs` against `localGroupConcurrency` again (a handler still running after its
    /// jobs were settled keeps their groups' slots until it returns).
    pub fn hold_groups(&self, jobs: &[ClaimedJob]) {
        let Some(gate) = &self.groups else { return };
        if let Ok(mut held) = gate.held.lock() {
            for g in jobs.iter().filter_map(|j| j.group_id.as_ref()) {
                *held.entry(g.clone()).or_insert(0) += 1;
            }
        }
    }

    pub fn jobs_in_hand(&self) -> usize {
        self.with_info(|i| i.in_hand.iter().map(|(_, jobs)| jobs.len()).sum())
            .unwrap_or(0)
    }

    pub fn set_task(&self, task: JoinHandle<()>) {
        if let Ok(mut t) = self.task.lock() {
            *t = Some(task);
        }
    }

    pub fn take_task(&self) -> Option<JoinHandle<()>> {
        self.task.lock().ok().and_then(|mut t| t.take())
    }

    pub fn wip_json(&self) -> Value {
        let i = match self.info.lock() {
            Ok(i) => i.clone(),
            Err(_) => return Value::Null,
        };
        let count: usize = i.in_hand.iter().map(|(_, jobs)| jobs.len()).sum();
        json!({
            "id": self.id,
            "workId": self.work_id,
            "name": self.name,
            "options": self.options.resolved,
            "state": i.status.as_str(),
            "count": count,
            "createdOn": i.created_on,
            "lastFetchedOn": i.last_fetched_on,
            "lastJobStartedOn": i.last_job_started_on,
            "lastJobEndedOn": i.last_job_ended_on,
            "lastJobDuration": i.last_job_duration,
            "lastError": i.last_error,
            "lastErrorOn": i.last_error_on,
        })
    }
}

/// The workers of one instance.
#[derive(Default)]
pub struct WorkerRegistry {
    workers: Mutex<Vec<Arc<Worker>>>,
}

impl WorkerRegistry {
    pub fn add(&self, w: Arc<Worker>) {
        if let Ok(mut ws) = self.workers.lock() {
            ws.push(w);
        }
    }
    pub fn all(&self) -> Vec<Arc<Worker>> {
        self.workers.lock().map(|w| w.clone()).unwrap_or_default()
    }
    pub fn remove(&self, id: &str) {
        if let Ok(mut ws) = self.workers.lock() {
            ws.retain(|w| w.id != id);
        }
    }
    pub fn matching(&self, name: &str, id: Option<&str>) -> Vec<Arc<Worker>> {
        self.all()
            .into_iter()
            .filter(|w| w.name == name && id.is_none_or(|id| w.id == id || w.work_id == id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cols: &[Option<&str>]) -> Vec<Option<String>> {
        cols.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn a_claimed_row_becomes_the_job_json_pg_boss_hands_out() {
        let rows = vec![
            row(&[
                Some("2"),
                Some("b"),
                Some("q\"x"),
                Some("{\"k\": [1]}"),
                Some("1"),
                Some("60"),
                Some("30"),
                Some("g"),
                None,
                None,
            ]),
            row(&[
                Some("1"),
                Some("a"),
                Some("q\"x"),
                None,
                Some("0"),
                Some("900"),
                None,
                None,
                None,
                None,
            ]),
        ];
        let jobs = ClaimedJob::from_rows(&rows);
        assert_eq!(
            jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"],
            "claim order"
        );
        let first: Value = serde_json::from_str(&jobs[0].json).unwrap();
        assert_eq!(
            first,
            json!({ "id": "a", "name": "q\"x", "data": null, "retryCount": 0, "expireInSeconds": 900,
                    "heartbeatSeconds": null, "groupId": null, "groupTier": null })
        );
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "data",
                "retryCount",
                "expireInSeconds",
                "heartbeatSeconds",
                "groupId",
                "groupTier"
            ]
        );
        let second: Value = serde_json::from_str(&jobs[1].json).unwrap();
        assert_eq!(second["data"], json!({ "k": [1] }));
        assert_eq!(
            (
                jobs[1].retry_count,
                jobs[1].heartbeat_seconds,
                jobs[1].expire_seconds
            ),
            (1, Some(30.0), 60.0)
        );
        assert_eq!(jobs[1].group_id.as_deref(), Some("g"));
    }

    #[test]
    fn metadata_fields_follow_the_job_fields() {
        let rows = vec![row(&[
            Some("1"),
            Some("a"),
            Some("q"),
            Some("1"),
            Some("0"),
            Some("900"),
            None,
            None,
            None,
            Some("{\"policy\":\"standard\",\"state\":\"active\"}"),
        ])];
        let job = &ClaimedJob::from_rows(&rows)[0];
        let v: Value = serde_json::from_str(&job.json).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.last().map(|k| k.as_str()), Some("state"));
        assert_eq!(v["policy"], json!("standard"));
        assert_eq!(v["data"], json!(1));
    }

    #[test]
    fn a_row_without_an_id_or_attempt_is_no_job() {
        assert!(ClaimedJob::from_columns(&row(&[Some("1"), None, Some("q")])).is_none());
        assert!(ClaimedJob::from_columns(&row(&[
            None, None, None, None, None, None, None, None, None, None
        ]))
        .is_none());
    }
}

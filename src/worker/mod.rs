//! Workers: Rust loops that claim jobs, hand them to the JavaScript handler and settle them.
//!
//! `work()` runs `batch::run` (one handler call per batch, pg-boss semantics, `perJobResults`
//! and `Promise.allSettled` output); `workEach()` runs `each::run` (one handler call per job,
//! bounded concurrency, slots refilled as jobs finish, settles coalesced). Both settle through
//! `settle::settle_rows`: one statement per flush whatever the mix of outcomes.

pub mod batch;
pub mod claimer;
pub mod each;
pub mod lifecycle;
pub mod options;
pub mod outcome;
pub mod settle;
pub mod settler;

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
    pub fn parse(json: String) -> Option<ClaimedJob> {
        let v: Value = serde_json::from_str(&json).ok()?;
        Some(ClaimedJob {
            id: v.get("id")?.as_str()?.to_string(),
            retry_count: v.get("retryCount").and_then(Value::as_i64).unwrap_or(0),
            expire_seconds: v
                .get("expireInSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(900.0),
            heartbeat_seconds: v
                .get("heartbeatSeconds")
                .and_then(Value::as_f64)
                .filter(|h| *h > 0.0),
            group_id: v.get("groupId").and_then(Value::as_str).map(str::to_string),
            group_tier: v
                .get("groupTier")
                .and_then(Value::as_str)
                .map(str::to_string),
            json,
        })
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

pub struct Worker {
    pub id: String,
    pub work_id: String,
    pub name: String,
    pub each: bool,
    pub options: WorkOptions,
    pub handler: Arc<dyn JobHandler>,
    pub groups: Option<Arc<GroupGate>>,
    /// Shared by the loops of a `work()` with `localConcurrency > 1` (without group limits).
    pub claimer: Option<Arc<claimer::SharedClaimer>>,
    /// The `work()` call's settler, taken by the loop when it starts; the settler ends once every
    /// loop has dropped its sender.
    settler: Mutex<Option<settler::SettleSender>>,
    stopping: AtomicBool,
    /// Set when a shutdown failed this worker's jobs: the loop drops them without settling.
    abandoned: AtomicBool,
    /// Wakes the polling sleep (`notifyWorker`, NOTIFY, stop).
    pub wake: Notify,
    /// Released when the worker is abandoned, so an in-flight handler wait ends.
    pub abandon: Notify,
    pub info: Mutex<WipInfo>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the loops of one `work()` / `workEach()` call share.
#[derive(Clone)]
pub struct WorkShared {
    pub work_id: String,
    pub name: String,
    pub each: bool,
    pub options: WorkOptions,
    pub handler: Arc<dyn JobHandler>,
    pub groups: Option<Arc<GroupGate>>,
    pub claimer: Option<Arc<claimer::SharedClaimer>>,
    pub settler: settler::SettleSender,
}

impl Worker {
    pub fn new(id: String, shared: WorkShared) -> Worker {
        let WorkShared {
            work_id,
            name,
            each,
            options,
            handler,
            groups,
            claimer,
            settler,
        } = shared;
        Worker {
            id,
            work_id,
            name,
            each,
            options,
            handler,
            groups,
            claimer,
            settler: Mutex::new(Some(settler)),
            stopping: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            wake: Notify::new(),
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

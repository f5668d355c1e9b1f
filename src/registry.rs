//! The instance registry, as pg-boss 12.38 keeps it: this instance's row in `<schema>.instance`,
//! registered at the end of `start()`, refreshed on its own heartbeat (whether or not it
//! supervises), and marked stopped by `stop()`; `getInstances()` lists every instance's row,
//! pg-boss's and ours alike. Nothing on the job path waits for it: a failed write is an `error`
//! event and the next beat, an upsert, tries again.

use crate::db::Param;
use crate::engine::{Engine, EngineEvent};
use crate::error::Result;
use crate::js::{self, Object};
use crate::plans::registry as sql;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The constructor options the row's `config` column records: pg-boss's allowlist, each as its
/// `getConfig` leaves it (defaults applied where it applies them, the caller's value otherwise),
/// unset ones absent so instances on the same defaults compare equal.
const RECORDED: &[(&str, Recorded)] = &[
    ("backend", Recorded::Backend),
    ("max", Recorded::AsGiven),
    ("useListenNotify", Recorded::InOr(false)),
    ("instanceHeartbeatSeconds", Recorded::OrNumber(30.0)),
    ("supervise", Recorded::InOr(true)),
    ("schedule", Recorded::InOr(true)),
    ("migrate", Recorded::InOr(true)),
    ("createSchema", Recorded::InOr(true)),
    ("superviseIntervalSeconds", Recorded::OrNumber(60.0)),
    ("maintenanceIntervalSeconds", Recorded::OrNumber(86400.0)),
    ("monitorIntervalSeconds", Recorded::OrNumber(60.0)),
    ("queueCacheIntervalSeconds", Recorded::OrNumber(60.0)),
    ("bamIntervalSeconds", Recorded::OrNumber(60.0)),
    ("flowIntervalSeconds", Recorded::OrNumber(5.0)),
    ("reindex", Recorded::InOr(true)),
    ("reindexIntervalSeconds", Recorded::OrNumber(86400.0)),
    ("monitorVacuum", Recorded::AsGiven),
    ("clockMonitorIntervalSeconds", Recorded::OrNumber(600.0)),
    ("cronMonitorIntervalSeconds", Recorded::OrNumber(30.0)),
    ("cronWorkerIntervalSeconds", Recorded::OrNumber(5.0)),
    ("persistWarnings", Recorded::AsGiven),
    ("warningRetentionDays", Recorded::OrNumber(365.0)),
    ("persistQueueStats", Recorded::AsGiven),
    ("queueStatRetentionDays", Recorded::OrNumber(7.0)),
    ("warningSlowQuerySeconds", Recorded::AsGiven),
    ("warningQueueSize", Recorded::AsGiven),
];

/// How `getConfig` leaves an option.
enum Recorded {
    /// The resolved backend.
    Backend,
    /// `config.x` untouched.
    AsGiven,
    /// `'x' in config ? config.x : default`.
    InOr(bool),
    /// `config.x || default`.
    OrNumber(f64),
}

/// The work() options recorded on each worker entry besides its own fields (pg-boss's allowlist:
/// nothing here carries job data or connects).
const RECORDED_WORK_OPTIONS: &[&str] = &[
    "includeMetadata",
    "ignoreStartAfter",
    "minPriority",
    "maxPriority",
    "localGroupConcurrency",
    "groupConcurrency",
    "heartbeatRefreshSeconds",
    "perJobResults",
    "transactional",
    "transactionTimeoutSeconds",
    "notifyPollingIntervalSeconds",
    "burstWhenReadyExceeds",
    "burstWhenBatchFull",
    "prefetch",
];

/// The `config` column's options for the constructor's options `obj`.
pub fn recorded_options(obj: &Object, backend: &str, has_db: bool) -> Object {
    let mut out = Object::new();
    out.insert(
        "adapter".into(),
        Value::String(if has_db { "custom" } else { "pg" }.into()),
    );
    for (key, how) in RECORDED {
        let given = obj.get(*key).filter(|v| !js::is_undefined(Some(v)));
        let value = match how {
            Recorded::Backend => Some(Value::String(backend.to_string())),
            Recorded::AsGiven => given.cloned(),
            Recorded::InOr(default) if !js::has(obj, key) => Some(Value::Bool(*default)),
            Recorded::InOr(_) => given.cloned(),
            Recorded::OrNumber(default) if js::truthy(given) => given.cloned(),
            Recorded::OrNumber(default) => Some(json!(*default as i64)),
        };
        if let Some(value) = value {
            out.insert((*key).to_string(), value);
        }
    }
    out
}

/// This instance's registry state.
#[derive(Default)]
pub struct Registry {
    /// The `started_on` its registration returned, which heartbeats keep.
    started_on: Mutex<Option<String>>,
    /// Held by a beat in flight; `stop()` waits for it before marking the row stopped.
    beating: tokio::sync::Mutex<()>,
    /// The `start()` try this registration comes from (recorded in `config` when past the first).
    start_attempt: AtomicU64,
}

impl Registry {
    /// A `start()` call begins: its first try will be attempt 1.
    pub fn begin_start(&self) {
        self.start_attempt.store(0, Ordering::Relaxed);
    }

    /// A try of `start()` begins.
    pub fn next_start_attempt(&self) {
        self.start_attempt.fetch_add(1, Ordering::Relaxed);
    }
}

impl Engine {
    /// Register this instance (when `registerInstance`), count its crash restarts, prune dead
    /// lives of its name, and start its heartbeat. A failed write is an `error` event, never a
    /// failed start; the heartbeat starts regardless and restores the row.
    pub async fn start_registry(self: &Arc<Self>) {
        if !self.config.instance.register {
            return;
        }
        // a new life: its first sample has no CPU or event loop figures yet
        self.vitals.reset();
        if let Err(err) = self.register_instance().await {
            self.emit(EngineEvent::Error(err));
        }
        self.spawn_instance_heartbeat();
    }

    async fn register_instance(self: &Arc<Self>) -> Result<()> {
        let db = self.instance_db()?;
        let rows = db
            .query(
                &sql::register(&self.config.schema),
                &self.row_values().await,
            )
            .await?;
        let started_on = rows.into_iter().next().and_then(|r| r.into_iter().next()?);
        if let Ok(mut s) = self.registry.started_on.lock() {
            *s = started_on;
        }
        // counted before the pruning, which keeps the earliest rows' counts only if they are right
        self.count_crash_restarts().await?;
        let instance = &self.config.instance;
        db.query(
            &sql::prune_lives(&self.config.schema),
            &[
                Some(instance.id.clone()),
                instance.name.clone(),
                Some(host_name()),
            ],
        )
        .await?;
        Ok(())
    }

    /// Count this instance's crash restarts; when an earlier life still reads live without having
    /// beaten since this one started, count again once it would have gone quiet.
    fn count_crash_restarts(self: &Arc<Self>) -> futures_util::future::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let db = self.instance_db()?;
            let instance = &self.config.instance;
            let params = [
                Some(instance.id.clone()),
                instance.name.clone(),
                Some(host_name()),
                Some(std::process::id().to_string()),
                Some(process_started_at().to_string()),
            ];
            db.query(&sql::count_crash_restarts(&self.config.schema), &params)
                .await?;
            let rows = db
                .query(&sql::crash_recount_at(&self.config.schema), &params)
                .await?;
            let at: Option<u64> = rows
                .into_iter()
                .next()
                .and_then(|r| r.into_iter().next()?)
                .and_then(|t| t.parse().ok());
            if let Some(at) = at {
                let wait = at.saturating_sub(crate::worker::now_ms()) + 1000;
                let weak = Arc::downgrade(self);
                let task = tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(wait.max(1000))).await;
                    let Some(engine) = weak.upgrade() else { return };
                    if let Err(err) = engine.count_crash_restarts().await {
                        engine.emit(EngineEvent::Error(err));
                    }
                });
                self.add_task(task);
            }
            Ok(())
        })
    }

    fn spawn_instance_heartbeat(self: &Arc<Self>) {
        let period = Duration::from_secs(self.config.instance.heartbeat_seconds);
        // a slow beat is not stacked on: the next tick finds it done or is skipped
        self.spawn_every(
            period,
            tokio::time::MissedTickBehavior::Delay,
            |engine| async move { engine.beat().await },
        );
    }

    async fn beat(&self) -> Result<()> {
        let _beating = self.registry.beating.lock().await;
        let db = self.instance_db()?;
        let mut params = self.row_values().await;
        params.push(self.registry.started_on.lock().ok().and_then(|s| s.clone()));
        db.query(&sql::heartbeat(&self.config.schema), &params)
            .await?;
        Ok(())
    }

    /// `stop()`: after the background tasks (the heartbeat among them) have ended, wait for a beat
    /// in flight and mark the row stopped. Best effort and silent, as in pg-boss: a row that
    /// cannot be marked goes quiet after three missed beats, as a crashed instance's does.
    pub async fn stop_registry(&self) {
        if !self.config.instance.register {
            return;
        }
        let _beating = self.registry.beating.lock().await;
        if let Ok(db) = self.instance_db() {
            let _ = db
                .query(
                    &sql::stop(&self.config.schema),
                    &[Some(self.config.instance.id.clone())],
                )
                .await;
        }
    }

    /// `getInstances({ limit, after })`: rows as JSON text (an array).
    pub async fn get_instances(&self, options: &Object) -> Result<String> {
        let schema = &self.config.schema;
        self.read_page_by_id(
            "getInstances",
            options,
            |after| sql::get_instances(schema, after),
            sql::instance_exists(schema),
        )
        .await
    }

    /// The row's values in `plans::registry` column order.
    async fn row_values(&self) -> Vec<Param> {
        let c = &self.config;
        let instance = &c.instance;
        let pool = self.pool_counts();
        let count =
            |f: fn(&crate::db::PoolCounts) -> usize| pool.as_ref().map(|p| f(p).to_string());
        let mut options = instance.recorded_options.clone();
        let attempt = self.registry.start_attempt.load(Ordering::Relaxed);
        if attempt > 1 {
            options.insert("startAttempt".into(), json!(attempt));
        }
        vec![
            Some(instance.id.clone()),
            instance.name.clone(),
            Some(host_name()),
            Some(std::process::id().to_string()),
            Some(env!("CARGO_PKG_VERSION").to_string()),
            Some(instance.node_version.clone()),
            Some(instance.heartbeat_seconds.to_string()),
            Some(c.supervise.to_string()),
            Some(c.schedule.to_string()),
            Some(c.migrate.to_string()),
            Some(c.persist_queue_stats.to_string()),
            Some(c.persist_warnings.to_string()),
            count(|p| p.max),
            count(|p| p.total_count),
            count(|p| p.idle_count),
            count(|p| p.waiting_count),
            Some(self.registry_workers().to_string()),
            Some(self.vitals.sample_json().await),
            Some(Value::Object(options).to_string()),
        ]
    }

    /// One entry per `work()` call: its loops (which share a work id) folded together, jobs in
    /// hand summed, the latest times kept. Only when an error happened is stored, never the error.
    fn registry_workers(&self) -> Value {
        let wip = self.wip_data(false);
        let mut entries: Vec<Object> = Vec::new();
        for w in wip.as_array().into_iter().flatten() {
            let work_id = w.get("workId").cloned().unwrap_or(Value::Null);
            let options = w.get("options").and_then(Value::as_object);
            let position = entries.iter().position(|e| e.get("id") == Some(&work_id));
            let entry = match position {
                Some(i) => &mut entries[i],
                None => {
                    let mut recorded = Object::new();
                    for key in RECORDED_WORK_OPTIONS {
                        if let Some(v) = options.and_then(|o| o.get(*key)) {
                            if !js::is_undefined(Some(v)) {
                                recorded.insert((*key).to_string(), v.clone());
                            }
                        }
                    }
                    let option = |key: &str, default: Value| {
                        options
                            .and_then(|o| o.get(key))
                            .filter(|v| !v.is_null() && !js::is_undefined(Some(v)))
                            .cloned()
                            .unwrap_or(default)
                    };
                    let mut entry = Object::new();
                    entry.insert("id".into(), work_id.clone());
                    entry.insert(
                        "queue".into(),
                        w.get("name").cloned().unwrap_or(Value::Null),
                    );
                    entry.insert("localConcurrency".into(), json!(0));
                    entry.insert("batchSize".into(), option("batchSize", json!(1)));
                    entry.insert(
                        "pollingIntervalSeconds".into(),
                        option("pollingIntervalSeconds", Value::Null),
                    );
                    entry.insert("active".into(), json!(0));
                    entry.insert("lastFetchedOn".into(), Value::Null);
                    entry.insert("lastJobEndedOn".into(), Value::Null);
                    entry.insert("lastErrorOn".into(), Value::Null);
                    entry.insert("options".into(), Value::Object(recorded));
                    entries.push(entry);
                    let last = entries.len() - 1;
                    &mut entries[last]
                }
            };
            let add = |e: &mut Object, key: &str, n: u64| {
                let now = e.get(key).and_then(Value::as_u64).unwrap_or(0);
                e.insert(key.to_string(), json!(now + n));
            };
            add(entry, "localConcurrency", 1);
            add(
                entry,
                "active",
                w.get("count").and_then(Value::as_u64).unwrap_or(0),
            );
            for key in ["lastFetchedOn", "lastJobEndedOn", "lastErrorOn"] {
                if let Some(ms) = w.get(key).and_then(Value::as_u64) {
                    let iso = iso_from_ms(ms);
                    let later = match entry.get(key).and_then(Value::as_str) {
                        Some(current) => iso.as_str() > current,
                        None => true,
                    };
                    if later {
                        entry.insert(key.to_string(), Value::String(iso));
                    }
                }
            }
        }
        Value::Array(entries.into_iter().map(Value::Object).collect())
    }
}

/// `os.hostname()`.
pub fn host_name() -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
        // fails, and the result is read only up to the first NUL.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            String::from_utf8_lossy(&buf[..end]).into_owned()
        } else {
            std::env::var("HOSTNAME").unwrap_or_default()
        }
    })
    .clone()
}

/// When this process started, in epoch seconds (pg-boss: now less `process.uptime()`): from
/// `/proc` on Linux, else when the engine was first asked.
fn process_started_at() -> f64 {
    static STARTED: OnceLock<f64> = OnceLock::new();
    *STARTED.get_or_init(|| {
        proc_start_time().unwrap_or_else(|| crate::worker::now_ms() as f64 / 1000.0)
    })
}

fn proc_start_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name, which may itself hold spaces and parentheses
    let rest = &stat[stat.rfind(')')? + 1..];
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks_per_second > 0).then(|| boot + start_ticks / ticks_per_second as f64)
}

/// `new Date(ms).toISOString()`.
pub fn iso_from_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_javascript() {
        assert_eq!(iso_from_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_from_ms(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(iso_from_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn recorded_options_follow_get_config() {
        let obj = serde_json::json!({ "max": 3, "schedule": "yes", "monitorIntervalSeconds": null, "warningQueueSize": "5" });
        let recorded = recorded_options(obj.as_object().unwrap(), "postgres", false);
        assert_eq!(recorded.get("adapter"), Some(&json!("pg")));
        assert_eq!(recorded.get("max"), Some(&json!(3)));
        assert_eq!(recorded.get("schedule"), Some(&json!("yes")));
        assert_eq!(recorded.get("monitorIntervalSeconds"), Some(&json!(60)));
        assert_eq!(recorded.get("warningQueueSize"), Some(&json!("5")));
        assert_eq!(recorded.get("useListenNotify"), Some(&json!(false)));
        assert!(!recorded.contains_key("persistWarnings"));
    }
}

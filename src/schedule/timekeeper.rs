//! The timekeeper: the cron pass and the clock skew monitor, as pg-boss 12.38 runs them, so a
//! fleet mixing both implementations sends every occurrence exactly once.
//!
//! - **The claim.** Every instance tries the claim on `version.cron_on` every
//!   `cronMonitorIntervalSeconds`; the one that moves the stamp runs the pass. A winner's next try
//!   is an interval after its claim; a refused instance comes back when the winner's interval is
//!   up (plus a beat), so when the holder stops, the next pass is an interval late at most, never
//!   two: the due window (60 s) stays wider than any gap between passes.
//! - **The pass.** Occurrences of the last 60 s are due. Each is filed in the send-it queue under
//!   the schedule's occurrence key and the 60-second throttle slot it falls in; the singleton index
//!   makes a second filing of the same occurrence (by any instance, any pass) insert nothing.
//! - **Missed occurrences.** The claim answers with the stamp it replaced, i.e. when some
//!   instance last ran a pass. A schedule with `missed: 'once'` gets one job for the latest
//!   occurrence of the gap between then (or its own creation) and the window.
//! - **The database clock.** Passes evaluate against this instance's clock plus the skew measured
//!   against `job_now()`; a skew of a minute or more is a `clock_skew` warning.

use super::TimekeeperHost;
use crate::engine::{Engine, EngineEvent, SEND_IT_QUEUE};
use crate::error::{BossError, Result};
use crate::js::Object;
use crate::plans;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long an occurrence stays due, and the width of its throttle slot: one value, since a slot
/// wider than the window merges occurrences and a window wider than a slot lets two slots claim one.
pub const OCCURRENCE_WINDOW_MS: f64 = 60_000.0;

const CLOCK_SKEW_MESSAGE: &str = "Warning: Clock skew between this instance and the database server. This will not break scheduling, but is emitted any time the skew exceeds 60 seconds.";

#[derive(Default)]
pub struct Timekeeper {
    host: Mutex<Option<Arc<dyn TimekeeperHost>>>,
    /// Database time minus local time, in ms, as last measured.
    skew_ms: Mutex<f64>,
    timekeeping: AtomicBool,
    checking_skew: AtomicBool,
    running: AtomicBool,
    stop: Mutex<Option<watch::Sender<bool>>>,
    chains: Mutex<Vec<JoinHandle<()>>>,
    /// Broken schedules already warned about, by (name, key, cron, timezone): a bad row never heals
    /// by itself, so it is reported once per start rather than every pass.
    warned: Mutex<HashSet<String>>,
}

/// A schedule row as a pass reads it (`plans::schedule::for_pass`).
#[derive(Debug, Deserialize)]
struct PassRow {
    name: String,
    key: String,
    kind: String,
    cron: String,
    timezone: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    options: Value,
    #[serde(rename = "createdOn")]
    created_on: Option<f64>,
}

/// lib/recurrence.js's answer for one schedule.
#[derive(Debug, Deserialize, Default)]
struct Evaluated {
    kind: Option<String>,
    #[serde(default)]
    occurrences: Vec<f64>,
    missed: Option<f64>,
    error: Option<String>,
    #[serde(rename = "missedError")]
    missed_error: Option<String>,
}

/// The outcome of one claim attempt: the stamp it replaced (epoch ms), whether it won, and how
/// old the stamp was (seconds).
#[derive(Debug, PartialEq)]
pub struct Claim {
    pub claimed: bool,
    pub prior_ms: Option<f64>,
    pub elapsed_seconds: Option<f64>,
}

impl Claim {
    /// The `claimed|prior|elapsed` row of `plans::schedule::claim_cron`.
    pub fn parse(row: &str) -> Claim {
        let mut parts = row.split('|');
        let claimed = matches!(parts.next(), Some("true" | "t" | "1"));
        let number = |p: Option<&str>| p.and_then(|v| v.parse::<f64>().ok());
        let prior_ms = number(parts.next());
        let elapsed_seconds = number(parts.next());
        Claim {
            claimed,
            prior_ms,
            elapsed_seconds,
        }
    }
}

/// How long a refused instance waits: until the row it lost to comes due, plus a beat (a quarter
/// interval, at most a second) so it does not land on the holder's own attempt.
pub fn claim_retry_delay_ms(interval_seconds: f64, elapsed_seconds: Option<f64>) -> f64 {
    let interval = interval_seconds * 1000.0;
    let remaining = match elapsed_seconds {
        Some(age) if age.is_finite() && age > 0.0 => (interval - age * 1000.0).max(0.0),
        _ => interval,
    };
    remaining + (interval / 4.0).min(1000.0)
}

/// The throttle slot an instant falls in, as `singleton_on` stores it: UTC wall time.
pub fn throttle_slot(ms: f64) -> String {
    let start = (ms / OCCURRENCE_WINDOW_MS).floor() * OCCURRENCE_WINDOW_MS;
    let iso = crate::registry::iso_from_ms(start.max(0.0) as u64);
    // 2026-12-01T10:15:00.000Z -> 2026-12-01 10:15:00
    iso[..19].replace('T', " ")
}

fn missed_policy(options: &Value) -> &str {
    match options.get("missed").and_then(Value::as_str) {
        Some(m) if super::MISSED_POLICIES.contains(&m) => m,
        _ => "skip",
    }
}

impl Timekeeper {
    pub fn set_host(&self, host: Arc<dyn TimekeeperHost>) {
        if let Ok(mut h) = self.host.lock() {
            *h = Some(host);
        }
    }

    pub fn host(&self) -> Option<Arc<dyn TimekeeperHost>> {
        self.host.lock().ok().and_then(|h| h.clone())
    }

    pub fn is_timekeeping(&self) -> bool {
        self.timekeeping.load(Ordering::SeqCst)
    }

    pub fn is_checking_skew(&self) -> bool {
        self.checking_skew.load(Ordering::SeqCst)
    }

    pub fn skew_ms(&self) -> f64 {
        self.skew_ms.lock().map(|s| *s).unwrap_or(0.0)
    }

    fn stopping(&self) -> bool {
        !self.running.load(Ordering::SeqCst)
    }
}

/// Clears a busy flag however the pass it guards ends.
struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Engine {
    /// `databaseTime`: this instance's clock plus the skew measured against the database.
    async fn database_time_ms(&self) -> Result<f64> {
        Ok(self.local_now_ms().await? + self.timekeeper.skew_ms())
    }

    /// Start scheduling (`schedule: true`): measure the skew, start the send-it worker, run a
    /// pass at once and keep both chains going until `stop_timekeeper`.
    pub async fn start_timekeeper(self: &Arc<Self>) -> Result<()> {
        if self.timekeeper.running.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Ok(mut w) = self.timekeeper.warned.lock() {
            w.clear();
        }
        let (tx, rx) = watch::channel(false);
        if let Ok(mut s) = self.timekeeper.stop.lock() {
            *s = Some(tx);
        }
        self.cache_clock_skew().await;
        let mut options = Object::new();
        options.insert(
            "pollingIntervalSeconds".into(),
            json!(self.config.cron_worker_interval_seconds),
        );
        options.insert("batchSize".into(), json!(50));
        let handler = Arc::new(super::send_it::SendItHandler::new(Arc::downgrade(self)));
        if let Err(err) = self
            .work(
                Some(&Value::String(SEND_IT_QUEUE.into())),
                &options,
                handler,
                false,
            )
            .await
        {
            self.timekeeper.running.store(false, Ordering::SeqCst);
            return Err(err);
        }
        let cron = tokio::spawn(cron_chain(Arc::downgrade(self), rx.clone()));
        let skew = tokio::spawn(skew_chain(Arc::downgrade(self), rx));
        if let Ok(mut chains) = self.timekeeper.chains.lock() {
            chains.push(cron);
            chains.push(skew);
        }
        Ok(())
    }

    /// Stop both chains, letting a pass in progress finish (its occurrences are filed).
    pub async fn stop_timekeeper(&self) {
        if !self.timekeeper.running.swap(false, Ordering::SeqCst) {
            return;
        }
        if let Some(tx) = self.timekeeper.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(true);
        }
        let chains: Vec<JoinHandle<()>> = self
            .timekeeper
            .chains
            .lock()
            .map(|mut c| c.drain(..).collect())
            .unwrap_or_default();
        for mut chain in chains {
            if tokio::time::timeout(Duration::from_secs(30), &mut chain)
                .await
                .is_err()
            {
                chain.abort();
            }
        }
    }

    /// Measure the database clock against this instance's (one measurement at a time).
    pub async fn cache_clock_skew(&self) {
        if self.timekeeper.checking_skew.swap(true, Ordering::SeqCst) {
            return;
        }
        let _busy = Busy(&self.timekeeper.checking_skew);
        let measured = async {
            let db = self.instance_db()?;
            let rows = self
                .query(
                    &db,
                    &plans::schedule::database_time(&self.config.schema),
                    &[],
                )
                .await?;
            let local = self.local_now_ms().await?;
            let database: f64 = rows
                .first()
                .and_then(|r| r.parse().ok())
                .ok_or_else(|| BossError::operational("the database clock could not be read"))?;
            Ok::<f64, BossError>(database - local)
        }
        .await;
        match measured {
            Ok(skew) => {
                let seconds = skew.abs() / 1000.0;
                if seconds >= 60.0 {
                    let direction = if skew > 0.0 { "slower" } else { "faster" };
                    self.warn(
                        "clock_skew",
                        CLOCK_SKEW_MESSAGE.to_string(),
                        json!({ "seconds": seconds, "direction": direction }),
                    )
                    .await;
                }
                if let Ok(mut s) = self.timekeeper.skew_ms.lock() {
                    *s = skew;
                }
            }
            Err(err) => self.emit(EngineEvent::Error(err)),
        }
    }

    /// One attempt at the claim, and the pass when it is won. Answers how long to wait before the
    /// next attempt, counted from the claim (won or refused) or from now (no claim reached).
    async fn on_cron(&self) -> f64 {
        let interval_ms = self.config.cron_monitor_interval_seconds * 1000.0;
        if self.timekeeper.stopping() || self.timekeeper.timekeeping.swap(true, Ordering::SeqCst) {
            return interval_ms;
        }
        let _busy = Busy(&self.timekeeper.timekeeping);
        let attempt = async {
            let db = self.instance_db()?;
            let sql = plans::schedule::claim_cron(
                &self.config.schema,
                self.config.cron_monitor_interval_seconds,
            );
            let row = self.query(&db, &sql, &[]).await?;
            let claim = Claim::parse(row.first().map(String::as_str).unwrap_or(""));
            if !claim.claimed {
                return Ok(claim_retry_delay_ms(
                    self.config.cron_monitor_interval_seconds,
                    claim.elapsed_seconds,
                ));
            }
            self.cron_pass(claim.prior_ms).await?;
            Ok::<f64, BossError>(interval_ms)
        }
        .await;
        match attempt {
            Ok(delay) => delay,
            Err(err) => {
                self.emit(EngineEvent::Error(err));
                interval_ms
            }
        }
    }

    /// A pass: file every due occurrence (and owed missed one) of every schedule. `prior_ms` is
    /// when an instance last ran a pass, as the claim found it.
    pub async fn cron_pass(&self, prior_ms: Option<f64>) -> Result<()> {
        let db = self.instance_db()?;
        let rows = self
            .query(&db, &plans::schedule::for_pass(&self.config.schema), &[])
            .await?;
        let schedules: Vec<PassRow> = rows
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect();
        let database_time = self.database_time_ms().await?;
        let window_start = database_time - OCCURRENCE_WINDOW_MS;
        let mut still_broken = HashSet::new();
        if schedules.is_empty() {
            self.remember_broken(still_broken);
            return Ok(());
        }
        let request: Vec<Value> = schedules
            .iter()
            .map(|s| {
                let missed_from = match (missed_policy(&s.options), prior_ms) {
                    ("once", Some(prior)) => {
                        let from = prior.max(s.created_on.unwrap_or(prior));
                        (from < window_start).then_some(from)
                    }
                    _ => None,
                };
                json!({ "cron": s.cron, "kind": s.kind, "timezone": s.timezone, "missedFrom": missed_from })
            })
            .collect();
        let host = self.timekeeper.host().ok_or_else(|| {
            BossError::operational("schedules cannot be evaluated: no timekeeper host")
        })?;
        let answer = host
            .evaluate(json!({ "schedules": request, "windowStart": window_start, "databaseTime": database_time }))
            .await?;
        let evaluated: Vec<Evaluated> = serde_json::from_value(answer)?;
        let warned_before: HashSet<String> = self
            .timekeeper
            .warned
            .lock()
            .map(|w| w.clone())
            .unwrap_or_default();
        let mut filed = Vec::new();
        let mut relabelled = Vec::new();
        for (schedule, result) in schedules.iter().zip(evaluated) {
            let id = json!([
                schedule.name,
                schedule.key,
                schedule.cron,
                schedule.timezone
            ])
            .to_string();
            let warning_data = json!({ "queue": schedule.name, "key": schedule.key, "cron": schedule.cron, "timezone": schedule.timezone });
            let mut warn = |message: String| {
                still_broken.insert(id.clone());
                (!warned_before.contains(&id)).then_some(message)
            };
            if let Some(err) = result.error {
                if let Some(message) = warn(format!(
                    "Warning: schedule for queue \"{}\" (key \"{}\") could not be evaluated and was skipped: {err}",
                    schedule.name, schedule.key
                )) {
                    self.warn("invalid_schedule", message, warning_data).await;
                }
                continue;
            }
            if let Some(err) = result.missed_error {
                if let Some(message) = warn(format!(
                    "Warning: schedule for queue \"{}\" (key \"{}\") could not be caught up on the gap since the last cron pass: {err}",
                    schedule.name, schedule.key
                )) {
                    self.warn("invalid_schedule", message, warning_data).await;
                }
            }
            let kind = result.kind.unwrap_or_else(|| schedule.kind.clone());
            if kind != schedule.kind {
                relabelled.push(json!({ "name": schedule.name, "key": schedule.key, "kind": kind, "cron": schedule.cron }));
            }
            // One job per slot: a missed occurrence and a due one in the same slot are one job.
            let slots: BTreeSet<String> = result
                .missed
                .into_iter()
                .chain(result.occurrences)
                .map(throttle_slot)
                .collect();
            let singleton_key = super::occurrence_key(&schedule.name, &schedule.key);
            for slot in slots {
                filed.push(json!({
                    "data": {
                        "name": schedule.name,
                        "key": schedule.key,
                        "data": schedule.data,
                        "options": schedule.options,
                        "slot": slot,
                    },
                    "singletonKey": singleton_key,
                    "slot": slot,
                }));
            }
        }
        self.remember_broken(still_broken);
        if !filed.is_empty() {
            let queue = self.queue_info(SEND_IT_QUEUE).await?;
            let sql = plans::schedule::insert_occurrences(&self.config.schema, &queue.table);
            let inserted = self
                .query(
                    &db,
                    &sql,
                    &[
                        Some(SEND_IT_QUEUE.to_string()),
                        Some(Value::Array(filed).to_string()),
                    ],
                )
                .await?;
            if inserted.first().is_some_and(|n| n != "0") {
                // our own send-it worker need not wait out its polling interval
                for w in self.workers.matching(SEND_IT_QUEUE, None) {
                    w.wake.notify_one();
                }
            }
        }
        // after the sends: a failed relabel must not cost an occurrence
        if !relabelled.is_empty() {
            self.query(
                &db,
                &plans::schedule::set_kinds(&self.config.schema),
                &[Some(Value::Array(relabelled).to_string())],
            )
            .await?;
        }
        Ok(())
    }

    fn remember_broken(&self, still_broken: HashSet<String>) {
        if let Ok(mut w) = self.timekeeper.warned.lock() {
            *w = still_broken;
        }
    }

    /// The slot a job filed by an older release (no `slot` in its data) is counted in.
    pub async fn current_slot(&self) -> String {
        let now = self
            .database_time_ms()
            .await
            .unwrap_or(crate::worker::now_ms() as f64);
        throttle_slot(now)
    }
}

/// The claim chain: a pass at once, then one attempt per interval (see `on_cron`).
async fn cron_chain(engine: Weak<Engine>, mut stop: watch::Receiver<bool>) {
    loop {
        let Some(e) = engine.upgrade() else { break };
        // the claim is the attempt's first statement: the wait counts from it, so a pass's own
        // length does not push the next claim later
        let attempted = tokio::time::Instant::now();
        let delay = e.on_cron().await;
        // (real time only: a test clock stands still while the pass runs)
        let delay = if e.config.clock.is_some() {
            delay
        } else {
            (delay - attempted.elapsed().as_secs_f64() * 1000.0).max(0.0)
        };
        if !e.timekeeper_sleep("cron", delay, &mut stop).await {
            break;
        }
    }
}

/// The skew chain: a measurement every `clockMonitorIntervalSeconds`, each a full interval after
/// the last one finished (the first was taken by start).
async fn skew_chain(engine: Weak<Engine>, mut stop: watch::Receiver<bool>) {
    loop {
        let Some(e) = engine.upgrade() else { break };
        let period = e.config.clock_monitor_interval_seconds * 1000.0;
        if !e.timekeeper_sleep("skew", period, &mut stop).await {
            break;
        }
        e.cache_clock_skew().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_row_reads_both_outcomes() {
        assert_eq!(
            Claim::parse("true|1764583200000|31.5"),
            Claim {
                claimed: true,
                prior_ms: Some(1764583200000.0),
                elapsed_seconds: Some(31.5)
            }
        );
        assert_eq!(
            Claim::parse("false||"),
            Claim {
                claimed: false,
                prior_ms: None,
                elapsed_seconds: None
            }
        );
        assert!(!Claim::parse("").claimed);
    }

    #[test]
    fn a_refused_instance_returns_when_the_winner_is_due() {
        // 10 s into a 30 s interval: 20 s left plus a one-second beat
        assert_eq!(claim_retry_delay_ms(30.0, Some(10.0)), 21_000.0);
        // an unknown age waits a full interval; a small interval's beat is a quarter of it
        assert_eq!(claim_retry_delay_ms(30.0, None), 31_000.0);
        assert_eq!(claim_retry_delay_ms(2.0, Some(5.0)), 500.0);
    }

    #[test]
    fn slots_are_utc_minutes() {
        // 2026-12-01T10:15:42.123Z
        assert_eq!(throttle_slot(1_796_120_142_123.0), "2026-12-01 10:15:00");
        assert_eq!(throttle_slot(1_796_120_100_000.0), "2026-12-01 10:15:00");
    }

    #[test]
    fn only_once_is_a_catch_up_policy() {
        assert_eq!(missed_policy(&json!({ "missed": "once" })), "once");
        assert_eq!(missed_policy(&json!({ "missed": "always" })), "skip");
        assert_eq!(missed_policy(&Value::Null), "skip");
    }
}

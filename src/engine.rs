//! The engine: one per `PgBoss` instance. Owns the native pool (or the caller's executor), the
//! queue cache and the background tasks, and implements the lifecycle (the schema start finds:
//! `engine/schema.rs`). Queue and job operations live in `queues.rs` and `jobs/`.

use crate::config::Config;
use crate::db::{first_column, NativePool, Param, SharedExecutor};
use crate::error::{BossError, Result};
use crate::metrics::Metrics;
use crate::plans;
use crate::queue_cache::{QueueCache, QueueInfo};
use crate::worker::WorkerRegistry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

mod schema;

/// What the engine reports to the JS `EventEmitter` (`error` / `warning`).
#[derive(Debug, Clone)]
pub enum EngineEvent {
    Error(BossError),
    /// A worker's failure; pg-boss names the queue and worker in the message.
    WorkerError {
        error: BossError,
        queue: String,
        worker: String,
    },
    Warning {
        message: String,
        data: serde_json::Value,
    },
    /// `getWipData()` while workers hold jobs (at most every 2 s).
    Wip(serde_json::Value),
    /// An event of its own name with its data as pg-boss emits it (`flow`).
    Named {
        name: &'static str,
        data: serde_json::Value,
    },
    /// For the test spies, only with `__test__enableSpies` (see `crate::spy`).
    Spy(crate::spy::SpyEvent),
}

pub type EventSink = Arc<dyn Fn(EngineEvent) + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Created,
    Started,
    Stopped,
}

pub struct Engine {
    pub config: Config,
    /// The constructor `db`, when given; otherwise the pool once opened.
    external: Option<SharedExecutor>,
    pool: Mutex<Option<Arc<NativePool>>>,
    pub queues: QueueCache,
    lifecycle: Mutex<Lifecycle>,
    /// Serialises concurrent `start()` / `stop()` calls so they share one outcome.
    transition: tokio::sync::Mutex<()>,
    /// The tries of a `start({ attempts })` in progress, which `stop()` ends.
    start_retries: crate::start_retry::StartRetries,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    events: Mutex<Option<EventSink>>,
    pub workers: WorkerRegistry,
    pub metrics: Metrics,
    /// Concurrent `send()`s to one queue share INSERT statements.
    pub send_batcher: crate::send_batch::SendBatcher,
    /// The LISTEN connection is up, so notify queues poll at their relaxed interval.
    listening: AtomicBool,
    last_wip_ms: AtomicU64,
    /// Events handed to the sink so far: `start()` in index.js waits until it has received as many
    /// as had been raised when the engine's start finished (see `events_emitted`).
    emitted: AtomicU64,
    /// This instance's row in `<schema>.instance` (see `registry`).
    pub registry: crate::registry::Registry,
    /// Supervise passes running now (`isMaintaining()`).
    pub maintaining: std::sync::atomic::AtomicUsize,
    /// The cron claim and pass, the skew monitor (`schedule`).
    pub timekeeper: crate::schedule::Timekeeper,
    /// The process vitals each registry heartbeat records.
    pub vitals: crate::vitals::Vitals,
    /// The flow resolver's pass lock and state (`flow`).
    pub flow: crate::flow::FlowResolver,
    /// The BAM runner's state (`bam::runner`).
    pub bam: crate::bam::BamRunner,
    /// What the reindex pass and the vacuum checks remember between supervise passes.
    pub reindex: crate::reindex::ReindexState,
    pub vacuum: crate::monitor::VacuumState,
    /// Transactional handlers' open transactions (`worker::transaction`).
    pub transactions: crate::worker::transaction::Transactions,
    /// `handler_overrun` tallies per queue (`worker::overrun`).
    pub overruns: crate::worker::overrun::Overruns,
}

pub const SEND_IT_QUEUE: &str = "__pgboss__send-it";

impl Engine {
    pub fn new(config: Config, external: Option<SharedExecutor>) -> Arc<Engine> {
        Arc::new(Engine {
            config,
            external,
            pool: Mutex::new(None),
            queues: QueueCache::default(),
            lifecycle: Mutex::new(Lifecycle::Created),
            transition: tokio::sync::Mutex::new(()),
            start_retries: Default::default(),
            tasks: Mutex::new(Vec::new()),
            events: Mutex::new(None),
            workers: WorkerRegistry::default(),
            metrics: Metrics::default(),
            send_batcher: Default::default(),
            listening: AtomicBool::new(false),
            last_wip_ms: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            registry: Default::default(),
            maintaining: Default::default(),
            timekeeper: Default::default(),
            vitals: Default::default(),
            flow: Default::default(),
            bam: Default::default(),
            reindex: Default::default(),
            vacuum: Default::default(),
            transactions: Default::default(),
            overruns: Default::default(),
        })
    }

    pub fn set_event_sink(&self, sink: Option<EventSink>) {
        if let Ok(mut e) = self.events.lock() {
            *e = sink;
        }
    }

    pub fn emit(&self, event: EngineEvent) {
        let sink = self.events.lock().ok().and_then(|e| e.clone());
        if let Some(sink) = sink {
            self.emitted.fetch_add(1, Ordering::SeqCst);
            sink(event);
        }
    }

    /// How many events have gone to the sink.
    pub fn events_emitted(&self) -> u64 {
        self.emitted.load(Ordering::SeqCst)
    }

    /// pg-boss's `#notifyEnabled`: a queue's `notify` opt-in, where the backend has LISTEN/NOTIFY
    /// (CockroachDB has no NOTIFY).
    pub(crate) fn notify_enabled(&self, queue_notify: bool) -> bool {
        queue_notify && self.config.backend != "cockroachdb"
    }

    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    pub fn set_listening(&self, on: bool) {
        self.listening.store(on, Ordering::Relaxed)
    }

    /// Emit `wip` if a non-internal worker holds jobs and the last one was 2 s ago or more.
    pub fn emit_wip_soon(&self) {
        self.emit_wip_after(2000)
    }

    /// `wip` if busy and the last one was `gap_ms` ago or more. The 2 s ticker asks for less than
    /// its period: its ticks keep a fixed schedule, so one after a late tick comes a little under
    /// 2 s later, and a strict 2 s would skip it (a wip every 4 s while a handler runs long).
    fn emit_wip_after(&self, gap_ms: u64) {
        let now = crate::worker::now_ms();
        let last = self.last_wip_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < gap_ms {
            return;
        }
        let busy = self
            .workers
            .all()
            .iter()
            .any(|w| !w.internal() && w.jobs_in_hand() > 0);
        if busy
            && self
                .last_wip_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.emit(EngineEvent::Wip(self.wip_data(false)));
        }
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
            .lock()
            .map(|l| *l)
            .unwrap_or(Lifecycle::Stopped)
    }

    /// The executor for a call: the caller's `db`, else the instance's.
    pub fn db(&self, per_call: Option<SharedExecutor>) -> Result<SharedExecutor> {
        if let Some(db) = per_call {
            return Ok(db);
        }
        self.instance_db()
    }

    pub fn instance_db(&self) -> Result<SharedExecutor> {
        if let Some(db) = &self.external {
            return Ok(db.clone());
        }
        let pool = self.pool.lock().ok().and_then(|p| p.clone());
        match pool {
            Some(pool) => Ok(pool as SharedExecutor),
            None => Err(BossError::assertion("Database connection is not opened")),
        }
    }

    pub(crate) fn open_pool(&self) -> Result<()> {
        if self.external.is_some() {
            return Ok(());
        }
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| BossError::operational("pool lock poisoned"))?;
        if pool.is_none() {
            let sink = self.events.lock().ok().and_then(|e| e.clone());
            let on_error: Option<crate::db::ConnectionErrorSink> = sink.map(|sink| {
                Arc::new(move |err: BossError| sink(EngineEvent::Error(err)))
                    as crate::db::ConnectionErrorSink
            });
            let settings = self.config.connection.as_ref().ok_or_else(|| {
                BossError::operational("no connection settings for the native pool")
            })?;
            *pool = Some(Arc::new(NativePool::new(settings, on_error)?));
        }
        Ok(())
    }

    /// The native pool, when the engine runs on one (not with a caller's `db`) and it is open.
    pub fn native_pool(&self) -> Option<Arc<NativePool>> {
        self.pool.lock().ok().and_then(|p| p.clone())
    }

    /// `getDb().pool`'s counts; `None` before `start()`, after `stop()`, and with a caller's `db`.
    pub fn pool_counts(&self) -> Option<crate::db::PoolCounts> {
        let pool = self.pool.lock().ok().and_then(|p| p.clone())?;
        Some(pool.counts())
    }

    pub(crate) fn close_pool(&self) {
        if let Ok(mut pool) = self.pool.lock() {
            if let Some(p) = pool.take() {
                p.close();
            }
        }
    }

    pub async fn query(
        &self,
        db: &SharedExecutor,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<String>> {
        Ok(first_column(db.query(sql, params).await?))
    }

    /// `start()`: one try.
    pub async fn start(self: &Arc<Self>) -> Result<()> {
        self.start_with_attempts(1).await
    }

    /// `start({ attempts })`: concurrent calls share one start; a started instance returns at
    /// once. A failure is tried again up to `attempts` tries in all (see `start_retry`).
    pub async fn start_with_attempts(self: &Arc<Self>, attempts: u64) -> Result<()> {
        let _guard = self.transition.lock().await;
        if self.lifecycle() == Lifecycle::Started {
            return Ok(());
        }
        let emit = |event| self.emit(event);
        self.registry.begin_start();
        self.start_retries
            .run(attempts, emit, || self.try_start())
            .await
    }

    /// One try at `start()`. One that fails closes the pool it opened and spawns nothing, so a
    /// failed start leaves nothing running.
    async fn try_start(self: &Arc<Self>) -> Result<()> {
        self.registry.next_start_attempt();
        self.open_pool()?;
        let result = async {
            self.warn_if_distributed_misconfigured().await;
            self.ensure_schema().await?;
            self.attach_clock().await?;
            self.refresh_queue_cache().await?;
            if self.config.schedule {
                // pg-boss creates its cron forwarding queue on start; mixed fleets expect it.
                let mut options = serde_json::Map::new();
                options.insert(
                    "policy".into(),
                    serde_json::Value::String("standard".into()),
                );
                self.create_queue_internal(SEND_IT_QUEUE, &options).await?;
            }
            Ok::<(), BossError>(())
        }
        .await;
        if let Err(err) = result {
            self.close_pool();
            return Err(err);
        }
        self.spawn_queue_cache_refresh();
        self.spawn_wip_ticker();
        if self.config.supervise {
            self.spawn_supervisor();
        }
        if self.config.use_listen_notify {
            self.start_listening();
        }
        self.start_flow_resolver();
        self.start_bam_runner();
        self.start_registry().await;
        if let Ok(mut l) = self.lifecycle.lock() {
            *l = Lifecycle::Started;
        }
        if self.config.schedule {
            // started: its send-it worker is one of the instance's workers
            if let Err(err) = self.start_timekeeper().await {
                self.emit(EngineEvent::Error(err));
            }
        }
        Ok(())
    }

    /// `stop()`: workers stop polling; with `graceful` their handlers get up to `timeout_ms` to
    /// finish; jobs still held then are failed (`pg-boss shut down while active`) and their signals
    /// aborted; background tasks end; the pool closes when `close` (and the instance owns it).
    pub async fn stop(&self, close: bool, graceful: bool, timeout_ms: u64) -> Result<bool> {
        // a start waiting to try again holds the lock: it fails now instead
        self.cancel_start_retries();
        let _guard = self.transition.lock().await;
        if self.lifecycle() != Lifecycle::Started {
            if close && self.lifecycle() == Lifecycle::Stopped {
                self.close_pool();
            }
            return Ok(false);
        }
        // a BAM command gets the graceful timeout from here, then is ended (pg-boss's bam deadline)
        let bam_deadline = std::time::Instant::now()
            + std::time::Duration::from_millis(if graceful { timeout_ms } else { 0 });
        // first, so a pass in progress files its occurrences while the pool is still open
        self.stop_timekeeper().await;
        self.stop_flow_resolver().await;
        let workers = self.workers.all();
        for w in &workers {
            w.request_stop();
        }
        if graceful {
            let deadline = tokio::time::Instant::now()
                + std::time::Duration::from_millis(timeout_ms.max(1000));
            for w in &workers {
                if let Some(mut task) = w.take_task() {
                    if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                        // still running: put it back for the shutdown below
                        w.set_task(task);
                    }
                }
            }
        }
        self.stop_bam_runner(bam_deadline).await;
        self.fail_work_in_progress(&workers).await;
        for w in &workers {
            if let Some(task) = w.take_task() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
            }
            self.workers.remove(&w.id);
        }
        if let Ok(mut tasks) = self.tasks.lock() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
        self.set_listening(false);
        crate::worker::overrun::flush(self).await;
        // after the drain, so a graceful stop reads as live until its workers have finished
        self.stop_registry().await;
        if let Err(err) = self.detach_clock().await {
            self.emit(EngineEvent::Error(err));
        }
        if close {
            self.close_pool();
        }
        if let Ok(mut l) = self.lifecycle.lock() {
            *l = Lifecycle::Stopped;
        }
        Ok(true)
    }

    /// A `start()` waiting to try again fails now with its last error; one mid-try tries no more.
    pub fn cancel_start_retries(&self) {
        self.start_retries.cancel();
    }

    /// Fail every job a worker still holds, then release the workers' handler waits.
    async fn fail_work_in_progress(&self, workers: &[Arc<crate::worker::Worker>]) {
        let output = crate::worker::outcome::shutdown_output();
        // The send-it worker's handler is ours and takes milliseconds: it is let finish (the join
        // below waits for it), since failing a batch whose sends went out would send them again.
        for w in workers.iter().filter(|w| !w.internal()) {
            // the batches in hand now; one claimed meanwhile is failed by its own loop (`handler_call`)
            let (batches, held): (Vec<u64>, Vec<crate::worker::ClaimedJob>) = w
                .with_info(|i| {
                    let batches = i.in_hand.iter().map(|(b, _)| *b).collect();
                    let held = i
                        .in_hand
                        .iter()
                        .flat_map(|(_, jobs)| jobs.clone())
                        .collect();
                    (batches, held)
                })
                .unwrap_or_default();
            if !held.is_empty() {
                // failed with normal retry rules, as pg-boss's shutdown does
                let rows = crate::worker::outcome::fail_all(&held, output.clone(), false);
                match self.queue_info(&w.name).await {
                    Ok(q) => match self.settle_rows(&w.name, &q, &rows).await {
                        Ok(_) => self.spy_failed_by_shutdown(w).await,
                        Err(err) => self.emit(EngineEvent::WorkerError {
                            error: err,
                            queue: w.name.clone(),
                            worker: w.id.clone(),
                        }),
                    },
                    Err(err) => self.emit(EngineEvent::Error(err)),
                }
                w.with_info(|i| i.in_hand.retain(|(b, _)| !batches.contains(b)));
            }
            w.mark_abandoned();
        }
    }

    pub fn add_task(&self, task: JoinHandle<()>) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task);
        }
    }

    /// A background task that runs `pass` every `period` (the first one period after the start)
    /// for as long as the engine lives, emitting a failed pass's error; `missed` says what a
    /// tick does that comes while a slow pass still runs.
    pub(crate) fn spawn_every<F, Fut>(
        self: &Arc<Self>,
        period: std::time::Duration,
        missed: tokio::time::MissedTickBehavior,
        pass: F,
    ) where
        F: Fn(Arc<Engine>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send,
    {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(missed);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(engine) = weak.upgrade() else { break };
                if let Err(err) = pass(engine.clone()).await {
                    engine.emit(EngineEvent::Error(err));
                }
            }
        });
        self.add_task(task);
    }

    fn spawn_queue_cache_refresh(self: &Arc<Self>) {
        let period = std::time::Duration::from_secs_f64(self.config.queue_cache_interval_seconds);
        self.spawn_every(
            period,
            tokio::time::MissedTickBehavior::Burst,
            |engine| async move { engine.refresh_queue_cache().await },
        );
    }

    fn spawn_wip_ticker(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(std::time::Duration::from_secs(2));
            loop {
                ticker.tick().await;
                let Some(engine) = weak.upgrade() else { break };
                engine.emit_wip_after(1500);
            }
        });
        self.add_task(task);
    }

    pub async fn refresh_queue_cache(&self) -> Result<()> {
        let rows = self.get_queues_raw(None, None, None).await?;
        let infos = rows
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .filter_map(|v: serde_json::Value| QueueInfo::from_json(&v))
            .collect();
        self.queues.replace_all(infos);
        Ok(())
    }

    /// `getQueueCache(name)`.
    pub async fn queue_info(&self, name: &str) -> Result<QueueInfo> {
        if let Some(q) = self.queues.get(name) {
            return Ok(q);
        }
        // a cache miss reads through getQueues(), which checks the name, as in pg-boss
        crate::names::assert_queue_name(Some(&serde_json::Value::String(name.to_string())))?;
        let rows = self
            .get_queues_raw(Some(vec![name.to_string()]), None, None)
            .await?;
        let info = rows
            .first()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
            .and_then(|v| QueueInfo::from_json(&v))
            .ok_or_else(|| crate::queues::queue_not_found(name))?;
        crate::names::assert_table_name(&info.table)?;
        if self.queues.is_initialized() {
            self.queues.insert(info.clone());
        }
        Ok(info)
    }

    /// Rows of `getQueues` as JSON text.
    pub async fn get_queues_raw(
        &self,
        names: Option<Vec<String>>,
        after: Option<String>,
        limit: Option<i64>,
    ) -> Result<Vec<String>> {
        let db = self.instance_db()?;
        let names_json = names.map(|n| serde_json::to_string(&n).unwrap_or_else(|_| "[]".into()));
        let params = vec![names_json, after, limit.map(|l| l.to_string())];
        self.query(
            &db,
            &plans::queues::get_queues(&self.config.schema),
            &params,
        )
        .await
    }
}

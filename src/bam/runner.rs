//! The BAM runner, as pg-boss 12.38 runs it: with `migrate` on, a background loop claims the
//! `version.bam_on` gate every `bamIntervalSeconds` (the first time at start); the instance that
//! wins runs the queued commands back to back, each claimed under the `bamClaim` advisory lock
//! (one claim at a time across the fleet, pg-boss's instances included) and run on a connection
//! of its own outside any transaction block. A row's outcome (completed, or failed with its error)
//! is written back, and `bam` events report each step.
//!
//! A dead claimer is told from a running one as pg-boss tells it: on Postgres an `in_progress` row
//! is reclaimed once past the grace window with no ShareUpdateExclusiveLock granted on its table
//! (`pg_locks`); a re-attempted concurrent build first checks the catalog (a valid index completes
//! the row; an invalid stub is dropped and built again). `stop()` waits for a command until its
//! deadline, then ends it: a concurrent index statement is left to the server (its connection is
//! closed; the row stays `in_progress` for a later claim), any other is cancelled and recorded.

use crate::db::{CommandEnd, CommandError};
use crate::engine::{Engine, EngineEvent};
use crate::error::{BossError, Result};
use crate::plans;
use crate::plans::bam as sql;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often `stop()` repeats a cancel that found nothing to cancel.
const CANCEL_RETRY: Duration = Duration::from_millis(1000);

const NOT_STARTED: &str = "stop() ended the command before it ran";

#[derive(Default)]
pub struct BamRunner {
    /// A poll (claim and commands) runs now (`isBamWorking()`).
    working: AtomicBool,
    /// `stop()` has begun: no new poll or claim starts.
    stopping: AtomicBool,
    running: Mutex<Option<Arc<Running>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ending {
    /// Nothing to end (between statements, or a caller's db that cannot be cancelled).
    Wait,
    Cancel,
    Abandon,
}

/// The command a poll is running, as `stop()` sees it.
struct Running {
    id: String,
    stopped: AtomicBool,
    ended: AtomicBool,
    ending: Mutex<Ending>,
    abort: tokio::sync::watch::Sender<bool>,
}

impl Running {
    fn ending(&self) -> Ending {
        self.ending.lock().map(|e| *e).unwrap_or(Ending::Wait)
    }
    fn set_ending(&self, ending: Ending) {
        if let Ok(mut e) = self.ending.lock() {
            *e = ending;
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    id: String,
    name: String,
    queue: Option<String>,
    table: Option<String>,
    command: String,
    reattempt: bool,
    prior_status: String,
    prior_started_on: Option<String>,
    claimed_started_on: String,
}

/// An error as pg-boss records it (`String(err)`): node-postgres's server errors read `error: ...`.
fn recorded(err: &BossError) -> String {
    if err.sqlstate().is_some() {
        format!("error: {}", err.message)
    } else {
        format!("Error: {}", err.message)
    }
}

impl Engine {
    /// `isBamWorking()`.
    pub fn is_bam_working(&self) -> bool {
        self.bam.working.load(Ordering::SeqCst)
    }

    fn cockroach(&self) -> bool {
        self.config.backend == "cockroachdb"
    }

    /// The backends pg-boss runs without advisory locks and without the index-progress view.
    fn bam_timeout_only(&self) -> bool {
        matches!(self.config.backend.as_str(), "cockroachdb" | "yugabytedb")
    }

    /// At start, with `migrate`: the loop begins, its first poll at once.
    pub fn start_bam_runner(self: &Arc<Self>) {
        if !self.config.migrate {
            return;
        }
        self.bam.stopping.store(false, Ordering::SeqCst);
        let weak = Arc::downgrade(self);
        let period = Duration::from_secs_f64(self.config.bam_interval_seconds);
        let task = tokio::spawn(async move {
            loop {
                let Some(engine) = weak.upgrade() else { break };
                let mut anchor = tokio::time::Instant::now();
                engine.bam_poll(&mut anchor).await;
                drop(engine);
                // as pg-boss's claim timer: ticks every period from the gate's stamp; ticks that
                // fall within a burst are skipped
                let mut next = anchor + period;
                while next <= tokio::time::Instant::now() {
                    next += period;
                }
                tokio::time::sleep_until(next).await;
            }
        });
        if let Ok(mut t) = self.bam.task.lock() {
            *t = Some(task);
        }
    }

    /// At stop: no new poll or claim; a command running is waited for until `deadline`, then
    /// ended, and its row recorded before this returns (the pool is still open).
    pub async fn stop_bam_runner(&self, deadline: Instant) {
        self.bam.stopping.store(true, Ordering::SeqCst);
        let mut ended_at: Option<Instant> = None;
        while self.bam.working.load(Ordering::SeqCst) {
            let running = self.bam.running.lock().ok().and_then(|r| r.clone());
            if let Some(running) = running.filter(|_| Instant::now() >= deadline) {
                running.stopped.store(true, Ordering::SeqCst);
                if !running.ended.load(Ordering::SeqCst)
                    && running.ending() != Ending::Wait
                    && ended_at.is_none_or(|t| t.elapsed() >= CANCEL_RETRY)
                {
                    ended_at = Some(Instant::now());
                    self.end_bam_command(&running).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(task) = self.bam.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }

    async fn end_bam_command(&self, running: &Running) {
        let _ = running.abort.send(true);
        if running.ending() == Ending::Abandon {
            running.ended.store(true, Ordering::SeqCst);
            return;
        }
        let result = async {
            let db = self.instance_db()?;
            self.query(&db, &sql::cancel_command(&running.id), &[])
                .await
        }
        .await;
        match result {
            Ok(rows) => {
                if rows.iter().any(|r| r == "true") {
                    running.ended.store(true, Ordering::SeqCst);
                }
            }
            Err(err) => {
                // a role that sees the statement but cannot signal it: reported once, then waited for
                running.set_ending(Ending::Wait);
                self.emit(EngineEvent::Error(err));
            }
        }
    }

    /// One tick: skipped while stopping or working; claims the gate (`anchor` is then the time of
    /// its stamp) and on a win runs the commands back to back.
    async fn bam_poll(&self, anchor: &mut tokio::time::Instant) {
        if self.bam.stopping.load(Ordering::SeqCst) || self.bam.working.swap(true, Ordering::SeqCst)
        {
            return;
        }
        if self.bam.stopping.load(Ordering::SeqCst) {
            self.bam.working.store(false, Ordering::SeqCst);
            return;
        }
        let result = async {
            let db = self.instance_db()?;
            let gate = sql::claim_pass(&self.config.schema, self.config.bam_interval_seconds);
            let won = self.query(&db, &gate, &[]).await?.len() == 1;
            *anchor = tokio::time::Instant::now();
            if won {
                let mut pending_only = false;
                while !self.bam.stopping.load(Ordering::SeqCst)
                    && self.bam_next_command(pending_only).await?
                {
                    pending_only = true;
                }
            }
            Ok::<(), BossError>(())
        }
        .await;
        if let Err(err) = result {
            self.emit(EngineEvent::Error(err));
        }
        self.bam.working.store(false, Ordering::SeqCst);
    }

    async fn bam_claim(&self, pending_only: bool) -> Result<Option<Entry>> {
        let schema = &self.config.schema;
        let db = self.instance_db()?;
        let claim = sql::claim_command(schema, !self.bam_timeout_only(), pending_only);
        let rows = if self.bam_timeout_only() {
            self.query(&db, &claim, &[]).await?
        } else {
            let script = plans::locked(schema, sql::CLAIM_LOCK_KEY, &[claim]);
            let rows = db.script_rows(&script).await?;
            if rows.is_empty() {
                return Err(BossError::operational(
                    "bam claim returned no lock row: a custom db must return the rows of every statement in a multi-statement query",
                ));
            }
            rows.into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect()
        };
        Ok(rows
            .iter()
            .filter(|r| r.starts_with('{'))
            .find_map(|r| serde_json::from_str::<Entry>(r).ok()))
    }

    fn bam_event(&self, entry: &Entry, status: &str, error: Option<String>) {
        let mut data = json!({
            "id": entry.id,
            "name": entry.name,
            "status": status,
            "queue": entry.queue,
            "table": entry.table,
        });
        if let Some(error) = error {
            data["error"] = json!(error);
        }
        self.emit(EngineEvent::Named { name: "bam", data });
    }

    /// Claims and runs one command; whether one was claimed, whatever its outcome.
    async fn bam_next_command(&self, pending_only: bool) -> Result<bool> {
        let Some(entry) = self.bam_claim(pending_only).await? else {
            return Ok(false);
        };
        let schema = &self.config.schema;
        let db = self.instance_db()?;
        if self.bam.stopping.load(Ordering::SeqCst) {
            // the claim landed on the wrong side of a stop: handed back as it was found
            let release = sql::release_command(
                schema,
                &entry.id,
                &entry.prior_status,
                entry.prior_started_on.as_deref(),
                &entry.claimed_started_on,
            );
            if let Err(err) = self.query(&db, &release, &[]).await {
                self.emit(EngineEvent::Error(err));
            }
            return Ok(false);
        }
        let running = Arc::new(Running {
            id: entry.id.clone(),
            stopped: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            ending: Mutex::new(Ending::Wait),
            abort: tokio::sync::watch::channel(false).0,
        });
        if let Ok(mut r) = self.bam.running.lock() {
            *r = Some(running.clone());
        }
        self.bam_event(&entry, "in_progress", None);
        let mut build_pending = false;
        let outcome = self
            .bam_run_entry(&running, &entry, &mut build_pending)
            .await;
        let outcome = match outcome {
            Ok(()) => self
                .query(&db, &sql::set_completed(schema, &entry.id), &[])
                .await
                .map(|_| ()),
            Err(err) => Err(err),
        };
        match outcome {
            Ok(()) => self.bam_event(&entry, "completed", None),
            Err(err) => {
                // a cancel stop() sent can fail the statement before its own reply is read
                let cancelled = *running.abort.borrow() && err.sqlstate() == Some("57014");
                if cancelled {
                    running.ended.store(true, Ordering::SeqCst);
                }
                let ended = running.ended.load(Ordering::SeqCst);
                if ended && running.ending() == Ending::Abandon {
                    // left to the server: the row stays in_progress for the liveness check
                    self.clear_running();
                    return Ok(true);
                }
                let text = recorded(&err);
                if let Err(mark) = self
                    .query(&db, &sql::set_failed(schema, &entry.id, &text), &[])
                    .await
                {
                    self.emit(EngineEvent::Error(mark));
                }
                if !ended && !build_pending {
                    self.emit(EngineEvent::Error(err));
                }
                self.bam_event(&entry, "failed", Some(text));
            }
        }
        self.clear_running();
        Ok(true)
    }

    fn clear_running(&self) {
        if let Ok(mut r) = self.bam.running.lock() {
            *r = None;
        }
    }

    /// The row's statements: the heal of a re-attempt, the command, the check after a build.
    async fn bam_run_entry(
        &self,
        running: &Running,
        entry: &Entry,
        build_pending: &mut bool,
    ) -> Result<()> {
        let schema = &self.config.schema;
        let db = self.instance_db()?;
        let shape = sql::command_shape(&entry.command);
        let liveness = !self.bam_timeout_only();
        let probe = |bare: &str| sql::heal_probe(schema, bare);
        if entry.reattempt {
            if let Some((token, bare)) = &shape.built {
                let rows = self.query(&db, &probe(bare), &[]).await?;
                match rows.first().map(String::as_str) {
                    // an invalid stub an interrupted build left: dropped first (liveness path only)
                    Some("true") if liveness => {
                        self.bam_execute(running, &sql::heal_drop(schema, token))
                            .await?;
                    }
                    Some("true") | None => {}
                    // valid: the build finished and only the row was never marked
                    Some(_) => return Ok(()),
                }
            }
        }
        self.bam_execute(running, &entry.command).await?;
        if let Some((_, bare)) = &shape.built {
            let rows = self.query(&db, &probe(bare), &[]).await?;
            let invalid = rows.first().map(String::as_str) == Some("true");
            if rows.is_empty() || (invalid && liveness) {
                *build_pending = rows.is_empty() && self.cockroach();
                let name = shape.index.as_deref().unwrap_or(bare);
                return Err(BossError::operational(if rows.is_empty() {
                    format!("index {name} does not exist after the build. An earlier build of it may still be running.")
                } else {
                    format!("index {name} is invalid after the build")
                }));
            }
        }
        Ok(())
    }

    /// One statement of a claimed row, so `stop()` can end it.
    async fn bam_execute(&self, running: &Running, statement: &str) -> Result<()> {
        let not_started = || {
            running.set_ending(Ending::Wait);
            running.ended.store(true, Ordering::SeqCst);
            BossError::operational(NOT_STARTED)
        };
        if running.stopped.load(Ordering::SeqCst) {
            return Err(not_started());
        }
        let pool = self.native_pool();
        let shape = sql::command_shape(statement);
        let ending = match &pool {
            None if self.cockroach() => Ending::Wait,
            None => Ending::Cancel,
            Some(_) if self.cockroach() => Ending::Abandon,
            Some(_) if !self.bam_timeout_only() && shape.concurrent => Ending::Abandon,
            Some(_) => Ending::Cancel,
        };
        running.set_ending(ending);
        let text = if self.cockroach() {
            statement.to_string()
        } else {
            format!("{}\n{statement}", sql::command_tag(&running.id))
        };
        let result = match pool {
            Some(pool) => {
                let end = if ending == Ending::Abandon {
                    CommandEnd::Abandon
                } else {
                    CommandEnd::Retire
                };
                match pool
                    .run_command(&text, running.abort.subscribe(), end)
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(CommandError::NotStarted) => return Err(not_started()),
                    // ending stays Abandon: the row is left in_progress
                    Err(CommandError::Abandoned) => {
                        return Err(BossError::operational(
                            "stop() left the command to the server",
                        ))
                    }
                    Err(CommandError::Failed(err)) => Err(err),
                }
            }
            None => self.instance_db()?.batch(&text).await,
        };
        running.set_ending(Ending::Wait);
        result
    }
}

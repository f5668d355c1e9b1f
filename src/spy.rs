//! Test spies (`__test__enableSpies`): what the engine tells JavaScript so that `lib/spy.js`
//! can resolve `getSpy(name).waitForJob(...)` as pg-boss 12.38 does.
//!
//! The spies themselves live in JavaScript (their selectors are JS functions). JavaScript records
//! what it already knows: jobs its own `send()` / `insert()` / `publish()` created, and jobs a
//! handler is called with (`active`). The engine reports the rest, and only when spies are on:
//!
//! - jobs it created itself (a schedule's send-it worker) through [`Engine::spy_created`];
//! - jobs a worker claimed but hands back before any handler sees them (over a
//!   `localGroupConcurrency` limit) through [`Engine::spy_active`];
//! - every write-back of a worker's outcomes, once the statement has returned, through
//!   [`Engine::spy_settled`], so a `completed` or `failed` spy state is never seen before the
//!   database holds it. JavaScript pairs the batch ids with the handler calls it made.
//!
//! With spies off, both are a branch on a config flag.

use crate::engine::{Engine, EngineEvent};
use crate::metrics::SettleCounts;
use crate::worker::outcome::SettleRow;
use crate::worker::{ClaimedJob, Worker};
use serde_json::{json, Value};

/// A report for the spies.
#[derive(Debug, Clone, PartialEq)]
pub enum SpyEvent {
    /// Jobs created on `queue`: each id with its data.
    Created {
        queue: String,
        jobs: Vec<(String, Value)>,
    },
    /// Jobs a worker claimed that no handler will see (over a `localGroupConcurrency` limit,
    /// handed back): pg-boss records every job it fetched as `active`. Each job as its handler
    /// would have received it.
    Active { queue: String, jobs: Vec<Value> },
    /// Jobs of handler calls a shutdown failed, as stored once it had: per batch, each job's
    /// id, state and output (pg-boss reads them back the same way).
    Stored {
        queue: String,
        batches: Vec<(u64, Vec<Value>)>,
    },
    /// Outcomes of handler calls on `queue` written back: per batch (handler call) id, each job
    /// with the status the engine wrote (`completed`, `failed` or `deadletter`). `landed` says
    /// every row of the statement settled its job; when not, some were fenced out (the job had
    /// left its claimed attempt, e.g. the handler settled it itself) and JavaScript reads the
    /// jobs back, as pg-boss does.
    Settled {
        queue: String,
        landed: bool,
        batches: Vec<(u64, Vec<(String, &'static str)>)>,
    },
}

impl SpyEvent {
    /// The event as index.js receives it.
    pub fn to_json(&self) -> Value {
        match self {
            SpyEvent::Created { queue, jobs } => json!({
                "event": "spy",
                "kind": "created",
                "queue": queue,
                "jobs": jobs.iter().map(|(id, data)| json!({ "id": id, "data": data })).collect::<Vec<_>>(),
            }),
            SpyEvent::Active { queue, jobs } => json!({
                "event": "spy",
                "kind": "active",
                "queue": queue,
                "jobs": jobs,
            }),
            SpyEvent::Stored { queue, batches } => json!({
                "event": "spy",
                "kind": "stored",
                "queue": queue,
                "batches": batches.iter().map(|(batch, jobs)| json!({ "batch": batch, "jobs": jobs })).collect::<Vec<_>>(),
            }),
            SpyEvent::Settled {
                queue,
                landed,
                batches,
            } => json!({
                "event": "spy",
                "kind": "settled",
                "queue": queue,
                "landed": landed,
                "batches": batches.iter().map(|(batch, jobs)| json!({
                    "batch": batch,
                    "jobs": jobs.iter().map(|(id, status)| json!([id, status])).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

/// Whether a settle statement's `counts` account for every one of its `rows`: each completion
/// completed its job and each failure retried or failed it.
pub fn all_landed<'a>(
    rows: impl IntoIterator<Item = &'a SettleRow>,
    counts: &SettleCounts,
) -> bool {
    let (mut completed, mut failed) = (0u64, 0u64);
    for row in rows {
        if row.status == "completed" {
            completed += 1;
        } else {
            failed += 1;
        }
    }
    counts.completed == completed && counts.retried + counts.failed == failed
}

impl Engine {
    /// Whether `__test__enableSpies` is on.
    pub fn spies_enabled(&self) -> bool {
        self.config.spies
    }

    /// Report jobs the engine created on `queue` (id, data) as `created`. The hook for every
    /// engine-side creator whose caller is not JavaScript's `send()` / `insert()`; call it once
    /// the insert has returned.
    pub fn spy_created(&self, queue: &str, jobs: impl FnOnce() -> Vec<(String, Value)>) {
        if !self.config.spies {
            return;
        }
        let jobs = jobs();
        if !jobs.is_empty() {
            self.emit(EngineEvent::Spy(SpyEvent::Created {
                queue: queue.to_string(),
                jobs,
            }));
        }
    }

    /// Report jobs a worker of `queue` claimed but hands back unstarted as `active`.
    pub fn spy_active(&self, queue: &str, jobs: &[ClaimedJob]) {
        if !self.config.spies {
            return;
        }
        let jobs: Vec<Value> = jobs
            .iter()
            .filter_map(|j| serde_json::from_str(&j.json).ok())
            .collect();
        if !jobs.is_empty() {
            self.emit(EngineEvent::Spy(SpyEvent::Active {
                queue: queue.to_string(),
                jobs,
            }));
        }
    }

    /// Report the handler calls `worker` holds, which a shutdown has just failed, as stored.
    pub async fn spy_failed_by_shutdown(&self, worker: &Worker) {
        if !self.config.spies {
            return;
        }
        let in_hand = worker.with_info(|i| i.in_hand.clone()).unwrap_or_default();
        let name = Value::String(worker.name.clone());
        let mut batches = Vec::with_capacity(in_hand.len());
        for (batch, jobs) in in_hand {
            let mut stored = Vec::with_capacity(jobs.len());
            for job in jobs {
                let id = Value::String(job.id.clone());
                let Ok(text) = self.get_job_by_id(Some(&name), Some(&id), None).await else {
                    continue;
                };
                if let Ok(row) = serde_json::from_str::<Value>(&text) {
                    stored.push(json!({ "id": job.id, "state": row.get("state"), "output": row.get("output") }));
                }
            }
            batches.push((batch, stored));
        }
        self.emit(EngineEvent::Spy(SpyEvent::Stored {
            queue: worker.name.clone(),
            batches,
        }));
    }

    /// Report handler calls of a worker on `queue` written back: `batches` are (batch id, the
    /// rows written for it); `landed` as in [`SpyEvent::Settled`]. Call it once the settle
    /// statement has returned (or failed: then `landed` is false).
    pub fn spy_settled<'a>(
        &self,
        queue: &str,
        landed: bool,
        batches: impl IntoIterator<Item = (u64, &'a [SettleRow])>,
    ) {
        if !self.config.spies {
            return;
        }
        let batches: Vec<(u64, Vec<(String, &'static str)>)> = batches
            .into_iter()
            .map(|(batch, rows)| {
                (
                    batch,
                    rows.iter().map(|r| (r.id.clone(), r.status)).collect(),
                )
            })
            .collect();
        if !batches.is_empty() {
            self.emit(EngineEvent::Spy(SpyEvent::Settled {
                queue: queue.to_string(),
                landed,
                batches,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &'static str) -> SettleRow {
        SettleRow {
            id: id.into(),
            retry_count: 0,
            status,
            output: Value::Null,
        }
    }

    #[test]
    fn every_row_settled_is_landed() {
        let rows = [
            row("a", "completed"),
            row("b", "failed"),
            row("c", "deadletter"),
        ];
        let counts = SettleCounts {
            completed: 1,
            retried: 1,
            failed: 1,
            dead_lettered: 1,
        };
        assert!(all_landed(&rows, &counts));
    }

    #[test]
    fn a_fenced_out_row_is_not_landed() {
        let rows = [row("a", "completed"), row("b", "completed")];
        let counts = SettleCounts {
            completed: 1,
            ..Default::default()
        };
        assert!(!all_landed(&rows, &counts));
        let rows = [row("a", "failed")];
        assert!(!all_landed(&rows, &SettleCounts::default()));
    }

    #[test]
    fn settled_events_name_each_batch_and_job_status() {
        let event = SpyEvent::Settled {
            queue: "q".into(),
            landed: true,
            batches: vec![(
                7,
                vec![("a".into(), "completed"), ("b".into(), "deadletter")],
            )],
        };
        assert_eq!(
            event.to_json(),
            json!({ "event": "spy", "kind": "settled", "queue": "q", "landed": true,
                    "batches": [{ "batch": 7, "jobs": [["a", "completed"], ["b", "deadletter"]] }] })
        );
    }

    #[test]
    fn active_and_stored_events_carry_the_jobs_as_given() {
        let active = SpyEvent::Active {
            queue: "q".into(),
            jobs: vec![json!({ "id": "a", "data": { "x": 1 } })],
        };
        assert_eq!(
            active.to_json(),
            json!({ "event": "spy", "kind": "active", "queue": "q", "jobs": [{ "id": "a", "data": { "x": 1 } }] })
        );
        let stored = SpyEvent::Stored {
            queue: "q".into(),
            batches: vec![(
                3,
                vec![json!({ "id": "a", "state": "failed", "output": null })],
            )],
        };
        assert_eq!(
            stored.to_json(),
            json!({ "event": "spy", "kind": "stored", "queue": "q",
                    "batches": [{ "batch": 3, "jobs": [{ "id": "a", "state": "failed", "output": null }] }] })
        );
    }

    #[test]
    fn created_events_carry_ids_and_data() {
        let event = SpyEvent::Created {
            queue: "q".into(),
            jobs: vec![("a".into(), json!({ "x": 1 }))],
        };
        assert_eq!(
            event.to_json(),
            json!({ "event": "spy", "kind": "created", "queue": "q", "jobs": [{ "id": "a", "data": { "x": 1 } }] })
        );
    }
}

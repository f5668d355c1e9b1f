//! Starting and stopping workers: `work()`, `workEach()`, `offWork()`, `notifyWorker()`,
//! `getWipData()`.

use super::options::check_work_options;
use super::{JobHandler, Worker};
use crate::engine::{Engine, Lifecycle};
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use serde_json::Value;
use std::sync::Arc;

impl Engine {
    /// Start `localConcurrency` loops (one for `workEach`) on queue `name`; returns the work id.
    pub async fn work(
        self: &Arc<Self>,
        name: Option<&Value>,
        options: &Object,
        handler: Arc<dyn JobHandler>,
        each: bool,
    ) -> Result<String> {
        if self.lifecycle() == Lifecycle::Stopped {
            return Err(BossError::operational(
                "Workers are disabled. pg-boss is stopped",
            ));
        }
        ensure(js::truthy(name), "queue name is required")?;
        let name = js::display(name);
        // a v10 constructor's pollingIntervalSeconds, unless the call sets one
        let with_defaults;
        let options = if self.config.v10_defaults.work.is_empty() {
            options
        } else {
            with_defaults = crate::v10_defaults::apply(&self.config.v10_defaults.work, options);
            &with_defaults
        };
        let options = check_work_options(options, each)?;
        if options.transactional {
            super::transaction::check_transactional(self, each, options.local_concurrency)?;
        }
        // the queue must exist, as pg-boss's first fetch would find out
        let queue = self.queue_info(&name).await?;
        super::prefetch::check_policy(&options, &queue.policy)?;
        let loops = if each { 1 } else { options.local_concurrency };
        let work_id = uuid::Uuid::new_v4().to_string();
        let groups = (options.group_concurrency.is_some()
            || options.local_group_concurrency.is_some())
        .then(|| Arc::new(super::GroupGate::default()));
        let claimer = (!each && loops > 1 && groups.is_none())
            .then(|| Arc::new(super::claimer::SharedClaimer::default()));
        let shared = Arc::new(super::WorkShared {
            work_id: work_id.clone(),
            name: name.clone(),
            each,
            options: options.clone(),
            handler: handler.clone(),
            groups,
            claimer,
            ready_left: Default::default(),
        });
        let settler = super::settler::spawn(self.clone());
        for i in 0..loops {
            let id = if i == 0 {
                work_id.clone()
            } else {
                uuid::Uuid::new_v4().to_string()
            };
            let worker = Arc::new(Worker::new(id, shared.clone(), settler.clone()));
            self.workers.add(worker.clone());
            let engine = self.clone();
            let w = worker.clone();
            let task = tokio::spawn(async move {
                let run = async {
                    if w.each {
                        super::each::run(engine.clone(), w.clone()).await
                    } else {
                        super::batch::run(engine.clone(), w.clone()).await
                    }
                };
                // a panic in a worker loop becomes an error event, never a crash
                if let Err(panic) =
                    futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await
                {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned());
                    engine.emit(crate::engine::EngineEvent::Error(BossError::operational(
                        format!(
                            "pg-boss-native worker panicked: {}",
                            what.unwrap_or_default()
                        ),
                    )));
                }
            });
            worker.set_task(task);
        }
        Ok(work_id)
    }

    /// `offWork(name, { id, wait })`.
    pub async fn off_work(&self, name: Option<&Value>, options: &Object) -> Result<()> {
        ensure(js::truthy(name), "queue name is required")?;
        let name = match name {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(BossError::assertion("queue name must be a string")),
        };
        let id = options.get("id").and_then(Value::as_str);
        let wait = js::truthy(options.get("wait"));
        let workers = self.workers.matching(&name, id);
        for w in &workers {
            w.request_stop();
        }
        for w in &workers {
            if let Some(task) = w.take_task() {
                if wait {
                    let _ = task.await;
                    self.workers.remove(&w.id);
                } else {
                    // it finishes its current batch in the background; a stopped worker is no
                    // longer reported, and stop() will not wait for it
                    drop(task);
                    self.workers.remove(&w.id);
                }
            } else {
                self.workers.remove(&w.id);
            }
        }
        Ok(())
    }

    /// `notifyWorker(id)`: skip the rest of that worker's polling wait.
    pub fn notify_worker(&self, id: &str) {
        for w in self.workers.all() {
            if w.id == id {
                w.wake.notify_one();
            }
        }
    }

    /// Wake every worker of `queue` (NOTIFY).
    pub fn notify_queue(&self, queue: &str) {
        for w in self.workers.all() {
            if w.name == queue {
                w.wake.notify_one();
            }
        }
    }

    /// `getWipData({ includeInternal })` as JSON.
    pub fn wip_data(&self, include_internal: bool) -> Value {
        Value::Array(
            self.workers
                .all()
                .iter()
                .filter(|w| include_internal || !w.internal())
                .map(|w| w.wip_json())
                .filter(|v| v.get("state").and_then(Value::as_str) != Some("stopped"))
                .collect(),
        )
    }
}

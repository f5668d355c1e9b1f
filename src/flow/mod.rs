//! Flows (job dependencies): `flow()`, which files a graph of jobs whose children wait for their
//! parents, the dependency reads, and the background resolver (`resolver`) that releases children
//! once their parents complete. SQL in `plans/flow.rs`.

mod resolver;
mod validate;

pub use resolver::FlowResolver;

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{BossError, Result};
use crate::jobs::{check_send_args, job_payload};
use crate::js::{self, Object};
use crate::names::assert_queue_name;
use crate::plans;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// pg-boss's message when a flow's guard finds a job missing from the insert.
const FLOW_JOB_REFUSED: &str = "one or more jobs could not be created. This usually means a job id was duplicated, collided with an existing job, or was rejected by a queue policy (short, singleton, stately, or exclusive).";

impl Engine {
    /// `flow(jobs, { db })`: every job and edge in one statement; the ids by ref.
    pub async fn flow(&self, jobs: Option<&Value>, db: Option<SharedExecutor>) -> Result<String> {
        let jobs = validate::flow_jobs(jobs)?;
        // each job's options are checked and normalised as send() checks them
        let mut checked = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let req = check_send_args(&[json!({
                "name": job.name,
                "data": job.data.clone().unwrap_or(Value::Null),
                "options": job.options.clone().unwrap_or(Value::Null),
            })])?;
            checked.push(req);
        }
        let mut ids = serde_json::Map::new();
        let mut ordered_ids = Vec::with_capacity(jobs.len());
        for (job, req) in jobs.iter().zip(&checked) {
            let id = match req.options.get("id").filter(|v| !v.is_null()) {
                Some(v) => js::display(Some(v)),
                None => crate::ids::new_job_id(),
            };
            ids.insert(job.reference.clone(), Value::String(id.clone()));
            ordered_ids.push(id);
        }
        let by_ref: HashMap<&str, usize> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.reference.as_str(), i))
            .collect();
        let mut parents: BTreeSet<&str> = BTreeSet::new();
        let mut edges = Vec::new();
        let mut pending = vec![0usize; jobs.len()];
        for (i, job) in jobs.iter().enumerate() {
            let distinct: BTreeSet<&str> = job.depends_on.iter().map(String::as_str).collect();
            pending[i] = distinct.len();
            for parent in distinct {
                let p = by_ref[parent];
                parents.insert(parent);
                edges.push(json!({
                    "child_name": job.name,
                    "child_id": ordered_ids[i],
                    "parent_name": jobs[p].name,
                    "parent_id": ordered_ids[p],
                }));
            }
        }
        let mut rows = Vec::with_capacity(jobs.len());
        let mut notify = BTreeSet::new();
        let mut names = Vec::new();
        for (i, (job, req)) in jobs.iter().zip(&checked).enumerate() {
            let q = self.queue_info(&job.name).await?;
            if !names.contains(&job.name) {
                names.push(job.name.clone());
            }
            if self.notify_enabled(q.notify) {
                notify.insert(job.name.clone());
            }
            let mut options = req.options.clone();
            options.insert("id".into(), Value::String(ordered_ids[i].clone()));
            // a flow job has no throttle retry in the next slot
            options.remove("singletonNextSlot");
            let mut row = job_payload(&req.data, &options, 0);
            if let Value::Object(o) = &mut row {
                o.insert("name".into(), Value::String(job.name.clone()));
                o.insert("blocked".into(), Value::Bool(pending[i] > 0));
                o.insert(
                    "blocking".into(),
                    Value::Bool(parents.contains(job.reference.as_str())),
                );
                o.insert("pendingDependencies".into(), json!(pending[i]));
            }
            rows.push(row);
        }
        let own_db = db.is_none();
        let db = self.db(db)?;
        let sql = plans::flow::insert_flow(&self.config.schema, rows.len());
        let params = [
            Some(Value::Array(rows).to_string()),
            Some(Value::Array(edges).to_string()),
            Some(json!(notify.into_iter().collect::<Vec<_>>()).to_string()),
        ];
        if let Err(err) = self.query(&db, &sql, &params).await {
            return Err(self.flow_error(err, &names, &checked, own_db).await);
        }
        Ok(Value::Object(ids).to_string())
    }

    /// A failed flow insert as pg-boss reports it: a queue gone since it was cached is named (all
    /// the flow's missing queues), a refused job gets the guard's message, a missing dead letter
    /// queue is named.
    async fn flow_error(
        &self,
        err: BossError,
        names: &[String],
        checked: &[crate::jobs::SendRequest],
        own_db: bool,
    ) -> BossError {
        match err.sqlstate() {
            Some("22012") => return BossError::operational(FLOW_JOB_REFUSED),
            Some("23503") if err.message.contains("q_fkey") => {
                for n in names {
                    self.queues.evict(n);
                }
                let found = self
                    .get_queues_raw(Some(names.to_vec()), None, None)
                    .await
                    .unwrap_or_default();
                let found: Vec<String> = found
                    .iter()
                    .filter_map(|r| serde_json::from_str::<Value>(r).ok())
                    .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect();
                let missing: Vec<&str> = names
                    .iter()
                    .filter(|n| !found.contains(n))
                    .map(String::as_str)
                    .collect();
                let missing = if missing.is_empty() {
                    names.join(", ")
                } else {
                    missing.join(", ")
                };
                return crate::queues::queue_not_found_for(&missing, own_db);
            }
            _ => {}
        }
        let dead_letters: Vec<String> = checked
            .iter()
            .filter_map(|r| r.options.get("deadLetter").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let first = names.first().map(String::as_str).unwrap_or_default();
        self.insert_error(err, first, &dead_letters, own_db).await
    }

    /// `getDependencies(name, id, { limit, after })` (`parents`) and `getDependents(...)`.
    pub async fn dependency_page(
        &self,
        method: &str,
        name: Option<&Value>,
        id: Option<&Value>,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let limit = crate::queues::list_limit(method, options.get("limit"))?;
        let after = validate::after_row(method, options.get("after"))?;
        let db = self.db(db)?;
        let s = &self.config.schema;
        let sql = if method == "getDependencies" {
            plans::flow::dependencies(s, after.is_some())
        } else {
            plans::flow::dependents(s, after.is_some())
        };
        let id = id.filter(|v| !v.is_null()).map(|v| js::display(Some(v)));
        let mut params = vec![Some(name), id];
        if let Some((after_name, after_id)) = after {
            params.push(Some(after_name));
            params.push(Some(after_id));
        }
        params.push(Some(limit.to_string()));
        let rows = self.query(&db, &sql, &params).await?;
        Ok(format!("[{}]", rows.join(",")))
    }
}

//! Queue operations: create, update, delete, read, stats and bulk deletes.

use crate::engine::Engine;
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use crate::names::assert_queue_name;
use crate::plans;
use crate::validate;
use serde_json::Value;

const LIST_LIMIT_MAX: i64 = 100_000;

/// `assertListLimit(method, limit)`.
pub fn list_limit(method: &str, limit: Option<&Value>) -> Result<i64> {
    // only an absent (undefined) limit takes the default; null is checked like any other value
    match limit {
        None => Ok(1000),
        Some(v) => {
            let n = js::as_i64(Some(v)).unwrap_or(0);
            ensure(
                js::is_integer(Some(v)) && (1..=LIST_LIMIT_MAX).contains(&n),
                format!("{method}: limit must be an integer between 1 and {LIST_LIMIT_MAX}"),
            )?;
            Ok(n)
        }
    }
}

/// `assertListAfter(method, after)`.
pub fn list_after(method: &str, after: Option<&Value>) -> Result<Option<String>> {
    match after {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        _ => Err(BossError::assertion(format!(
            "{method}: after must be a non-empty string"
        ))),
    }
}

/// pg-boss's error for a queue that is not there (`code: 'PGBOSS_QUEUE_NOT_FOUND'`). It travels
/// as a coded error; lib/convert.js rethrows it as a plain `Error` carrying the code.
pub const QUEUE_NOT_FOUND: &str = "PGBOSS_QUEUE_NOT_FOUND";

pub fn queue_not_found(name: &str) -> BossError {
    BossError::database(
        Some(QUEUE_NOT_FOUND.to_string()),
        format!("Queue {name} does not exist"),
    )
}

/// The same, coded only when the statement ran on our own connection: in a caller's transaction the
/// failed statement has aborted it, and pg-boss leaves that uncoded so it reaches the caller.
pub fn queue_not_found_for(name: &str, own_db: bool) -> BossError {
    if own_db {
        queue_not_found(name)
    } else {
        BossError::operational(format!("Queue {name} does not exist"))
    }
}

impl Engine {
    /// A list read that pages by row id (`getInstances`, `getBamEntries`): pg-boss's `limit` and
    /// `after` checks, `page(after?)` run with `[after, limit]` or `[limit]`, and an empty page
    /// after an `after` whose row is gone (`exists`, run with `[after]`) reported as pg-boss does.
    /// Rows as a JSON array.
    pub async fn read_page_by_id(
        &self,
        method: &str,
        options: &Object,
        page: impl Fn(bool) -> String,
        exists: String,
    ) -> Result<String> {
        let limit = list_limit(method, options.get("limit"))?;
        let after = list_after(method, options.get("after"))?;
        if let Some(after) = &after {
            ensure(
                crate::jobs::is_uuid(after),
                format!("{method}: after must be a uuid"),
            )?;
        }
        let db = self.instance_db()?;
        let params = match &after {
            Some(a) => vec![Some(a.clone()), Some(limit.to_string())],
            None => vec![Some(limit.to_string())],
        };
        let rows = self.query(&db, &page(after.is_some()), &params).await?;
        if rows.is_empty() {
            if let Some(a) = after {
                let found = self.query(&db, &exists, &[Some(a)]).await?;
                ensure(
                    !found.is_empty(),
                    format!("{method}: after names a row that no longer exists"),
                )?;
            }
        }
        Ok(format!("[{}]", rows.join(",")))
    }
}

impl Engine {
    /// `createQueue(name, options)`.
    pub async fn create_queue(&self, name: Option<&Value>, options: &Object) -> Result<()> {
        let name_value = if js::truthy(name) {
            name.cloned()
        } else {
            options.get("name").cloned()
        };
        let name = assert_queue_name(name_value.as_ref())?;
        // a v10 constructor's job defaults, for what the call does not set
        let with_defaults;
        let options = if self.config.v10_defaults.queue.is_empty() {
            options
        } else {
            with_defaults = crate::v10_defaults::apply(&self.config.v10_defaults.queue, options);
            &with_defaults
        };
        let policy = match options.get("policy") {
            Some(v) if js::truthy(Some(v)) => js::display(Some(v)),
            _ => "standard".to_string(),
        };
        ensure(
            validate::POLICIES.contains(&policy.as_str()),
            format!("{policy} is not a valid queue policy"),
        )?;
        validate::queue_args(options)?;
        if let Some(dl) = options.get("deadLetter").filter(|v| js::truthy(Some(v))) {
            let dl = assert_queue_name(Some(dl))?;
            ensure(dl != name, "deadLetter cannot be itself")?;
            self.queue_info(&dl).await?;
        }
        let mut opts = js::defined(options);
        opts.insert("policy".into(), Value::String(policy));
        opts.remove("name");
        self.create_queue_internal(&name, &opts).await
    }

    pub async fn create_queue_internal(&self, name: &str, options: &Object) -> Result<()> {
        let db = self.instance_db()?;
        let json = serde_json::to_string(options)?;
        db.batch(&plans::queues::create_queue(
            &self.config.schema,
            name,
            &json,
        ))
        .await?;
        self.reload_queue(name).await
    }

    async fn reload_queue(&self, name: &str) -> Result<()> {
        self.queues.evict(name);
        match self.queue_info(name).await {
            Ok(_) => Ok(()),
            Err(e) if e.message.ends_with("does not exist") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `updateQueue(name, options)`.
    pub async fn update_queue(&self, name: Option<&Value>, options: &Object) -> Result<()> {
        let name = assert_queue_name(name)?;
        ensure(!options.is_empty(), "no properties found to update")?;
        if options.contains_key("policy") {
            return Err(BossError::operational(
                "queue policy cannot be changed after creation",
            ));
        }
        if options.contains_key("partition") {
            return Err(BossError::operational(
                "queue partitioning cannot be changed after creation",
            ));
        }
        validate::queue_args(options)?;
        if let Some(dl) = options.get("deadLetter").filter(|v| !v.is_null()) {
            let dl = assert_queue_name(Some(dl))?;
            ensure(dl != name, "deadLetter cannot be itself")?;
        }
        let db = self.instance_db()?;
        let params = vec![
            Some(name.clone()),
            Some(serde_json::to_string(&js::defined(options))?),
        ];
        self.query(
            &db,
            &plans::queues::update_queue(&self.config.schema),
            &params,
        )
        .await?;
        self.reload_queue(&name).await
    }

    /// `deleteQueue(name)`: a missing queue is a no-op.
    pub async fn delete_queue(&self, name: Option<&Value>) -> Result<()> {
        let name = assert_queue_name(name)?;
        let queue = match self.queue_info(&name).await {
            Ok(q) => q,
            Err(_) => return Ok(()),
        };
        let db = self.instance_db()?;
        if !queue.partition {
            // a dead letter queue still in use is refused before any of its jobs are deleted
            let referrer = self
                .query(
                    &db,
                    &plans::queues::dead_letter_referrer(&self.config.schema),
                    &[Some(name.clone())],
                )
                .await?;
            if let Some(text) = referrer.first() {
                let r: Value = serde_json::from_str(text)?;
                let other = r.get("name").and_then(Value::as_str).unwrap_or_default();
                return Err(BossError::operational(
                    if r.get("kind").and_then(Value::as_str) == Some("queue") {
                        format!("Queue {name} was not deleted: queue {other} uses it as its dead letter queue")
                    } else {
                        format!("Queue {name} was not deleted: jobs in queue {other} name it as their dead letter queue")
                    },
                ));
            }
        }
        db.batch(&plans::queues::delete_queue(&self.config.schema, &name))
            .await?;
        self.queues.evict(&name);
        Ok(())
    }

    /// `getQueues(names?, { limit, after })` as a JSON array text.
    pub async fn get_queues(&self, names: Option<&Value>, options: &Object) -> Result<String> {
        let limit = list_limit("getQueues", options.get("limit"))?;
        let after = list_after("getQueues", options.get("after"))?;
        let names = match names {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(v @ Value::String(_)) => Some(vec![v.clone()]),
            _ => None,
        };
        let names = match names {
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for n in &list {
                    out.push(assert_queue_name(Some(n))?);
                }
                Some(out)
            }
            None => None,
        };
        // an empty list filters nothing, as in pg-boss
        let names = names.filter(|n| !n.is_empty());
        let rows = self.get_queues_raw(names, after, Some(limit)).await?;
        Ok(format!("[{}]", rows.join(",")))
    }

    /// `getQueue(name)`: the row as JSON text, or `null`.
    pub async fn get_queue(&self, name: Option<&Value>) -> Result<String> {
        let name = assert_queue_name(name)?;
        let rows = self.get_queues_raw(Some(vec![name]), None, None).await?;
        Ok(rows.into_iter().next().unwrap_or_else(|| "null".into()))
    }

    /// `getQueueStats(name, options)` without persisted history: the monitor's cached counts while
    /// fresh, else counted now and cached. Returns a JSON array text of one snapshot.
    pub async fn get_queue_stats(&self, name: Option<&Value>, options: &Object) -> Result<String> {
        let name = assert_queue_name(name)?;
        let percentiles = crate::queue_stats::percentiles_option(options)?;
        if self.config.persist_queue_stats {
            return self.queue_stats_history(&name, options, &percentiles).await;
        }
        let db = self.instance_db()?;
        let s = &self.config.schema;
        let cached = self
            .query(
                &db,
                &plans::queues::queue_stats_cache(s),
                &[Some(name.clone())],
            )
            .await?;
        let cached: Value = match cached.first() {
            Some(text) => serde_json::from_str(text)?,
            None => {
                return Err(BossError::operational(format!(
                    "Queue {name} does not exist"
                )))
            }
        };
        let budget_ms = if js::truthy(options.get("force")) {
            60_000.0
        } else {
            3600f64
                .max(self.config.monitor_interval_seconds)
                .max(self.config.supervise_interval_seconds)
                * 1000.0
        };
        let age = cached.get("cacheAgeMs").and_then(Value::as_f64);
        let backoff = cached.get("monitorBackoff") == Some(&Value::Bool(true))
            && cached.get("capturedOn").is_some_and(|c| !c.is_null());
        let row = match age {
            _ if backoff => cached,
            Some(age) if age <= budget_ms => cached,
            _ => {
                let table = cached
                    .get("table")
                    .and_then(Value::as_str)
                    .unwrap_or("job_common")
                    .to_string();
                crate::names::assert_table_name(&table)?;
                let fresh = self
                    .query(
                        &db,
                        &plans::queues::refresh_queue_stats(s, &table),
                        &[Some(name.clone())],
                    )
                    .await?;
                match fresh.first() {
                    Some(text) => serde_json::from_str(text)?,
                    None => cached,
                }
            }
        };
        let field = |k: &str| row.get(k).cloned().unwrap_or(Value::from(0));
        let mut snapshot = serde_json::json!({
            "name": name,
            "deferredCount": field("deferredCount"),
            "queuedCount": field("queuedCount"),
            "readyCount": field("readyCount"),
            "activeCount": field("activeCount"),
            "failedCount": field("failedCount"),
            "totalCount": field("totalCount"),
            "completedDelta": null, "failedDelta": null, "createdDelta": null,
            "deltaSeconds": null, "deltaOn": null, "waitBins": null, "runBins": null,
            "readyOldestSeconds": null,
            "capturedOn": row.get("capturedOn").cloned().unwrap_or(Value::Null),
        });
        if let Value::Object(map) = &mut snapshot {
            crate::queue_stats::add_percentiles(map, &percentiles)?;
        }
        Ok(format!("[{snapshot}]"))
    }

    async fn delete_jobs_where(&self, name: Option<&Value>, cond: &str) -> Result<i64> {
        let name = assert_queue_name(name)?;
        let q = self.queue_info(&name).await?;
        let db = self.instance_db()?;
        let rows = self
            .query(
                &db,
                &plans::jobs::delete_where(&self.config.schema, &q.table, cond),
                &[Some(name)],
            )
            .await?;
        Ok(rows.first().and_then(|c| c.parse().ok()).unwrap_or(0))
    }

    pub async fn delete_queued_jobs(&self, name: Option<&Value>) -> Result<i64> {
        self.delete_jobs_where(name, "AND state < 'active'").await
    }

    pub async fn delete_stored_jobs(&self, name: Option<&Value>) -> Result<i64> {
        self.delete_jobs_where(name, "AND state > 'active'").await
    }

    /// `deleteAllJobs(name?)`: a count for a queue in the shared table, `None` after a truncate.
    pub async fn delete_all_jobs(&self, name: Option<&Value>) -> Result<Option<i64>> {
        let s = &self.config.schema;
        let db = self.instance_db()?;
        if !js::truthy(name) {
            db.batch(&plans::jobs::truncate(s, "job")).await?;
            self.query(&db, &plans::jobs::zero_queue_counts(s, true), &[])
                .await?;
            return Ok(None);
        }
        let queue = assert_queue_name(name)?;
        let q = self.queue_info(&queue).await?;
        if q.partition {
            db.batch(&plans::jobs::truncate(s, &q.table)).await?;
            self.query(
                &db,
                &plans::jobs::zero_queue_counts(s, false),
                &[Some(queue)],
            )
            .await?;
            return Ok(None);
        }
        self.delete_jobs_where(name, "").await.map(Some)
    }
}

//! Reading jobs: `findJobs()`, `getJobById()` and `getBlockedKeys()`.

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::names::assert_queue_name;
use crate::plans::{self, jobs::FindPlan};
use serde_json::Value;

impl Engine {
    /// `findJobs(name, { id, key, data, queued, limit, after })` as a JSON array text.
    pub async fn find_jobs(
        &self,
        name: Option<&Value>,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let limit = crate::queues::list_limit("findJobs", options.get("limit"))?;
        let after = crate::queues::list_after("findJobs", options.get("after"))?;
        if let Some(a) = &after {
            ensure(is_uuid(a), "findJobs: after must be a uuid")?;
        }
        let db = self.db(db)?;
        let q = self.queue_info(&name).await?;
        let s = &self.config.schema;
        let present = |k: &str| options.get(k).is_some();
        let plan = FindPlan {
            by_id: present("id"),
            by_key: present("key"),
            by_data: present("data"),
            queued: js::truthy(options.get("queued")),
            after: after.is_some(),
        };
        let mut params = vec![Some(name.clone())];
        if plan.by_id {
            params.push(
                options
                    .get("id")
                    .filter(|v| !v.is_null())
                    .map(|v| js::display(Some(v))),
            );
        }
        if plan.by_key {
            params.push(
                options
                    .get("key")
                    .filter(|v| !v.is_null())
                    .map(|v| js::display(Some(v))),
            );
        }
        if plan.by_data {
            params.push(options.get("data").map(|v| v.to_string()));
        }
        if let Some(a) = &after {
            let anchor = self
                .query(
                    &db,
                    &plans::jobs::job_exists(s, &q.table),
                    &[Some(name.clone()), Some(a.clone())],
                )
                .await?;
            ensure(
                !anchor.is_empty(),
                "findJobs: after names a row that no longer exists",
            )?;
            params.push(Some(a.clone()));
        }
        params.push(Some(limit.to_string()));
        let rows = self
            .query(&db, &plans::jobs::find_jobs(s, &q.table, &plan), &params)
            .await?;
        Ok(format!("[{}]", rows.join(",")))
    }

    /// `getJobById(name, id)`: the job as JSON text, or `null`.
    pub async fn get_job_by_id(
        &self,
        name: Option<&Value>,
        id: Option<&Value>,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let db = self.db(db)?;
        let q = self.queue_info(&name).await?;
        let id = id.filter(|v| !v.is_null()).map(|v| js::display(Some(v)));
        let rows = self
            .query(
                &db,
                &plans::jobs::get_job_by_id(&self.config.schema, &q.table),
                &[Some(name), id],
            )
            .await?;
        Ok(if rows.len() == 1 {
            rows.into_iter().next().unwrap_or_else(|| "null".into())
        } else {
            "null".into()
        })
    }
}

impl Engine {
    /// `getBlockedKeys(name, { limit, after })`: the keys of a `key_strict_fifo` queue that a
    /// failed job holds (no job with that key runs until it is retried or deleted), in order, as a
    /// JSON array text.
    pub async fn get_blocked_keys(&self, name: Option<&Value>, options: &Object) -> Result<String> {
        let name = assert_queue_name(name)?;
        let limit = crate::queues::list_limit("getBlockedKeys", options.get("limit"))?;
        let after = crate::queues::list_after("getBlockedKeys", options.get("after"))?;
        let q = self.queue_info(&name).await?;
        if q.policy != "key_strict_fifo" {
            return Err(crate::error::BossError::operational(
                "getBlockedKeys is only available for key_strict_fifo queues",
            ));
        }
        let db = self.instance_db()?;
        let sql = plans::jobs::blocked_keys(&self.config.schema, &q.table, after.is_some());
        let mut params = vec![Some(name)];
        params.extend(after.map(Some));
        params.push(Some(limit.to_string()));
        let keys = self.query(&db, &sql, &params).await?;
        Ok(serde_json::to_string(&keys)?)
    }
}

/// Any spelling the uuid type accepts.
pub fn is_uuid(value: &str) -> bool {
    let inner = value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(value);
    let hex: Vec<char> = inner.chars().filter(|c| *c != '-').collect();
    hex.len() == 32
        && hex.iter().all(char::is_ascii_hexdigit)
        && !inner.starts_with('-')
        && !inner.ends_with('-')
        && !inner.contains("--")
}

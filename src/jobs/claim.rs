//! Claiming jobs: `fetch()`, the workers' claims (alone or with the previous batch's
//! completions in one statement), and handing claimed jobs back.

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::plans::{self, jobs::FetchPlan};
use crate::validate;
use crate::worker::ClaimedJob;
use serde_json::{json, Value};

impl Engine {
    /// Return claimed, never-started jobs of queue `name` (physical table `table`) to the queue:
    /// a worker's excess over a local group limit, or a stopping `workEach`'s buffer.
    pub async fn hand_back(&self, name: &str, table: &str, ids: &[String]) -> Result<()> {
        let db = self.instance_db()?;
        let sql = plans::jobs::restore_jobs(&self.config.schema, table);
        self.query(
            &db,
            &sql,
            &[Some(name.to_string()), Some(json!(ids).to_string())],
        )
        .await?;
        Ok(())
    }

    /// The jobs of queue `name` (table `table`) ready now, counted up to `limit`.
    pub async fn count_ready(&self, name: &str, table: &str, limit: i64) -> Result<i64> {
        let db = self.instance_db()?;
        let sql = plans::jobs::count_ready(&self.config.schema, table);
        let rows = self
            .query(
                &db,
                &sql,
                &[Some(name.to_string()), Some(limit.to_string())],
            )
            .await?;
        Ok(rows.first().and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// `fetch(name, options)`: claimed jobs as a JSON array text.
    pub async fn fetch(
        &self,
        name: Option<&Value>,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        ensure(js::truthy(name), "missing queue name")?;
        validate::fetch_options(options)?;
        let (_, jobs) = self
            .claim_rows(&js::display(name), options, db, None, false)
            .await?;
        let texts: Vec<&str> = jobs.iter().map(|j| j.json.as_str()).collect();
        Ok(format!("[{}]", texts.join(",")))
    }

    /// Claim jobs of queue `name` (options already validated), in claim order. With `completing`
    /// (a keyed outcome of completed jobs, as `settle_rows` builds it) those jobs are completed in
    /// the same statement and their count comes back too. A failed combined statement wrote nothing, the completions included.
    /// A `worker_claim` writes its size into the statement (a worker claims few distinct sizes,
    /// so each gets a plan PostgreSQL keeps; `fetch()` callers may ask for any size).
    pub async fn claim_rows(
        &self,
        name: &str,
        options: &Object,
        db: Option<SharedExecutor>,
        completing: Option<String>,
        worker_claim: bool,
    ) -> Result<(u64, Vec<ClaimedJob>)> {
        let name = name.to_string();
        let db = self.db(db)?;
        let q = self.queue_info(&name).await?;
        let batch_size = js::as_i64(options.get("batchSize")).unwrap_or(1).max(1);
        let min = options.get("minPriority").filter(|v| !v.is_null());
        let max = options.get("maxPriority").filter(|v| !v.is_null());
        let ignore_groups = options
            .get("ignoreGroups")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        // `groupConcurrency` as `{ default, tiers? }` (a number means `{ default: n }`)
        let group_limits = match options.get("groupConcurrency") {
            Some(v @ Value::Number(_)) => Some(json!({ "default": v })),
            Some(v @ Value::Object(_)) => Some(v.clone()),
            _ => None,
        };
        let plan = FetchPlan {
            policy: q.policy.clone(),
            include_metadata: options.get("includeMetadata") == Some(&Value::Bool(true)),
            ignore_start_after: options.get("ignoreStartAfter") == Some(&Value::Bool(true)),
            has_min_priority: min.is_some(),
            has_max_priority: max.is_some(),
            has_ignore_groups: ignore_groups.is_some(),
            has_group_concurrency: group_limits.is_some(),
            limit_literal: worker_claim.then_some(batch_size),
        };
        let mut params = vec![Some(name)];
        if !worker_claim {
            params.push(Some(batch_size.to_string()));
        }
        if let Some(v) = min {
            params.push(Some(js::display(Some(v))));
        }
        if let Some(v) = max {
            params.push(Some(js::display(Some(v))));
        }
        if let Some(g) = ignore_groups {
            params.push(Some(Value::Array(g.clone()).to_string()));
        }
        if let Some(g) = group_limits {
            params.push(Some(g.to_string()));
        }
        let Some(outcome) = completing else {
            let sql = plans::jobs::fetch_jobs(&self.config.schema, &q.table, &plan);
            return match db.query(&sql, &params).await {
                Ok(rows) => Ok((0, ClaimedJob::from_rows(&rows))),
                // a policy index collision with a concurrent claimer reads as an empty fetch
                Err(e) if e.sqlstate() == Some("23505") => Ok((0, Vec::new())),
                Err(e) => Err(e),
            };
        };
        params.push(Some(outcome));
        let sql = plans::jobs::complete_and_fetch(&self.config.schema, &q.table, &plan);
        let rows = db.query(&sql, &params).await?;
        let completed = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let claims: Vec<Vec<Option<String>>> = rows
            .into_iter()
            .map(|r| r.into_iter().skip(1).collect())
            .collect();
        Ok((completed, ClaimedJob::from_rows(&claims)))
    }
}

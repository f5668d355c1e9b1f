//! Job operations: the send family, bulk insert, fetch, settle and manage, and reads.

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use crate::names::assert_queue_name;
use crate::plans::{self, jobs::FetchPlan, jobs::FindPlan};
use crate::validate;
use crate::worker::ClaimedJob;
use serde_json::{json, Value};
use std::sync::Arc;

/// A validated `send()` request.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub name: String,
    pub data: Value,
    pub options: Object,
}

/// `checkSendArgs(args)`: both call forms, pg-boss's messages and normalisation.
pub fn check_send_args(args: &[Value]) -> Result<SendRequest> {
    let (name, data, options) = match args.first() {
        Some(Value::String(s)) => {
            ensure(
                !js::is_function(args.get(1)),
                "send() cannot accept a function as the payload.  Did you intend to use work()?",
            )?;
            (
                Some(Value::String(s.clone())),
                args.get(1).cloned().unwrap_or(Value::Null),
                args.get(2).cloned(),
            )
        }
        Some(Value::Object(_)) | Some(Value::Null) | Some(Value::Array(_)) => {
            ensure(args.len() == 1, "send object API only accepts 1 argument")?;
            let job = &args[0];
            ensure(
                js::truthy(Some(job)),
                "boss requires all jobs to have a name",
            )?;
            let o = job.as_object();
            (
                o.and_then(|o| o.get("name")).cloned(),
                o.and_then(|o| o.get("data"))
                    .cloned()
                    .unwrap_or(Value::Null),
                o.and_then(|o| o.get("options")).cloned(),
            )
        }
        _ => (None, Value::Null, None),
    };
    ensure(
        js::truthy(name.as_ref()),
        "boss requires all jobs to have a queue name",
    )?;
    let options = match options {
        Some(v) if js::truthy(Some(&v)) => v,
        _ => Value::Object(Object::new()),
    };
    let options = match options {
        Value::Object(o) => o,
        Value::Array(_) => Object::new(),
        _ => return Err(BossError::assertion("options should be an object")),
    };
    validate::send_options(&options)?;
    let mut options = js::defined(&options);
    if !js::truthy(options.get("priority")) {
        options.insert("priority".into(), json!(0));
    }
    match validate::normalize_start_after(options.get("startAfter")) {
        Some(s) => options.insert("startAfter".into(), Value::String(s)),
        None => options.remove("startAfter"),
    };
    Ok(SendRequest {
        name: js::display(name.as_ref()),
        data,
        options,
    })
}

/// Whether a unique index of a queue of `policy` could refuse one of the insert `rows`, so the
/// statement needs `ON CONFLICT DO NOTHING`: every policy but `standard` has such an index, and on
/// a standard queue only a throttle slot (`singletonSeconds`) or, when `named_ids`, an id the
/// caller chose can collide (ids made here are unique).
pub(crate) fn may_conflict(policy: &str, rows: &[Value], named_ids: bool) -> bool {
    let set = |row: &Value, key: &str| row.get(key).is_some_and(|v| !v.is_null());
    policy != "standard"
        || rows
            .iter()
            .any(|row| set(row, "singletonSeconds") || (named_ids && set(row, "id")))
}

/// The id a caller named, or a new one (made here rather than by the column default: time-ordered,
/// see `ids`).
fn id_or_new(named: Option<&Value>) -> Value {
    match named {
        Some(id) if !id.is_null() => id.clone(),
        _ => Value::String(crate::ids::new_job_id()),
    }
}

/// The insert payload of one job (the columns `plans::jobs::insert_jobs` reads), with a new id
/// when the caller named none.
fn job_payload(data: &Value, o: &Object, singleton_offset: i64) -> Value {
    let get = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
    let group = o.get("group").and_then(Value::as_object);
    json!({
        "id": id_or_new(o.get("id")),
        "data": data,
        "priority": get("priority"),
        "startAfter": get("startAfter"),
        "singletonKey": get("singletonKey"),
        "singletonSeconds": get("singletonSeconds"),
        "singletonOffset": singleton_offset,
        "groupId": group.and_then(|g| g.get("id")).cloned().unwrap_or(Value::Null),
        "groupTier": group.and_then(|g| g.get("tier")).cloned().unwrap_or(Value::Null),
        "expireInSeconds": get("expireInSeconds"),
        "deleteAfterSeconds": get("deleteAfterSeconds"),
        "retentionSeconds": get("retentionSeconds"),
        "retryLimit": get("retryLimit"),
        "retryDelay": get("retryDelay"),
        "retryBackoff": get("retryBackoff"),
        "retryDelayMax": get("retryDelayMax"),
        "heartbeatSeconds": get("heartbeatSeconds"),
        "deadLetter": get("deadLetter"),
    })
}

/// Seconds until the next throttle slot opens (the debounce retry), from the local clock.
fn debounce_start_after(singleton_seconds: f64, clock_skew_ms: f64) -> i64 {
    let interval = singleton_seconds * 1000.0;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
        + clock_skew_ms;
    let slot = (now / interval).floor() * interval;
    let mut start = singleton_seconds as i64 - ((now - slot) / 1000.0).floor() as i64;
    if start == 0 {
        start = 1;
    }
    if singleton_seconds > 1.0 {
        start += 1;
    }
    start
}

/// `{ jobs, requested, affected, settled }`: `settled` (the ids the statement touched) only from the
/// commands that report them, as in pg-boss; index.js keeps the key, undefined, on the others.
fn command_response(ids: &[String], affected: i64, settled: Option<Value>) -> String {
    let mut r = json!({ "jobs": ids, "requested": ids.len(), "affected": affected });
    if let Some(settled) = settled {
        r["settled"] = settled;
    }
    r.to_string()
}

/// The count and the settled ids (a JSON array in the second column) of a settle command.
async fn settle_query(
    db: &SharedExecutor,
    sql: &str,
    params: &[Option<String>],
) -> Result<(i64, Option<Value>)> {
    let row = db
        .query(sql, params)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let affected = row
        .first()
        .cloned()
        .flatten()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let settled = row
        .get(1)
        .cloned()
        .flatten()
        .map(|t| serde_json::from_str(&t))
        .transpose()?;
    Ok((affected, settled))
}

/// Ids given to a settle call: plain ids, or `{ id, retryCount }` attempts that fence the call.
struct IdArgs {
    ids: Vec<String>,
    attempts: Option<Vec<String>>,
}

fn attempt_args(id: Option<&Value>, func: &str) -> Result<IdArgs> {
    let message = format!("{func}() requires an id");
    ensure(js::truthy(id), message.clone())?;
    let items: Vec<Value> = match id {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    ensure(!items.is_empty(), message)?;
    if items.iter().all(Value::is_string) {
        let ids: Vec<String> = items.iter().map(|v| js::display(Some(v))).collect();
        uuid_input(&ids)?;
        return Ok(IdArgs {
            ids,
            attempts: None,
        });
    }
    let valid = items.iter().all(|j| {
        j.as_object().is_some_and(|o| {
            o.get("id").is_some_and(Value::is_string)
                && js::is_integer(o.get("retryCount"))
                && js::ge(o.get("retryCount"), 0.0)
        })
    });
    ensure(
        valid,
        format!(
            "{func}() requires either ids or jobs with an id and an integer retryCount, not a mix"
        ),
    )?;
    let ids: Vec<String> = items.iter().map(|j| js::display(j.get("id"))).collect();
    let attempts = items
        .iter()
        .map(|j| {
            format!(
                "{}:{}",
                canonical_uuid(&js::display(j.get("id"))),
                js::display(j.get("retryCount"))
            )
        })
        .collect();
    Ok(IdArgs {
        ids,
        attempts: Some(attempts),
    })
}

/// The spelling `id::text` yields, so a fence built from another spelling still matches.
fn canonical_uuid(id: &str) -> String {
    let hex: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_lowercase();
    let stripped: String = id
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .collect();
    if hex.len() != 32 || stripped.len() != 32 {
        return id.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn plain_ids(id: Option<&Value>, func: &str) -> Result<Vec<String>> {
    let message = format!("{func}() requires an id");
    ensure(js::truthy(id), message.clone())?;
    // node-postgres sends array items as text (objects as JSON), which the uuid cast then reads
    let text = |v: &Value| {
        if v.is_object() {
            v.to_string()
        } else {
            js::display(Some(v))
        }
    };
    let ids: Vec<String> = match id {
        Some(Value::Array(a)) => a.iter().map(text).collect(),
        Some(v) => vec![text(v)],
        None => vec![],
    };
    ensure(!ids.is_empty(), message)?;
    uuid_input(&ids)?;
    Ok(ids)
}

/// The error PostgreSQL raises for the first id its uuid type cannot read (pg-boss lets it through).
fn uuid_input(ids: &[String]) -> Result<()> {
    match ids.iter().find(|id| !is_uuid(id)) {
        Some(bad) => Err(BossError::database(
            Some("22P02".into()),
            format!("invalid input syntax for type uuid: \"{bad}\""),
        )),
        None => Ok(()),
    }
}

/// `complete()`/`fail()` output. index.js has already normalised it as pg-boss does (nothing ->
/// null, non-objects wrapped as `{ value }`, errors through serialize-error).
pub fn completion_output(data: Option<&Value>) -> Option<String> {
    match data {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.to_string()),
    }
}

impl Engine {
    /// `send()` and its variants once arguments are checked: the new id, or `None` when a policy,
    /// throttle slot or duplicate id skipped the insert.
    pub async fn send(
        self: &Arc<Self>,
        req: SendRequest,
        db: Option<SharedExecutor>,
    ) -> Result<Option<String>> {
        let own_db = db.is_none();
        let db = self.db(db)?;
        let q = self.queue_info(&req.name).await?;
        let key = req.options.get("singletonKey");
        if q.policy == "key_strict_fifo" && !js::truthy(key) {
            return Err(BossError::operational(
                "key_strict_fifo queues require a singletonKey",
            ));
        }
        let sql = plans::jobs::insert_jobs(
            &self.config.schema,
            &q.table,
            q.notify && self.config.backend != "cockroachdb",
            true,
            true,
        );
        let dead_letters: Vec<String> = req
            .options
            .get("deadLetter")
            .and_then(Value::as_str)
            .map(str::to_string)
            .into_iter()
            .collect();
        // On the instance's own pool, concurrent sends share statements (send_batch). Not a
        // caller's `db` (its transaction is its own), nor a send that names its id or may need a
        // second try in the next throttle slot.
        let explicit_id = req.options.get("id").is_some_and(|v| !v.is_null());
        if own_db && !explicit_id && !js::truthy(req.options.get("singletonNextSlot")) {
            let row = job_payload(&req.data, &req.options, 0);
            let id = row["id"].as_str().unwrap_or_default().to_string();
            let target = crate::send_batch::Target {
                name: req.name.clone(),
                table: q.table.clone(),
                policy: q.policy.clone(),
                notify: q.notify && self.config.backend != "cockroachdb",
            };
            match self.send_batcher.send(self, target, row, id.clone()).await {
                Ok(true) => return Ok(Some(id)),
                Ok(false) => return Ok(None),
                Err(Some(err)) => {
                    return Err(self
                        .insert_error(err, &req.name, &dead_letters, own_db)
                        .await)
                }
                // the shared statement was refused: alone, this send gets its own answer
                Err(None) => {}
            }
        }
        let insert_one = |payload: Value| {
            let params = [Some(req.name.clone()), Some(json!([payload]).to_string())];
            let (db, sql, dead_letters, name) = (&db, &sql, &dead_letters, &req.name);
            async move {
                match self.query(db, sql, &params).await {
                    Ok(rows) => Ok(rows.into_iter().next()),
                    Err(err) => Err(self.insert_error(err, name, dead_letters, own_db).await),
                }
            }
        };
        if let Some(id) = insert_one(job_payload(&req.data, &req.options, 0)).await? {
            return Ok(Some(id));
        }
        if js::truthy(req.options.get("singletonNextSlot")) {
            let seconds = req
                .options
                .get("singletonSeconds")
                .map(js::to_number)
                .unwrap_or(0.0);
            if seconds > 0.0 {
                let mut options = req.options.clone();
                options.insert(
                    "startAfter".into(),
                    Value::String(debounce_start_after(seconds, 0.0).to_string()),
                );
                return insert_one(job_payload(&req.data, &options, seconds as i64)).await;
            }
        }
        Ok(None)
    }

    /// `insert(name, jobs, { returnId })`: one statement for the whole array.
    pub async fn insert(
        &self,
        name: &Value,
        jobs: Value,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<Option<Vec<String>>> {
        let Value::Array(jobs) = jobs else {
            return Err(BossError::assertion("jobs argument should be an array"));
        };
        let mut seen = std::collections::HashSet::new();
        let empty = Object::new();
        for job in &jobs {
            let o = job.as_object().unwrap_or(&empty);
            if let Some(id) = o.get("id").filter(|v| !v.is_null()) {
                let id = js::display(Some(id));
                if !seen.insert(id.clone()) {
                    return Err(BossError::operational(format!(
                        "duplicate job id in insert batch: {id}"
                    )));
                }
            }
            validate::group_config(o)?;
        }
        let name = js::display(Some(name));
        let q = self.queue_info(&name).await?;
        if q.policy == "key_strict_fifo" && jobs.iter().any(|j| !js::truthy(j.get("singletonKey")))
        {
            return Err(BossError::operational(
                "key_strict_fifo queues require a singletonKey",
            ));
        }
        let mut dead_letters: Vec<String> = Vec::new();
        for d in jobs
            .iter()
            .filter_map(|j| j.get("deadLetter").and_then(Value::as_str))
        {
            if !dead_letters.iter().any(|x| x == d) {
                dead_letters.push(d.to_string());
            }
        }
        let payload: Vec<Value> = jobs
            .into_iter()
            .map(|j| {
                let mut o = match j {
                    Value::Object(o) => o,
                    _ => Object::new(),
                };
                if let Some(g) = o.get("group").and_then(Value::as_object).cloned() {
                    o.insert(
                        "groupId".into(),
                        g.get("id").cloned().unwrap_or(Value::Null),
                    );
                    o.insert(
                        "groupTier".into(),
                        g.get("tier").cloned().unwrap_or(Value::Null),
                    );
                }
                o.remove("group");
                if let Some(Value::String(s)) = o.get("startAfter") {
                    let pinned = validate::pin_zoneless(s);
                    o.insert("startAfter".into(), Value::String(pinned));
                }
                Value::Object(o)
            })
            .collect();
        // checked before ids are made here: only the caller's own ids could collide
        let may_conflict = may_conflict(&q.policy, &payload, true);
        let payload: Vec<Value> = payload
            .into_iter()
            .map(|mut j| {
                if let Value::Object(o) = &mut j {
                    let id = id_or_new(o.get("id"));
                    o.insert("id".into(), id);
                }
                j
            })
            .collect();
        let own_db = db.is_none();
        let db = self.db(db)?;
        let sql = plans::jobs::insert_jobs(
            &self.config.schema,
            &q.table,
            q.notify && self.config.backend != "cockroachdb",
            js::truthy(options.get("returnId")),
            may_conflict,
        );
        let rows = match self
            .query(
                &db,
                &sql,
                &[Some(name.clone()), Some(Value::Array(payload).to_string())],
            )
            .await
        {
            Ok(rows) => rows,
            Err(err) => {
                return Err(self.insert_error(err, &name, &dead_letters, own_db).await);
            }
        };
        if js::truthy(options.get("returnId")) && !rows.is_empty() {
            Ok(Some(rows))
        } else {
            Ok(None)
        }
    }

    /// A failed job insert as pg-boss reports it: a queue deleted after it was cached (its foreign
    /// key, or its own dropped table) reads as `Queue <name> does not exist` and leaves the cache; a
    /// missing dead letter queue is named. `dead_letters` are the ones the statement wrote.
    async fn insert_error(
        &self,
        err: BossError,
        name: &str,
        dead_letters: &[String],
        own_db: bool,
    ) -> BossError {
        let constraint = err
            .message
            .split("foreign key constraint \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_string);
        match (err.sqlstate(), constraint.as_deref()) {
            (Some("23503"), Some("q_fkey")) => {
                self.queues.evict(name);
                return crate::queues::queue_not_found_for(name, own_db);
            }
            (Some("23503"), Some("dlq_fkey")) => {
                for d in dead_letters {
                    if matches!(self.get_queues_raw(Some(vec![d.clone()]), None, None).await, Ok(rows) if rows.is_empty())
                    {
                        return BossError::operational(format!(
                            "Dead letter queue {d} does not exist"
                        ));
                    }
                }
                return BossError::operational("Dead letter queue does not exist");
            }
            (Some("42P01"), _) | (Some("23514"), _) => {
                self.queues.evict(name);
                if matches!(self.get_queues_raw(Some(vec![name.to_string()]), None, None).await, Ok(rows) if rows.is_empty())
                {
                    return crate::queues::queue_not_found_for(name, own_db);
                }
            }
            _ => {}
        }
        err
    }

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

    pub async fn complete(
        &self,
        name: Option<&Value>,
        id: Option<&Value>,
        data: Option<&Value>,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let include_queued = js::truthy(options.get("includeQueued"));
        self.settle_with_output("complete", name, id, data, include_queued, db)
            .await
    }

    pub async fn fail(
        &self,
        name: Option<&Value>,
        id: Option<&Value>,
        data: Option<&Value>,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        self.settle_with_output("fail", name, id, data, false, db)
            .await
    }

    /// `complete()` / `fail()`: ids or `{ id, retryCount }` attempts, one output for all of them.
    async fn settle_with_output(
        &self,
        func: &str,
        name: Option<&Value>,
        id: Option<&Value>,
        data: Option<&Value>,
        include_queued: bool,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let db = self.db(db)?;
        let args = attempt_args(id, func)?;
        let q = self.queue_info(&name).await?;
        let (s, t, fenced) = (&self.config.schema, &q.table, args.attempts.is_some());
        let sql = if func == "complete" {
            plans::jobs::complete_jobs(s, t, include_queued, fenced)
        } else {
            plans::jobs::fail_jobs(s, t, fenced, plans::jobs::fails_in_place(&q.policy))
        };
        let mut params = vec![
            Some(name),
            Some(json!(args.ids).to_string()),
            completion_output(data),
        ];
        if let Some(a) = &args.attempts {
            params.push(Some(json!(a).to_string()));
        }
        let (affected, settled) = settle_query(&db, &sql, &params).await?;
        Ok(command_response(&args.ids, affected, settled))
    }

    /// cancel / touch / deleteJob (fenced when given `{ id, retryCount }` attempts, and they
    /// report which ids they settled) and resume / retry / restore (plain ids only).
    pub async fn manage(
        &self,
        func: &str,
        name: Option<&Value>,
        id: Option<&Value>,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let own_db = db.is_none();
        let db = self.db(db)?;
        let fenceable = matches!(func, "cancel" | "touch" | "deleteJob");
        let (ids, attempts) = if fenceable {
            let args = attempt_args(id, func)?;
            (args.ids, args.attempts)
        } else {
            (plain_ids(id, func)?, None)
        };
        let q = self.queue_info(&name).await?;
        let (s, t) = (&self.config.schema, &q.table);
        let fenced = attempts.is_some();
        let sql = match func {
            "cancel" => plans::jobs::cancel_jobs(s, t, fenced),
            "touch" => plans::jobs::touch_jobs(s, t, fenced),
            "deleteJob" => plans::jobs::delete_jobs(s, t, fenced, own_db),
            "resume" => plans::jobs::resume_jobs(s, t, own_db),
            "retry" => plans::jobs::retry_jobs(s, t),
            "restore" => plans::jobs::restore_jobs(s, t),
            other => {
                return Err(BossError::operational(format!(
                    "unknown job command {other}"
                )))
            }
        };
        let mut params = vec![Some(name), Some(json!(ids).to_string())];
        if let Some(a) = &attempts {
            params.push(Some(json!(a).to_string()));
        }
        let (affected, settled) = settle_query(&db, &sql, &params).await?;
        Ok(command_response(
            &ids,
            affected,
            if fenceable { settled } else { None },
        ))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_args_accept_both_call_forms() {
        let r = check_send_args(&[json!("q"), json!({"a": 1}), json!({"priority": 3})]).unwrap();
        assert_eq!(r.name, "q");
        assert_eq!(r.options["priority"], json!(3));
        let r = check_send_args(&[json!({"name": "q", "data": {"b": 2}})]).unwrap();
        assert_eq!(r.data, json!({"b": 2}));
        assert_eq!(r.options["priority"], json!(0));
    }

    #[test]
    fn send_args_reject_bad_input_with_pg_boss_messages() {
        let m = |args: &[Value]| check_send_args(args).unwrap_err().message;
        assert_eq!(
            m(&[json!({"name": "q"}), json!(1)]),
            "send object API only accepts 1 argument"
        );
        assert_eq!(m(&[json!(null)]), "boss requires all jobs to have a name");
        assert_eq!(
            m(&[json!("q"), json!(js::FUNCTION)]),
            "send() cannot accept a function as the payload.  Did you intend to use work()?"
        );
        assert_eq!(
            m(&[json!({"data": 1})]),
            "boss requires all jobs to have a queue name"
        );
        assert_eq!(
            m(&[json!("q"), json!(null), json!("x")]),
            "options should be an object"
        );
        assert_eq!(
            m(&[json!("q"), json!(null), json!({"priority": 1.5})]),
            "priority must be an integer"
        );
    }

    #[test]
    fn attempts_fence_with_canonical_ids() {
        let a = attempt_args(
            Some(&json!([{"id": "ABCDEF00-0000-0000-0000-000000000001", "retryCount": 2}])),
            "complete",
        )
        .unwrap();
        assert_eq!(
            a.attempts.unwrap()[0],
            "abcdef00-0000-0000-0000-000000000001:2"
        );
        let e = attempt_args(
            Some(&json!(["a", {"id": "b", "retryCount": 0}])),
            "complete",
        )
        .err()
        .unwrap();
        assert_eq!(e.message, "complete() requires either ids or jobs with an id and an integer retryCount, not a mix");
        assert_eq!(
            attempt_args(Some(&json!([])), "fail")
                .err()
                .unwrap()
                .message,
            "fail() requires an id"
        );
    }

    #[test]
    fn completion_output_keeps_null_as_sql_null() {
        assert_eq!(
            completion_output(Some(&json!({"a": 1}))),
            Some("{\"a\":1}".into())
        );
        assert_eq!(completion_output(Some(&Value::Null)), None);
    }

    #[test]
    fn debounce_waits_for_the_next_slot() {
        let s = debounce_start_after(60.0, 0.0);
        assert!((1..=61).contains(&s));
    }
}

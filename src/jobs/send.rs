//! The send family and bulk insert: argument checks, insert payloads, and insert errors as
//! pg-boss reports them.

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use crate::plans;
use crate::validate;
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
pub(crate) fn job_payload(data: &Value, o: &Object, singleton_offset: i64) -> Value {
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
            self.notify_enabled(q.notify),
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
                notify: self.notify_enabled(q.notify),
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
            self.notify_enabled(q.notify),
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
    pub(crate) async fn insert_error(
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
    fn debounce_waits_for_the_next_slot() {
        let s = debounce_start_after(60.0, 0.0);
        assert!((1..=61).contains(&s));
    }
}

//! `update()` and `upsert()`: editing a queued job in place by id or singleton key, and for
//! `upsert()` inserting one when none matched.

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use crate::names::assert_queue_name;
use crate::plans::{self, jobs::UpdateTarget};
use crate::validate;
use serde_json::{json, Value};

/// A checked `update()`/`upsert()` call.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// As given: checked as a queue name only once the arguments are (pg-boss's order).
    pub name: Value,
    pub target: UpdateTarget,
    /// The fields the caller supplied, under the names both the edit and the insert read.
    pub payload: Object,
}

/// The answer of `update()` (`inserted` is `None`) and `upsert()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub jobs: Vec<String>,
    pub updated: usize,
    pub inserted: Option<usize>,
    /// The jobs an `upsert()` created, committed (what a spy records as `created`).
    pub created: Option<CreatedJobs>,
}

/// Jobs a call created: their ids, and the data they were all created with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatedJobs {
    pub ids: Vec<String>,
    pub data: Value,
}

impl UpdateOutcome {
    pub fn to_json(&self) -> String {
        let mut r = json!({ "jobs": self.jobs, "updated": self.updated });
        if let Some(n) = self.inserted {
            r["inserted"] = json!(n);
        }
        r.to_string()
    }
}

/// `{ ...options }` as JS spreads it: an object's own keys, a string's or an array's items by
/// index, nothing from anything else.
fn spread(options: Option<&Value>) -> Object {
    match options {
        Some(Value::Object(o)) => o.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        Some(Value::String(s)) if !js::is_function(options) && !js::is_undefined(options) => s
            .chars()
            .enumerate()
            .map(|(i, c)| (i.to_string(), Value::String(c.to_string())))
            .collect(),
        _ => Object::new(),
    }
}

/// `update()`'s `startAfter` as pg-boss normalises it: unlike `send()`, any finite number is kept
/// (0 or less pulls the job forward to now), a date time string without a zone is read as UTC,
/// and anything else is dropped. A `Date` arrives as its ISO text.
fn update_start_after(v: &Value) -> Option<Value> {
    match v {
        Value::Number(_) => Some(Value::String(js::display(Some(v)))),
        Value::String(_) if js::is_undefined(Some(v)) || js::is_function(Some(v)) => None,
        Value::String(s) => Some(Value::String(validate::pin_zoneless(s))),
        _ => None,
    }
}

/// `checkUpdateArgs(args, { upsert })`: both call forms, pg-boss's checks, messages and order.
pub fn check_update_args(args: &[Value], upsert: bool) -> Result<UpdateRequest> {
    let verb = if upsert { "upsert()" } else { "update()" };
    let (name, data, raw_options) = match args.first() {
        Some(Value::String(s)) if !js::is_undefined(args.first()) => (
            Value::String(s.clone()),
            args.get(1).cloned(),
            args.get(2).cloned(),
        ),
        Some(Value::Object(_)) | Some(Value::Null) | Some(Value::Array(_)) => {
            ensure(
                args.len() == 1,
                format!("{verb} object API only accepts 1 argument"),
            )?;
            ensure(
                js::truthy(args.first()),
                "boss requires all jobs to have a name",
            )?;
            let o = args[0].as_object();
            let get = |k: &str| o.and_then(|o| o.get(k)).cloned();
            (
                get("name").unwrap_or(Value::Null),
                get("data"),
                get("options"),
            )
        }
        _ => (Value::Null, None, None),
    };
    ensure(
        js::truthy(Some(&name)),
        "boss requires all jobs to have a queue name",
    )?;
    ensure(
        !js::is_function(data.as_ref()),
        format!("{verb} cannot accept a function as the payload.  Did you intend to use work()?"),
    )?;
    let raw_options = raw_options.filter(|o| js::truthy(Some(o)));
    let mut options = spread(raw_options.as_ref());
    let defined = |o: &Object, k: &str| o.get(k).filter(|v| !js::is_undefined(Some(v))).cloned();
    let id = defined(&options, "id");
    let key = defined(&options, "singletonKey");
    let matching = defined(&options, "match");
    ensure(
        js::truthy(id.as_ref()) != js::truthy(key.as_ref()),
        format!("{verb} requires exactly one of id or singletonKey"),
    )?;
    ensure(
        !(js::truthy(id.as_ref()) && matching.is_some()),
        "match is only valid when targeting jobs by singletonKey",
    )?;
    let target = match matching.as_ref().map(|m| m.as_str()) {
        _ if js::truthy(id.as_ref()) => UpdateTarget::Id,
        None => UpdateTarget::NewestByKey,
        Some(Some("newest")) => UpdateTarget::NewestByKey,
        Some(Some("oldest")) => UpdateTarget::OldestByKey,
        Some(Some("all")) => UpdateTarget::AllByKey,
        Some(_) => {
            return Err(BossError::assertion(
                "match must be one of: newest, oldest, all",
            ))
        }
    };
    ensure(
        !js::has(&options, "priority") || js::is_integer(options.get("priority")),
        "priority must be an integer",
    )?;
    if let Some(v) = options.get("startAfter").cloned() {
        match update_start_after(&v) {
            Some(s) => options.insert("startAfter".into(), s),
            None => options.insert("startAfter".into(), Value::String(js::UNDEFINED.into())),
        };
    }
    validate::retry_config(&options)?;
    validate::expiration_config(&options)?;
    validate::retention_config(&options)?;
    validate::group_config(&options)?;
    validate::heartbeat_config(&options)?;
    Ok(UpdateRequest {
        name,
        target,
        payload: update_payload(data, &options),
    })
}

/// pg-boss's `toUpdatePayload`: only the fields given (not undefined) become keys, so the edit
/// leaves every other column as it is.
fn update_payload(data: Option<Value>, o: &Object) -> Object {
    let mut payload = Object::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v.filter(|v| !js::is_undefined(Some(v)) && !js::is_function(Some(v))) {
            payload.insert(key.to_string(), v);
        }
    };
    put("data", data);
    for key in [
        "priority",
        "startAfter",
        "retentionSeconds",
        "expireInSeconds",
        "deleteAfterSeconds",
        "retryLimit",
        "retryDelay",
        "retryBackoff",
        "retryDelayMax",
        "deadLetter",
        "heartbeatSeconds",
    ] {
        put(key, o.get(key).cloned());
    }
    // `group?.id`: anything but an object (or null) reads as no group
    let group = o.get("group").and_then(Value::as_object);
    put("groupId", group.and_then(|g| g.get("id")).cloned());
    put("groupTier", group.and_then(|g| g.get("tier")).cloned());
    put("id", o.get("id").cloned());
    put("singletonKey", o.get("singletonKey").cloned());
    payload
}

impl Engine {
    /// `update(...)`: edit the queued job(s) the request targets.
    pub async fn update(
        &self,
        req: UpdateRequest,
        db: Option<SharedExecutor>,
    ) -> Result<UpdateOutcome> {
        let name = assert_queue_name(Some(&req.name))?;
        let db = self.db(db)?;
        let q = self.queue_info(&name).await?;
        let sql = plans::jobs::update_jobs(
            &self.config.schema,
            &q.table,
            req.target,
            self.notify_enabled(q.notify),
        );
        let payload = Value::Object(req.payload).to_string();
        let jobs = self.query(&db, &sql, &[Some(name), Some(payload)]).await?;
        Ok(UpdateOutcome {
            updated: jobs.len(),
            jobs,
            inserted: None,
            created: None,
        })
    }

    /// `upsert(...)`: edit the queued job(s) the request targets, else insert one (with the
    /// request's id when it targets by id); an insert that a concurrent send or upsert of the same
    /// job beat (ON CONFLICT skipped it) edits that job instead. Exactly one of `updated` and
    /// `inserted` is non-zero, unless a policy leaves no room for the job at all.
    ///
    /// pg-boss runs the three statements in one transaction. Here each runs on its own (or in the
    /// caller's transaction, with their `db`): only one of them ever writes, so there is nothing
    /// partial to roll back, and under READ COMMITTED each sees what the transaction's statement
    /// would.
    pub async fn upsert(
        &self,
        req: UpdateRequest,
        db: Option<SharedExecutor>,
    ) -> Result<UpdateOutcome> {
        let name = assert_queue_name(Some(&req.name))?;
        let own_db = db.is_none();
        let db = self.db(db)?;
        let q = self.queue_info(&name).await?;
        // the insert needs a key on a key_strict_fifo queue (its check constraint), even by id
        if q.policy == "key_strict_fifo" && !js::truthy(req.payload.get("singletonKey")) {
            return Err(BossError::operational(
                "key_strict_fifo queues require a singletonKey",
            ));
        }
        let s = &self.config.schema;
        let notify = self.notify_enabled(q.notify);
        let by_key = req.target != UpdateTarget::Id;
        let edit_sql = plans::jobs::update_jobs(s, &q.table, req.target, notify);
        let insert_sql = plans::jobs::insert_jobs_marked(s, &q.table, notify, true, true, by_key);
        let edit_params = [
            Some(name.clone()),
            Some(Value::Object(req.payload.clone()).to_string()),
        ];
        let mut row = req.payload.clone();
        if !js::truthy(row.get("id")) {
            row.insert("id".into(), Value::String(crate::ids::new_job_id()));
        }
        let data = row.get("data").cloned().unwrap_or(Value::Null);
        let insert_params = [Some(name.clone()), Some(json!([row]).to_string())];
        let dead_letters: Vec<String> = req
            .payload
            .get("deadLetter")
            .filter(|v| !v.is_null())
            .map(|v| js::display(Some(v)))
            .into_iter()
            .collect();
        let attempt = || async {
            let edited = self.query(&db, &edit_sql, &edit_params).await?;
            if !edited.is_empty() {
                return Ok(UpdateOutcome {
                    updated: edited.len(),
                    jobs: edited,
                    inserted: Some(0),
                    created: None,
                });
            }
            let inserted = self.query(&db, &insert_sql, &insert_params).await?;
            if !inserted.is_empty() {
                return Ok(UpdateOutcome {
                    updated: 0,
                    inserted: Some(inserted.len()),
                    created: Some(CreatedJobs {
                        ids: inserted.clone(),
                        data: data.clone(),
                    }),
                    jobs: inserted,
                });
            }
            let edited = self.query(&db, &edit_sql, &edit_params).await?;
            Ok::<_, BossError>(UpdateOutcome {
                updated: edited.len(),
                jobs: edited,
                inserted: Some(0),
                created: None,
            })
        };
        // Where every transaction is serializable (CockroachDB), two upserts of one key that both
        // miss conflict and one fails with 40001: on our own connection it runs again and finds
        // the other's job, as pg-boss does; a caller's transaction is theirs to retry.
        const ATTEMPTS: usize = 3;
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Ok(outcome) => return Ok(outcome),
                Err(err) if own_db && err.sqlstate() == Some("40001") && tries < ATTEMPTS => {}
                Err(err) => return Err(self.insert_error(err, &name, &dead_letters, own_db).await),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(args: &[Value], upsert: bool) -> String {
        check_update_args(args, upsert).unwrap_err().message
    }

    #[test]
    fn both_call_forms_target_by_id_or_key() {
        let r =
            check_update_args(&[json!("q"), json!({"a": 1}), json!({"id": "x"})], false).unwrap();
        assert_eq!(r.target, UpdateTarget::Id);
        assert_eq!(r.payload["data"], json!({"a": 1}));
        let r = check_update_args(
            &[json!({"name": "q", "options": {"singletonKey": "k", "match": "all"}})],
            true,
        )
        .unwrap();
        assert_eq!(r.target, UpdateTarget::AllByKey);
        assert!(!r.payload.contains_key("data"), "data not given: kept");
    }

    #[test]
    fn messages_follow_pg_boss() {
        assert_eq!(
            message(&[json!("q"), json!(null)], false),
            "update() requires exactly one of id or singletonKey"
        );
        assert_eq!(
            message(
                &[
                    json!("q"),
                    json!(null),
                    json!({"id": "a", "singletonKey": "k"})
                ],
                true
            ),
            "upsert() requires exactly one of id or singletonKey"
        );
        assert_eq!(
            message(&[json!({"name": "q"}), json!(1)], true),
            "upsert() object API only accepts 1 argument"
        );
        assert_eq!(
            message(&[json!("q"), json!(js::FUNCTION)], false),
            "update() cannot accept a function as the payload.  Did you intend to use work()?"
        );
        assert_eq!(
            message(
                &[json!("q"), json!(null), json!({"id": "a", "match": "all"})],
                false
            ),
            "match is only valid when targeting jobs by singletonKey"
        );
        assert_eq!(
            message(
                &[
                    json!("q"),
                    json!(null),
                    json!({"singletonKey": "k", "match": "x"})
                ],
                false
            ),
            "match must be one of: newest, oldest, all"
        );
    }

    #[test]
    fn start_after_keeps_zero_and_negative_numbers() {
        let r = check_update_args(
            &[json!("q"), json!(null), json!({"id": "a", "startAfter": 0})],
            false,
        )
        .unwrap();
        assert_eq!(r.payload["startAfter"], json!("0"));
        let r = check_update_args(
            &[
                json!("q"),
                json!(null),
                json!({"id": "a", "startAfter": true}),
            ],
            false,
        )
        .unwrap();
        assert!(!r.payload.contains_key("startAfter"));
    }
}

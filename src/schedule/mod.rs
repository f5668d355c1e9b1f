//! Schedules: `schedule()`, `unschedule()`, `getSchedules()`, `getSchedule()` on the `schedule`
//! table, and the timekeeper that fires them (`timekeeper`: the cron claim and pass, the clock
//! skew monitor; `send_it`: the worker that turns each filed occurrence into its job).
//!
//! Expressions are judged and evaluated on the JavaScript side, by the two libraries pg-boss
//! 12.38 uses (cron-parser and rrule-temporal, driven by lib/recurrence.js), because a mixed fleet
//! only sends each occurrence once if every instance reads an expression identically. The engine
//! reaches that code through a [`TimekeeperHost`]; everything else (what is due, the missed
//! policy, throttle slots, the claim, the sends) is here.

mod clock;
pub mod send_it;
pub mod timekeeper;

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{ensure, BossError, Result};
use crate::jobs::check_send_args;
use crate::js::{self, Object};
use crate::names::assert_object_name;
use crate::plans;
use crate::plans::schedule::ScheduleFilter;
use futures_util::future::BoxFuture;
use serde_json::Value;

pub use timekeeper::Timekeeper;

pub const KINDS: [&str; 2] = ["cron", "rrule"];
pub const MISSED_POLICIES: [&str; 2] = ["skip", "once"];

/// What the timekeeper needs from JavaScript: expression arithmetic and, when the constructor was
/// given a `clock`, that clock's time and timers.
pub trait TimekeeperHost: Send + Sync {
    /// lib/recurrence.js `evaluatePass(request)`.
    fn evaluate(&self, request: Value) -> BoxFuture<'static, Result<Value>>;
    /// The `clock` option's `now()`.
    fn now(&self) -> BoxFuture<'static, Result<f64>>;
    /// Resolves after `ms` on the `clock` option's timers; `chain` names the timer chain
    /// (`cron`, `skew`) so a TestClock's `idle()` knows which one is between wakes.
    fn sleep(&self, chain: &'static str, ms: f64) -> BoxFuture<'static, Result<()>>;
    /// An attachable `clock` (a TestClock) takes over the schema's `job_now()`: called by start
    /// once the schema is in place, before anything reads the time.
    fn attach(&self) -> BoxFuture<'static, Result<()>>;
    /// The attachment's release, by stop once the workers are done.
    fn detach(&self) -> BoxFuture<'static, Result<()>>;
}

/// `assertKey(key)`: an empty key is the default schedule of a queue.
fn assert_key(key: Option<&Value>) -> Result<String> {
    if !js::truthy(key) {
        return Ok(String::new());
    }
    match key {
        Some(Value::String(s)) => {
            assert_object_name(s, "Key")?;
            Ok(s.clone())
        }
        _ => Err(BossError::assertion("Key must be a string")),
    }
}

/// A `key` argument of unschedule()/getSchedule(): `undefined` (index.js marks it) is the
/// default key, any other value is matched as given (null matches nothing, as in 12.38).
fn key_argument(key: Option<&Value>) -> Option<String> {
    match key {
        None => Some(String::new()),
        Some(v) if js::is_undefined(Some(v)) => Some(String::new()),
        other => js::pg_text(other),
    }
}

/// The `occurrenceKey` 12.38 files forwarded occurrences under: the name's underscores escaped so
/// `('report_', 'daily')` and `('report', '_daily')` cannot meet on one key.
pub fn occurrence_key(name: &str, key: &str) -> String {
    format!("{}__{key}", name.replace('_', "\\_"))
}

impl Engine {
    /// `schedule(name, cron, data, options)` once lib/recurrence.js has judged the expression and
    /// zone (they are checked first, as in 12.38) and named its `kind`. `options` is the persisted
    /// object: the caller's options without `db`.
    pub async fn schedule(&self, args: &[Value], db: Option<SharedExecutor>) -> Result<()> {
        let name = args.first().cloned().unwrap_or(Value::Null);
        let cron = js::display(args.get(1));
        let data = args.get(2).cloned().unwrap_or(Value::Null);
        let persisted = match args.get(3) {
            Some(Value::Object(o)) => o.clone(),
            _ => Object::new(),
        };
        let kind = js::display(args.get(4));
        let tz = js::display(args.get(5));
        ensure(
            KINDS.contains(&kind.as_str()),
            "schedule kind must be cron or rrule",
        )?;
        let mut rest = persisted.clone();
        for k in ["tz", "key", "missed"] {
            rest.remove(k);
        }
        check_send_args(&[name.clone(), data.clone(), Value::Object(rest)])?;
        let key = assert_key(persisted.get("key"))?;
        let missed = persisted.get("missed");
        ensure(
            missed.is_none()
                || missed == Some(&Value::Null)
                || js::is_undefined(missed)
                || js::as_str(missed).is_some_and(|m| MISSED_POLICIES.contains(&m)),
            format!("missed must be one of: {}", MISSED_POLICIES.join(", ")),
        )?;
        let name = js::display(Some(&name));
        let db = self.db(db)?;
        let data_text = (!data.is_null()).then(|| data.to_string());
        let params = [
            Some(name.clone()),
            Some(key),
            Some(kind),
            Some(cron),
            Some(tz),
            data_text,
            Some(Value::Object(js::defined(&persisted)).to_string()),
        ];
        match self
            .query(&db, &plans::schedule::upsert(&self.config.schema), &params)
            .await
        {
            // pg-boss rewrites the driver's message and keeps the error (and its code)
            Err(err) if err.sqlstate() == Some("23503") => Err(BossError::database(
                err.sqlstate().map(str::to_string),
                format!("Queue {name} not found"),
            )),
            other => other.map(|_| ()),
        }
    }

    /// `unschedule(name, key, { db })`.
    pub async fn unschedule(
        &self,
        name: Option<&Value>,
        key: Option<&Value>,
        db: Option<SharedExecutor>,
    ) -> Result<()> {
        let db = self.db(db)?;
        self.query(
            &db,
            &plans::schedule::delete(&self.config.schema),
            &[js::pg_text(name), key_argument(key)],
        )
        .await?;
        Ok(())
    }

    /// `getSchedules(name?, key?, { limit, after })`: rows as a JSON array.
    pub async fn get_schedules(
        &self,
        name: Option<&Value>,
        key: Option<&Value>,
        options: &Object,
    ) -> Result<String> {
        let limit = match options.get("limit") {
            Some(v) if js::is_undefined(Some(v)) => None,
            other => other,
        };
        let limit = crate::queues::list_limit("getSchedules", limit)?;
        let after = options.get("after").filter(|v| !js::is_undefined(Some(v)));
        let after_row = match after {
            None => None,
            Some(Value::Object(o)) => match (o.get("name"), o.get("key")) {
                (Some(Value::String(n)), Some(Value::String(k))) => Some((n.clone(), k.clone())),
                _ => None,
            },
            Some(_) => None,
        };
        ensure(
            after.is_none() || after_row.is_some(),
            "getSchedules: after must be an object with string name and key",
        )?;
        let by_queue = js::truthy(name);
        // as 12.38: any key but `undefined` (index.js marks it) reads one row, null matching none
        let by_key = by_queue && key.is_some_and(|k| !js::is_undefined(Some(k)));
        let filter = ScheduleFilter {
            by_queue,
            by_key,
            after: after_row.is_some(),
            limited: true,
        };
        let mut params = Vec::new();
        if by_queue {
            params.push(js::pg_text(name));
            if by_key {
                params.push(js::pg_text(key));
            }
        }
        if !by_key {
            if let Some((n, k)) = after_row {
                params.push(Some(n));
                params.push(Some(k));
            }
            params.push(Some(limit.to_string()));
        }
        let db = self.instance_db()?;
        let rows = self
            .query(
                &db,
                &plans::schedule::list(&self.config.schema, filter),
                &params,
            )
            .await?;
        Ok(format!("[{}]", rows.join(",")))
    }

    /// `getSchedule(name, key)`: the row or `null`.
    pub async fn get_schedule(&self, name: Option<&Value>, key: Option<&Value>) -> Result<String> {
        ensure(js::truthy(name), "Name is required")?;
        ensure(
            matches!(name, Some(Value::String(_))),
            "Name must be a string",
        )?;
        let filter = ScheduleFilter {
            by_queue: true,
            by_key: true,
            ..Default::default()
        };
        let db = self.instance_db()?;
        let rows = self
            .query(
                &db,
                &plans::schedule::list(&self.config.schema, filter),
                &[js::pg_text(name), key_argument(key)],
            )
            .await?;
        Ok(rows.into_iter().next().unwrap_or_else(|| "null".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn occurrence_keys_keep_name_and_key_apart() {
        assert_eq!(occurrence_key("report", "daily"), "report__daily");
        assert_eq!(occurrence_key("report_", "daily"), "report\\___daily");
        assert_ne!(
            occurrence_key("report_", "daily"),
            occurrence_key("report", "_daily")
        );
        assert_eq!(occurrence_key("q", ""), "q__");
    }

    #[test]
    fn keys_are_object_names_and_empty_is_the_default() {
        assert_eq!(assert_key(None).unwrap(), "");
        assert_eq!(assert_key(Some(&json!(""))).unwrap(), "");
        assert_eq!(assert_key(Some(&json!("nightly-1"))).unwrap(), "nightly-1");
        assert_eq!(
            assert_key(Some(&json!(5))).unwrap_err().message,
            "Key must be a string"
        );
        assert!(assert_key(Some(&json!("a b"))).is_err());
    }
}

//! The send-it worker's handler: each job in `__pgboss__send-it` is one filed occurrence,
//! `{ name, key, data, options, slot }`, and becomes `send(name, data, options)`. Jobs filed by
//! pg-boss 12.38 have the same shape, so either implementation's worker sends either's filings.
//!
//! A send that fails is reported as an `error` event and never fails the send-it job: failing it
//! would retry the whole batch and send its other occurrences twice. Each schedule then records
//! the id of the newest job it produced (`last_job_id`).

use crate::engine::{Engine, EngineEvent};
use crate::error::{BossError, Result};
use crate::jobs::check_send_args;
use crate::plans;
use crate::worker::JobHandler;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Weak;

pub struct SendItHandler {
    engine: Weak<Engine>,
}

impl SendItHandler {
    pub fn new(engine: Weak<Engine>) -> SendItHandler {
        SendItHandler { engine }
    }
}

/// The send a filed occurrence stands for: its `options` without `db` (a row written before
/// 12.37 can carry one) and without the pass's own bookkeeping.
fn send_args(occurrence: &Value) -> Vec<Value> {
    let mut options = occurrence
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    options.remove("db");
    vec![
        occurrence.get("name").cloned().unwrap_or(Value::Null),
        occurrence.get("data").cloned().unwrap_or(Value::Null),
        Value::Object(options),
    ]
}

impl JobHandler for SendItHandler {
    fn run(&self, _batch: u64, message: String) -> BoxFuture<'static, Result<String>> {
        let engine = self.engine.clone();
        Box::pin(async move {
            let engine = engine
                .upgrade()
                .ok_or_else(|| BossError::operational("pg-boss-native has shut down"))?;
            let message: Value = serde_json::from_str(&message)?;
            let occurrences: Vec<Value> = message
                .get("jobs")
                .and_then(Value::as_array)
                .map(|jobs| {
                    jobs.iter()
                        .map(|j| j.get("data").cloned().unwrap_or(Value::Null))
                        .collect()
                })
                .unwrap_or_default();
            let sends = occurrences.iter().map(|occurrence| {
                let engine = engine.clone();
                async move {
                    let request = if occurrence.is_object() {
                        check_send_args(&send_args(occurrence))?
                    } else {
                        return Err(BossError::operational(
                            "a send-it job carries no occurrence",
                        ));
                    };
                    engine.send(request, None).await
                }
            });
            let results = futures_util::future::join_all(sends).await;
            // filings by releases before 12.38 name no slot: they count in the current one
            let mut current_slot: Option<String> = None;
            // newest job per schedule, ordered by the slot each occurrence was filed in
            let mut fired: HashMap<(String, String), (String, String)> = HashMap::new();
            for (occurrence, result) in occurrences.iter().zip(results) {
                match result {
                    Err(err) => engine.emit(EngineEvent::Error(err)),
                    Ok(None) => {}
                    Ok(Some(id)) => {
                        if let Some(queue) = occurrence.get("name").and_then(Value::as_str) {
                            let data = || occurrence.get("data").cloned().unwrap_or(Value::Null);
                            engine.spy_created(queue, || vec![(id.clone(), data())]);
                        }
                        let (Some(name), Some(key)) = (
                            occurrence.get("name").and_then(Value::as_str),
                            occurrence.get("key").and_then(Value::as_str),
                        ) else {
                            continue;
                        };
                        let slot = match occurrence.get("slot").and_then(Value::as_str) {
                            Some(slot) => slot.to_string(),
                            None => match &current_slot {
                                Some(slot) => slot.clone(),
                                None => current_slot.insert(engine.current_slot().await).clone(),
                            },
                        };
                        let entry = fired.entry((name.to_string(), key.to_string()));
                        match entry {
                            std::collections::hash_map::Entry::Occupied(mut e) => {
                                if e.get().0 <= slot {
                                    e.insert((slot, id));
                                }
                            }
                            std::collections::hash_map::Entry::Vacant(e) => {
                                e.insert((slot, id));
                            }
                        }
                    }
                }
            }
            if !fired.is_empty() {
                record_last_jobs(&engine, fired).await;
            }
            Ok(json!({ "kind": "resolved" }).to_string())
        })
    }

    fn abort(&self, _message: String) {}
}

/// Best effort: the jobs exist whatever happens here, so a failure is an `error` event naming the
/// schedules, not a failed send-it job.
async fn record_last_jobs(engine: &Engine, fired: HashMap<(String, String), (String, String)>) {
    let mut names: Vec<String> = Vec::new();
    let records: Vec<Value> = fired
        .into_iter()
        .map(|((name, key), (_, id))| {
            names.push(format!("\"{name}\" (key \"{key}\")"));
            json!({ "name": name, "key": key, "jobId": id })
        })
        .collect();
    let written = async {
        let db = engine.instance_db()?;
        engine
            .query(
                &db,
                &plans::schedule::set_last_job_ids(&engine.config.schema),
                &[Some(Value::Array(records).to_string())],
            )
            .await
    }
    .await;
    if let Err(err) = written {
        engine.emit(EngineEvent::Error(BossError::operational(format!(
            "Warning: schedules fired but their last job id could not be recorded for {}: {}",
            names.join(", "),
            err.message
        ))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_occurrence_sends_its_request_without_db() {
        let occurrence = json!({
            "name": "q", "key": "k", "data": { "a": 1 },
            "options": { "retryLimit": 3, "db": {}, "tz": "UTC" }, "slot": "2026-12-01 10:15:00"
        });
        assert_eq!(
            send_args(&occurrence),
            vec![
                json!("q"),
                json!({ "a": 1 }),
                json!({ "retryLimit": 3, "tz": "UTC" })
            ]
        );
        assert_eq!(
            send_args(&json!({ "name": "q" })),
            vec![json!("q"), Value::Null, json!({})]
        );
    }
}

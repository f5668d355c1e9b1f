//! The engine's call surface: one entry per public pg-boss method, taking the JS arguments as a
//! JSON array and answering JSON text. The binding forwards to `call` and knows no method names;
//! argument overloads that JSON cannot express (functions, `db` objects) are resolved in index.js.

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{BossError, Result};
use crate::jobs::check_send_args;
use crate::js::Object;
use serde_json::{json, Value};
use std::sync::Arc;

fn arg(args: &[Value], i: usize) -> Option<&Value> {
    args.get(i).filter(|v| !v.is_null())
}

/// An options object argument (absent or null reads as `{}`).
fn options(args: &[Value], i: usize) -> Object {
    match args.get(i) {
        Some(Value::Object(o)) => o.clone(),
        _ => Object::new(),
    }
}

fn id_or_null(id: Option<String>) -> String {
    match id {
        Some(id) => Value::String(id).to_string(),
        None => "null".into(),
    }
}

/// `send*` variants build options the way pg-boss does before checking them.
fn variant_options(args: &[Value], extra: &[(&str, Value)]) -> Vec<Value> {
    let mut o = options(args, 2);
    for (k, v) in extra {
        if v.is_null() {
            o.remove(*k);
        } else {
            o.insert((*k).to_string(), v.clone());
        }
    }
    vec![
        args.first().cloned().unwrap_or(Value::Null),
        args.get(1).cloned().unwrap_or(Value::Null),
        Value::Object(o),
    ]
}

pub async fn call(
    engine: &Arc<Engine>,
    method: &str,
    args: Vec<Value>,
    db: Option<SharedExecutor>,
) -> Result<String> {
    match method {
        "start" => {
            let attempts = crate::validate::start_attempts(&options(&args, 0))?;
            engine
                .start_with_attempts(attempts)
                .await
                .map(|_| "null".into())
        }
        "stop" => {
            let o = options(&args, 0);
            let close = o.get("close") != Some(&Value::Bool(false));
            let graceful = o.get("graceful") != Some(&Value::Bool(false));
            let timeout = o
                .get("timeout")
                .and_then(Value::as_f64)
                .unwrap_or(30000.0)
                .max(1000.0) as u64;
            engine
                .stop(close, graceful, timeout)
                .await
                .map(|stopped| stopped.to_string())
        }
        "isInstalled" => engine.is_installed().await.map(|b| b.to_string()),
        "schemaVersion" => engine
            .schema_version()
            .await
            .map(|v| v.map(|v| v.to_string()).unwrap_or_else(|| "null".into())),

        "createQueue" => engine
            .create_queue(args.first(), &options(&args, 1))
            .await
            .map(|_| "null".into()),
        "updateQueue" => engine
            .update_queue(args.first(), &options(&args, 1))
            .await
            .map(|_| "null".into()),
        "deleteQueue" => engine
            .delete_queue(args.first())
            .await
            .map(|_| "null".into()),
        "getQueue" => engine.get_queue(args.first()).await,
        "getQueues" => engine.get_queues(arg(&args, 0), &options(&args, 1)).await,
        "getInstances" => engine.get_instances(&options(&args, 0)).await,
        "upgradeFromV10" => engine.v10_module_call(false, &options(&args, 0)).await,
        "rollbackV10Upgrade" => engine.v10_module_call(true, &options(&args, 0)).await,
        "getBamStatus" => engine.get_bam_status().await,
        "getBamEntries" => engine.get_bam_entries(&options(&args, 0)).await,
        "detectSchemaDrift" => engine.detect_schema_drift(&options(&args, 0)).await,
        "getReindexCommands" => {
            Ok(json!(engine.get_reindex_commands(&options(&args, 0)).await?).to_string())
        }
        "getQueueStats" => {
            engine
                .get_queue_stats(args.first(), &options(&args, 1))
                .await
        }
        "deleteQueuedJobs" => engine
            .delete_queued_jobs(args.first())
            .await
            .map(|n| n.to_string()),
        "deleteStoredJobs" => engine
            .delete_stored_jobs(args.first())
            .await
            .map(|n| n.to_string()),
        "deleteAllJobs" => engine
            .delete_all_jobs(arg(&args, 0))
            .await
            .map(|n| n.map(|n| n.to_string()).unwrap_or_else(|| "null".into())),

        "send" => {
            let req = check_send_args(&args)?;
            engine.send(req, db).await.map(id_or_null)
        }
        "sendAfter" => {
            let after = args.get(3).cloned().unwrap_or(Value::Null);
            let req = check_send_args(&variant_options(&args, &[("startAfter", after)]))?;
            engine.send(req, db).await.map(id_or_null)
        }
        "sendThrottled" | "sendDebounced" => {
            let seconds = args.get(3).cloned().unwrap_or(Value::Null);
            let key = args.get(4).cloned().unwrap_or(Value::Null);
            let next_slot = Value::Bool(method == "sendDebounced");
            let req = check_send_args(&variant_options(
                &args,
                &[
                    ("singletonSeconds", seconds),
                    ("singletonNextSlot", next_slot),
                    ("singletonKey", key),
                ],
            ))?;
            engine.send(req, db).await.map(id_or_null)
        }
        "insert" => {
            let mut args = args;
            let jobs = args.get_mut(1).map(Value::take).unwrap_or(Value::Null);
            let ids = engine
                .insert(
                    args.first().unwrap_or(&Value::Null),
                    jobs,
                    &options(&args, 2),
                    db,
                )
                .await?;
            Ok(ids
                .map(|ids| json!(ids).to_string())
                .unwrap_or_else(|| "null".into()))
        }
        "schedule" => engine.schedule(&args, db).await.map(|_| "null".into()),
        "unschedule" => engine
            .unschedule(arg(&args, 0), args.get(1), db)
            .await
            .map(|_| "null".into()),
        "getSchedules" => {
            engine
                .get_schedules(arg(&args, 0), args.get(1), &options(&args, 2))
                .await
        }
        "getSchedule" => engine.get_schedule(args.first(), args.get(1)).await,
        "subscribe" => engine
            .subscribe(args.first(), args.get(1))
            .await
            .map(|_| "null".into()),
        "unsubscribe" => engine
            .unsubscribe(args.first(), args.get(1))
            .await
            .map(|_| "null".into()),
        "publish" => {
            let mut args = args;
            let mut take = |i: usize| args.get_mut(i).map(Value::take).unwrap_or(Value::Null);
            let (event, data, options) = (take(0), take(1), take(2));
            engine
                .publish(Some(&event), data, options, db)
                .await
                .map(|sent| json!(sent).to_string())
        }
        "flow" => engine.flow(args.first(), db).await,
        "getDependencies" | "getDependents" => {
            engine
                .dependency_page(method, args.first(), args.get(1), &options(&args, 2), db)
                .await
        }
        "resolveFlow" => engine.resolve_flow().await.map(|_| "null".into()),
        "fetch" => engine.fetch(args.first(), &options(&args, 1), db).await,
        "complete" => {
            engine
                .complete(
                    args.first(),
                    args.get(1),
                    args.get(2),
                    &options(&args, 3),
                    db,
                )
                .await
        }
        "fail" => {
            engine
                .fail(args.first(), args.get(1), args.get(2), db)
                .await
        }
        "cancel" | "touch" | "deleteJob" | "resume" | "retry" | "restore" => {
            engine.manage(method, args.first(), args.get(1), db).await
        }
        "update" | "upsert" => {
            let req = crate::jobs::check_update_args(&args, method == "upsert")?;
            let outcome = if method == "upsert" {
                engine.upsert(req, db).await?
            } else {
                engine.update(req, db).await?
            };
            Ok(outcome.to_json())
        }
        "redrive" => engine
            .redrive(args.first(), &options(&args, 1), db)
            .await
            .map(|n| n.to_string()),
        "previewRedrive" => {
            engine
                .preview_redrive(args.first(), &options(&args, 1), db)
                .await
        }
        "getBlockedKeys" => {
            engine
                .get_blocked_keys(args.first(), &options(&args, 1))
                .await
        }
        "findJobs" => engine.find_jobs(args.first(), &options(&args, 1), db).await,
        "getJobById" => engine.get_job_by_id(args.first(), args.get(1), db).await,
        "executeSql" => {
            let text = match args.first() {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(BossError::assertion("executeSql requires SQL text")),
            };
            let values = match args.get(1) {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            engine.instance_db()?.execute_raw(&text, values).await
        }
        "supervise" => {
            let name = match arg(&args, 0) {
                Some(v) => Some(crate::names::assert_queue_name(Some(v))?),
                None => None,
            };
            engine
                .supervise(name.as_deref(), &options(&args, 1))
                .await
                .map(|_| "null".into())
        }
        "offWork" => {
            let o = match args.get(1) {
                // pg-boss: no options object means { wait: true }; an object without wait means no wait
                None | Some(Value::Null) => {
                    let mut o = Object::new();
                    o.insert("wait".into(), Value::Bool(true));
                    o
                }
                _ => options(&args, 1),
            };
            engine
                .off_work(args.first(), &o)
                .await
                .map(|_| "null".into())
        }
        "notifyWorker" | "getWipData" | "getMetrics" | "poolCounts" | "isMaintaining" => {
            call_sync(engine, method, &args)
        }
        other => Err(BossError::operational(format!(
            "pg-boss-native: {other}() is not implemented yet"
        ))),
    }
}

/// Members pg-boss exposes synchronously, and the synchronous first steps of `start()` and
/// `stop()`, which index.js takes before it waits on anything.
pub fn call_sync(engine: &Arc<Engine>, method: &str, args: &[Value]) -> Result<String> {
    match method {
        // pg-boss checks start()'s options first, even when the instance is started or starting
        "checkStartOptions" => {
            crate::validate::start_attempts(&options(args, 0)).map(|_| "null".into())
        }
        // stop() while start() waits to try again: that start fails now with its last error
        "cancelStartRetries" => {
            engine.cancel_start_retries();
            Ok("null".into())
        }
        "notifyWorker" => {
            if let Some(Value::String(id)) = args.first() {
                engine.notify_worker(id);
            }
            Ok("null".into())
        }
        "getWipData" => {
            let include = options(args, 0).get("includeInternal") == Some(&Value::Bool(true));
            Ok(engine.wip_data(include).to_string())
        }
        "getMetrics" => {
            let o = options(args, 0);
            if o.get("format").and_then(Value::as_str) == Some("prometheus") {
                Ok(Value::String(engine.metrics.to_prometheus()).to_string())
            } else {
                Ok(engine.metrics.to_json().to_string())
            }
        }
        "poolCounts" => Ok(serde_json::to_string(&engine.pool_counts())?),
        "isMaintaining" => Ok(engine.is_maintaining().to_string()),
        "isTimekeeping" => Ok(engine.timekeeper.is_timekeeping().to_string()),
        "isResolvingFlow" => Ok(engine.is_resolving_flow().to_string()),
        "isBamWorking" => Ok(engine.is_bam_working().to_string()),
        "eventsEmitted" => Ok(engine.events_emitted().to_string()),
        "isCheckingSkew" => Ok(engine.timekeeper.is_checking_skew().to_string()),
        // previewSchedule() and schedule() read the database clock as the pass does
        "scheduling" => Ok(engine.config.schedule.to_string()),
        "spiesEnabled" => Ok(engine.spies_enabled().to_string()),
        // the v10 job defaults the constructor was given, for its deprecation warning
        "v10DefaultKeys" => Ok(json!(engine.config.v10_defaults.keys).to_string()),
        "clockSkew" => Ok(json!(engine.timekeeper.skew_ms()).to_string()),
        other => Err(BossError::operational(format!(
            "pg-boss-native: {other}() is not implemented yet"
        ))),
    }
}

//! `work()` / `workEach()` options: pg-boss's `checkWorkArgs` validation and defaults.

use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::validate;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct WorkOptions {
    pub batch_size: i64,
    pub include_metadata: bool,
    pub polling_interval_ms: f64,
    pub notify_polling_interval_ms: f64,
    pub burst_when_ready_exceeds: Option<i64>,
    pub burst_when_batch_full: bool,
    pub local_concurrency: usize,
    pub heartbeat_refresh_seconds: Option<f64>,
    pub per_job_results: bool,
    /// The handler and the batch's completion run in one transaction (`transactional`).
    pub transactional: bool,
    /// `transactionTimeoutSeconds`: the database-side bound on that transaction (0: none).
    pub transaction_timeout_seconds: Option<i64>,
    pub min_priority: Option<i64>,
    pub max_priority: Option<i64>,
    pub group_concurrency: Option<Value>,
    /// In-process limit per group across this `work()` call's loops.
    pub local_group_concurrency: Option<Value>,
    /// `workEach` only: handlers in flight at once.
    pub concurrency: usize,
    /// `prefetch`: the most claimed-but-unstarted jobs a loop may hold while its handler runs
    /// (`None`: off). `true` is one batch's worth. `work()` is off unless asked; `workEach()`
    /// claims ahead unless given `false` (it always has: see each.rs), bounded by its pace.
    pub prefetch: Option<usize>,
    /// The options as `getWipData()` reports them (with `pollingInterval` and
    /// `notifyPollingInterval` in ms, as pg-boss adds them).
    pub resolved: Object,
}

fn group_concurrency_value(value: &Value, option: &str) -> Result<()> {
    if let Value::Number(_) = value {
        return ensure(
            js::is_integer(Some(value)) && js::ge(Some(value), 1.0),
            format!("{option} must be an integer >= 1"),
        );
    }
    ensure(
        js::is_object_like(Some(value)),
        format!("{option} must be a number or an object with {{ default, tiers? }}"),
    )?;
    let o = value.as_object();
    let default = o.and_then(|o| o.get("default"));
    ensure(
        js::is_integer(default) && js::ge(default, 1.0),
        format!("{option}.default must be an integer >= 1"),
    )?;
    if let Some(tiers) = o
        .and_then(|o| o.get("tiers"))
        .filter(|t| js::truthy(Some(t)))
    {
        ensure(
            js::is_object_like(Some(tiers)),
            format!("{option}.tiers must be an object"),
        )?;
        if let Some(tiers) = tiers.as_object() {
            for (tier, limit) in tiers {
                ensure(
                    !tier.is_empty(),
                    format!("{option} tier keys must be non-empty strings"),
                )?;
                ensure(
                    js::is_integer(Some(limit)) && js::ge(Some(limit), 1.0),
                    format!("{option}.tiers[\"{tier}\"] must be an integer >= 1"),
                )?;
            }
        }
    }
    Ok(())
}

fn local_group_limit(value: &Value, local_concurrency: &Value) -> Result<()> {
    let effective = if local_concurrency.is_null() {
        Value::from(1)
    } else {
        local_concurrency.clone()
    };
    let cap = js::to_number(&effective);
    let shown = js::display(Some(&effective));
    match value {
        Value::Number(_) => ensure(
            js::to_number(value) <= cap,
            format!(
                "localGroupConcurrency ({}) cannot exceed localConcurrency ({shown})",
                js::display(Some(value))
            ),
        ),
        Value::Object(o) => {
            let default = o.get("default").cloned().unwrap_or(Value::Null);
            ensure(
                js::to_number(&default) <= cap,
                format!(
                    "localGroupConcurrency.default ({}) cannot exceed localConcurrency ({shown})",
                    js::display(Some(&default))
                ),
            )?;
            if let Some(Value::Object(tiers)) = o.get("tiers") {
                for (tier, limit) in tiers {
                    ensure(
                        js::to_number(limit) <= cap,
                        format!(
                            "localGroupConcurrency.tiers[\"{tier}\"] ({}) cannot exceed localConcurrency ({shown})",
                            js::display(Some(limit))
                        ),
                    )?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Validate and resolve worker options (the queue name was checked by the caller).
pub fn check_work_options(options: &Object, each: bool) -> Result<WorkOptions> {
    let has = |k: &str| js::has(options, k);
    let get = |k: &str| options.get(k);
    ensure(
        !has("pollingIntervalSeconds") || js::ge(get("pollingIntervalSeconds"), 0.5),
        "configuration assert: pollingIntervalSeconds must be at least every 500ms",
    )?;
    let polling_interval_ms = if has("pollingIntervalSeconds") {
        get("pollingIntervalSeconds")
            .map(js::to_number)
            .unwrap_or(2.0)
            * 1000.0
    } else {
        2000.0
    };
    ensure(
        !has("notifyPollingIntervalSeconds") || js::ge(get("notifyPollingIntervalSeconds"), 0.5),
        "configuration assert: notifyPollingIntervalSeconds must be at least every 500ms",
    )?;
    let notify_polling_interval_ms = if has("notifyPollingIntervalSeconds") {
        let ms = get("notifyPollingIntervalSeconds")
            .map(js::to_number)
            .unwrap_or(30.0)
            * 1000.0;
        ensure(
            ms >= polling_interval_ms,
            "configuration assert: notifyPollingIntervalSeconds must be at least pollingIntervalSeconds",
        )?;
        ms
    } else {
        30000f64.max(polling_interval_ms)
    };
    ensure(
        !has("burstWhenReadyExceeds")
            || (js::is_integer(get("burstWhenReadyExceeds"))
                && js::ge(get("burstWhenReadyExceeds"), 1.0)),
        "configuration assert: burstWhenReadyExceeds must be an integer >= 1",
    )?;
    ensure(
        !has("burstWhenBatchFull") || get("burstWhenBatchFull").is_some_and(Value::is_boolean),
        "configuration assert: burstWhenBatchFull must be a boolean",
    )?;
    ensure(
        !has("batchSize") || (js::is_integer(get("batchSize")) && js::ge(get("batchSize"), 1.0)),
        "batchSize must be an integer > 0",
    )?;
    for key in ["includeMetadata", "priority"] {
        ensure(
            !has(key) || get(key).is_some_and(Value::is_boolean),
            format!("{key} must be a boolean"),
        )?;
    }
    ensure(
        !has("localConcurrency")
            || (js::is_integer(get("localConcurrency")) && js::ge(get("localConcurrency"), 1.0)),
        "localConcurrency must be an integer >= 1",
    )?;
    ensure(
        !has("perJobResults") || get("perJobResults").is_some_and(Value::is_boolean),
        "perJobResults must be a boolean",
    )?;
    ensure(
        !has("transactional") || get("transactional").is_some_and(Value::is_boolean),
        "transactional must be a boolean",
    )?;
    validate::priority_range(options)?;
    let global = get("groupConcurrency").filter(|v| !v.is_null());
    let local = get("localGroupConcurrency").filter(|v| !v.is_null());
    ensure(
        !(global.is_some() && local.is_some()),
        "cannot specify both groupConcurrency and localGroupConcurrency - choose one",
    )?;
    if let Some(g) = global {
        group_concurrency_value(g, "groupConcurrency")?;
    }
    if let Some(l) = local {
        group_concurrency_value(l, "localGroupConcurrency")?;
        local_group_limit(l, get("localConcurrency").unwrap_or(&Value::Null))?;
    }
    if let Some(h) = get("heartbeatRefreshSeconds").filter(|v| !v.is_null()) {
        ensure(
            h.is_number() && js::to_number(h) > 0.0,
            "heartbeatRefreshSeconds must be a number > 0",
        )?;
    }
    ensure(
        !has("transactionTimeoutSeconds")
            || (js::is_integer(get("transactionTimeoutSeconds"))
                && js::ge(get("transactionTimeoutSeconds"), 0.0)),
        "transactionTimeoutSeconds must be an integer >= 0",
    )?;
    if !js::truthy(get("transactional")) {
        ensure(
            !has("transactionTimeoutSeconds"),
            "transactionTimeoutSeconds requires transactional",
        )?;
    } else {
        ensure(
            !js::truthy(get("perJobResults")),
            "transactional cannot be combined with perJobResults",
        )?;
    }
    ensure(
        !has("prefetch")
            || get("prefetch").is_some_and(Value::is_boolean)
            || (js::is_integer(get("prefetch")) && js::ge(get("prefetch"), 1.0)),
        "configuration assert: prefetch must be a boolean or an integer >= 1",
    )?;
    ensure(
        !(js::truthy(get("prefetch")) && js::truthy(get("transactional"))),
        "prefetch cannot be combined with transactional",
    )?;
    if each {
        ensure(
            !has("concurrency")
                || (js::is_integer(get("concurrency")) && js::ge(get("concurrency"), 1.0)),
            "concurrency must be an integer >= 1",
        )?;
    }

    let mut resolved = options.clone();
    resolved.insert("pollingInterval".into(), Value::from(polling_interval_ms));
    resolved.insert(
        "notifyPollingInterval".into(),
        Value::from(notify_polling_interval_ms),
    );
    let batch_size = js::as_i64(get("batchSize")).unwrap_or(if each { 16 } else { 1 });
    let prefetch = match get("prefetch") {
        Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(if each {
            usize::MAX
        } else {
            batch_size as usize
        }),
        Some(n) if n.is_number() => Some(js::to_number(n) as usize),
        _ if each => Some(usize::MAX),
        _ => None,
    };
    Ok(WorkOptions {
        batch_size,
        include_metadata: get("includeMetadata") == Some(&Value::Bool(true)),
        polling_interval_ms,
        notify_polling_interval_ms,
        burst_when_ready_exceeds: js::as_i64(get("burstWhenReadyExceeds")),
        burst_when_batch_full: get("burstWhenBatchFull") == Some(&Value::Bool(true)),
        local_concurrency: js::as_i64(get("localConcurrency")).unwrap_or(1).max(1) as usize,
        heartbeat_refresh_seconds: get("heartbeatRefreshSeconds").and_then(Value::as_f64),
        per_job_results: get("perJobResults") == Some(&Value::Bool(true)),
        transactional: get("transactional") == Some(&Value::Bool(true)),
        transaction_timeout_seconds: js::as_i64(get("transactionTimeoutSeconds")),
        min_priority: js::as_i64(get("minPriority")),
        max_priority: js::as_i64(get("maxPriority")),
        group_concurrency: global.cloned(),
        local_group_concurrency: local.cloned(),
        concurrency: js::as_i64(get("concurrency"))
            .unwrap_or(batch_size.max(1))
            .max(1) as usize,
        prefetch,
        resolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<WorkOptions> {
        check_work_options(v.as_object().unwrap(), false)
    }

    #[test]
    fn defaults_follow_pg_boss() {
        let o = check(json!({})).unwrap();
        assert_eq!(o.batch_size, 1);
        assert_eq!(o.polling_interval_ms, 2000.0);
        assert_eq!(o.notify_polling_interval_ms, 30000.0);
        let o = check(json!({"pollingIntervalSeconds": 40})).unwrap();
        assert_eq!(o.notify_polling_interval_ms, 40000.0);
    }

    #[test]
    fn prefetch_is_off_for_work_unless_asked_and_holds_a_batch_when_true() {
        assert_eq!(check(json!({})).unwrap().prefetch, None);
        assert_eq!(check(json!({"prefetch": false})).unwrap().prefetch, None);
        assert_eq!(
            check(json!({"prefetch": true, "batchSize": 7}))
                .unwrap()
                .prefetch,
            Some(7)
        );
        assert_eq!(check(json!({"prefetch": 3})).unwrap().prefetch, Some(3));
        let each = |v: Value| check_work_options(v.as_object().unwrap(), true).unwrap();
        assert_eq!(each(json!({})).prefetch, Some(usize::MAX));
        assert_eq!(each(json!({"prefetch": false})).prefetch, None);
        assert_eq!(each(json!({"prefetch": 5})).prefetch, Some(5));
    }

    #[test]
    fn messages_follow_pg_boss() {
        let m = |v: Value| check(v).unwrap_err().message;
        assert_eq!(
            m(json!({"pollingIntervalSeconds": 0.1})),
            "configuration assert: pollingIntervalSeconds must be at least every 500ms"
        );
        assert_eq!(
            m(json!({"batchSize": 0})),
            "batchSize must be an integer > 0"
        );
        assert_eq!(
            m(json!({"localConcurrency": 0})),
            "localConcurrency must be an integer >= 1"
        );
        assert_eq!(
            m(json!({"groupConcurrency": 1, "localGroupConcurrency": 1})),
            "cannot specify both groupConcurrency and localGroupConcurrency - choose one"
        );
        assert_eq!(
            m(json!({"localGroupConcurrency": 3, "localConcurrency": 2})),
            "localGroupConcurrency (3) cannot exceed localConcurrency (2)"
        );
        assert_eq!(
            m(json!({"groupConcurrency": {"default": 1, "tiers": {"a": 0}}})),
            "groupConcurrency.tiers[\"a\"] must be an integer >= 1"
        );
        assert_eq!(
            m(json!({"prefetch": 0})),
            "configuration assert: prefetch must be a boolean or an integer >= 1"
        );
        assert_eq!(
            m(json!({"prefetch": "yes"})),
            "configuration assert: prefetch must be a boolean or an integer >= 1"
        );
        assert_eq!(
            m(json!({"prefetch": 1.5})),
            "configuration assert: prefetch must be a boolean or an integer >= 1"
        );
        assert_eq!(
            m(json!({"prefetch": true, "transactional": true})),
            "prefetch cannot be combined with transactional"
        );
        assert_eq!(
            m(json!({"heartbeatRefreshSeconds": 0})),
            "heartbeatRefreshSeconds must be a number > 0"
        );
    }
}

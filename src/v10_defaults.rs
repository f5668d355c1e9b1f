//! pg-boss v10's job defaults on the constructor (`retryLimit`, `expireInMinutes`,
//! `retentionDays`, ...). v10 applied them to a job whenever neither the job nor its queue set
//! the value; since pg-boss 11 every queue row holds every value (create_queue fills in its
//! defaults), so the place they still mean something is `createQueue()`: a queue this instance
//! creates takes them for the options it is not given. Likewise v10's `pollingIntervalSeconds`
//! was the default of every `work()` call. pg-boss 12.38 ignores these keys on the
//! constructor, so no 12.38 configuration changes meaning. v10's archive options have no
//! equivalent (12.38 keeps completed jobs in the job table) and are refused.

use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use serde_json::Value;

/// One v10 duration family: its keys from the largest unit down (v10 read the largest given),
/// seconds per unit, v10's unit word for its messages, and the 12.38 queue option it becomes.
struct Duration {
    keys: &'static [(&'static str, f64, &'static str)],
    queue_option: &'static str,
}

const DURATIONS: &[Duration] = &[
    Duration {
        keys: &[
            ("expireInHours", 3600.0, "hour"),
            ("expireInMinutes", 60.0, "minute"),
            ("expireInSeconds", 1.0, "second"),
        ],
        queue_option: "expireInSeconds",
    },
    Duration {
        keys: &[
            ("retentionDays", 86400.0, "day"),
            ("retentionHours", 3600.0, "hour"),
            ("retentionMinutes", 60.0, "minute"),
            ("retentionSeconds", 1.0, "second"),
        ],
        queue_option: "retentionSeconds",
    },
    Duration {
        keys: &[
            ("deleteAfterDays", 86400.0, "day"),
            ("deleteAfterHours", 3600.0, "hour"),
            ("deleteAfterMinutes", 60.0, "minute"),
            ("deleteAfterSeconds", 1.0, "second"),
        ],
        queue_option: "deleteAfterSeconds",
    },
];

/// v10's retry defaults, which keep their names as queue options.
const RETRY_KEYS: [&str; 3] = ["retryLimit", "retryDelay", "retryBackoff"];

/// v10 options with no 12.38 equivalent.
const ARCHIVE_KEYS: [&str; 2] = ["archiveCompletedAfterSeconds", "archiveFailedAfterSeconds"];

/// What a v10 constructor's defaults become.
#[derive(Debug, Clone, Default)]
pub struct V10Defaults {
    /// 12.38 queue options, for `createQueue()`.
    pub queue: Object,
    /// 12.38 `work()` options.
    pub work: Object,
    /// The v10 keys given, for the deprecation warning.
    pub keys: Vec<String>,
}

/// The v10 defaults the constructor options carry. Validated with v10's messages.
pub fn from_constructor(obj: &Object) -> Result<V10Defaults> {
    let (queue, mut keys) = queue_defaults(obj)?;
    let mut work = Object::new();
    if let Some(v) = obj
        .get("pollingIntervalSeconds")
        .filter(|v| !js::is_undefined(Some(v)))
    {
        ensure(
            js::ge(Some(v), 0.5),
            "configuration assert: pollingIntervalSeconds must be at least every 500ms",
        )?;
        work.insert("pollingIntervalSeconds".into(), v.clone());
        keys.push("pollingIntervalSeconds".into());
    }
    Ok(V10Defaults { queue, work, keys })
}

/// The v10 job defaults the constructor options carry, as 12.38 queue options, and the v10 keys
/// they came from.
fn queue_defaults(obj: &Object) -> Result<(Object, Vec<String>)> {
    let given = |key: &str| obj.get(key).filter(|v| !js::is_undefined(Some(v)));
    for key in ARCHIVE_KEYS {
        if given(key).is_some() {
            return Err(BossError::assertion(format!(
                "configuration assert: {key} is a pg-boss v10 option with no equivalent: since pg-boss 11 there is no \
                 archive, completed and failed jobs stay in the job table until the queue's deleteAfterSeconds \
                 (createQueue/updateQueue). Remove {key}."
            )));
        }
    }
    let mut defaults = Object::new();
    let mut keys = Vec::new();
    // in v10's order of validation: retry at send (the queue options' own checks), expiration,
    // retention, deletion
    for key in RETRY_KEYS {
        if let Some(v) = given(key) {
            defaults.insert(key.into(), v.clone());
            keys.push(key.to_string());
        }
    }
    crate::validate::retry_config(&defaults)?;
    for family in DURATIONS {
        let mut chosen = None;
        for (key, unit_seconds, unit) in family.keys {
            let Some(v) = given(key) else { continue };
            ensure(
                js::ge(Some(v), 1.0),
                format!("configuration assert: {key} must be at least every {unit}"),
            )?;
            keys.push(key.to_string());
            if chosen.is_none() {
                chosen = Some(js::to_number(v) * unit_seconds);
            }
        }
        if let Some(seconds) = chosen {
            if family.queue_option == "expireInSeconds" {
                // the 24-hour bound of the queue option itself
                let mut expiry = Object::new();
                expiry.insert("expireInSeconds".into(), Value::from(seconds));
                crate::validate::expiration_config(&expiry)?;
            }
            defaults.insert(
                family.queue_option.into(),
                Value::from(seconds.round() as i64),
            );
        }
    }
    Ok((defaults, keys))
}

/// `options` (of `createQueue()` or `work()`) with the constructor's v10 defaults for what it does not set.
pub fn apply(defaults: &Object, options: &Object) -> Object {
    let mut merged = options.clone();
    for (key, value) in defaults {
        if merged.get(key).is_none_or(|v| js::is_undefined(Some(v))) {
            merged.insert(key.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn v10_units_become_seconds_the_largest_unit_winning() {
        let (d, keys) = queue_defaults(&obj(json!({
            "retryLimit": 5, "expireInMinutes": 2, "expireInSeconds": 7,
            "retentionDays": 3, "deleteAfterHours": 1, "connectionString": "x"
        })))
        .unwrap();
        assert_eq!(
            Value::Object(d),
            json!({ "retryLimit": 5, "expireInSeconds": 120, "retentionSeconds": 259200, "deleteAfterSeconds": 3600 })
        );
        assert_eq!(keys.len(), 5);
        let (none, keys) = queue_defaults(&obj(json!({ "schema": "s" }))).unwrap();
        assert!(none.is_empty() && keys.is_empty());
    }

    #[test]
    fn bad_values_and_archive_options_are_refused() {
        let err = |v| queue_defaults(&obj(v)).unwrap_err().message;
        assert_eq!(
            err(json!({ "retryLimit": -1 })),
            "retryLimit must be an integer >= 0"
        );
        assert_eq!(
            err(json!({ "retentionMinutes": 0 })),
            "configuration assert: retentionMinutes must be at least every minute"
        );
        assert_eq!(
            err(json!({ "expireInHours": 25 })),
            "configuration assert: expiration cannot exceed 24 hours"
        );
        assert!(err(json!({ "archiveCompletedAfterSeconds": 60 })).contains("no equivalent"));
    }

    #[test]
    fn polling_interval_becomes_a_work_default() {
        let d = from_constructor(&obj(
            json!({ "pollingIntervalSeconds": 1, "retryDelay": 2 }),
        ))
        .unwrap();
        assert_eq!(
            Value::Object(d.work),
            json!({ "pollingIntervalSeconds": 1 })
        );
        assert_eq!(Value::Object(d.queue), json!({ "retryDelay": 2 }));
        assert_eq!(d.keys, ["retryDelay", "pollingIntervalSeconds"]);
        assert_eq!(
            from_constructor(&obj(json!({ "pollingIntervalSeconds": 0.1 })))
                .unwrap_err()
                .message,
            "configuration assert: pollingIntervalSeconds must be at least every 500ms"
        );
    }

    #[test]
    fn given_options_win_over_the_defaults() {
        let defaults = obj(json!({ "retryLimit": 5, "expireInSeconds": 60 }));
        let merged = apply(
            &defaults,
            &obj(json!({ "retryLimit": 1, "policy": "short" })),
        );
        assert_eq!(
            Value::Object(merged),
            json!({ "retryLimit": 1, "policy": "short", "expireInSeconds": 60 })
        );
    }
}

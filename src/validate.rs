//! Argument validation shared by the send family, queues and fetch (pg-boss's `attorney`), with
//! its exact messages. Arguments arrive as JSON, so JS operators come from `js`.

use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::names;
use serde_json::Value;

pub const POLICIES: [&str; 6] = [
    "standard",
    "short",
    "singleton",
    "stately",
    "exclusive",
    "key_strict_fifo",
];

pub fn retry_config(c: &Object) -> Result<()> {
    ensure(
        !js::has(c, "retryDelay")
            || (js::is_integer(c.get("retryDelay")) && js::ge(c.get("retryDelay"), 0.0)),
        "retryDelay must be an integer >= 0",
    )?;
    ensure(
        !js::has(c, "retryLimit")
            || (js::is_integer(c.get("retryLimit")) && js::ge(c.get("retryLimit"), 0.0)),
        "retryLimit must be an integer >= 0",
    )?;
    ensure(
        !js::has(c, "retryBackoff")
            || c.get("retryBackoff")
                .map(|v| v.is_boolean())
                .unwrap_or(false),
        "retryBackoff must be either true or false",
    )?;
    let max = c.get("retryDelayMax");
    let max_set = js::has(c, "retryDelayMax") && !matches!(max, Some(Value::Null));
    ensure(
        !max_set || c.get("retryBackoff") == Some(&Value::Bool(true)),
        "retryDelayMax can only be set if retryBackoff is true",
    )?;
    ensure(
        !max_set || (js::is_integer(max) && js::ge(max, 0.0)),
        "retryDelayMax must be an integer >= 0",
    )
}

pub fn expiration_config(c: &Object) -> Result<()> {
    ensure(
        !js::has(c, "expireInSeconds") || js::ge(c.get("expireInSeconds"), 1.0),
        "configuration assert: expireInSeconds must be at least every second",
    )?;
    let v = c.get("expireInSeconds");
    ensure(
        !js::truthy(v) || v.map(js::to_number).unwrap_or(0.0) / 3600.0 <= 24.0,
        "configuration assert: expiration cannot exceed 24 hours",
    )
}

pub fn retention_config(c: &Object) -> Result<()> {
    ensure(
        !js::has(c, "retentionSeconds") || js::ge(c.get("retentionSeconds"), 1.0),
        "configuration assert: retentionSeconds must be at least every second",
    )
}

pub fn deletion_config(c: &Object) -> Result<()> {
    ensure(
        !js::has(c, "deleteAfterSeconds") || js::ge(c.get("deleteAfterSeconds"), 0.0),
        "configuration assert: deleteAfterSeconds must be at least 0 (0 disables deletion)",
    )
}

pub fn heartbeat_config(c: &Object) -> Result<()> {
    let v = c.get("heartbeatSeconds");
    ensure(
        !js::has(c, "heartbeatSeconds")
            || matches!(v, Some(Value::Null))
            || (js::is_integer(v) && js::ge(v, 10.0)),
        "heartbeatSeconds must be an integer >= 10",
    )
}

pub fn group_config(c: &Object) -> Result<()> {
    let group = match c.get("group") {
        None | Some(Value::Null) => return Ok(()),
        g if js::is_undefined(g) => return Ok(()),
        Some(g) => g,
    };
    ensure(js::is_object_like(Some(group)), "group must be an object")?;
    let g = group.as_object();
    let id = g.and_then(|g| g.get("id"));
    ensure(
        matches!(id, Some(Value::String(_))) && js::truthy(id),
        "group.id must be a non-empty string",
    )?;
    let tier = g.and_then(|g| g.get("tier"));
    let tier_ok = match tier {
        None => true,
        t if js::is_undefined(t) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => false,
    };
    ensure(tier_ok, "group.tier must be a non-empty string if provided")
}

/// `validateQueueArgs`.
pub fn queue_args(c: &Object) -> Result<()> {
    let dl = c.get("deadLetter");
    ensure(
        !js::has(c, "deadLetter")
            || (matches!(dl, Some(Value::Null) | Some(Value::String(_))) && !js::is_undefined(dl)),
        "deadLetter must be a string",
    )?;
    ensure(
        !js::has(c, "notify") || c.get("notify").map(|v| v.is_boolean()).unwrap_or(false),
        "notify must be a boolean",
    )?;
    if let Some(Value::String(d)) = dl {
        if js::truthy(dl) {
            names::assert_object_name(d, "deadLetter")?;
        }
    }
    retry_config(c)?;
    expiration_config(c)?;
    retention_config(c)?;
    deletion_config(c)?;
    heartbeat_config(c)
}

/// pg-boss's check of the arguments `subscribe()`, `unsubscribe()` and `publish()` cannot do
/// without: each must be truthy.
pub fn required_argument(v: Option<&Value>) -> Result<()> {
    ensure(js::truthy(v), "Missing required argument")
}

/// The job options of `send()` after `checkSendArgs`.
pub fn send_options(c: &Object) -> Result<()> {
    ensure(
        !js::has(c, "priority") || js::is_integer(c.get("priority")),
        "priority must be an integer",
    )?;
    retry_config(c)?;
    expiration_config(c)?;
    retention_config(c)?;
    deletion_config(c)?;
    group_config(c)?;
    heartbeat_config(c)
}

/// `checkFetchArgs` (the name is checked by the caller).
pub fn fetch_options(c: &Object) -> Result<()> {
    let bs = c.get("batchSize");
    ensure(
        !js::has(c, "batchSize") || (js::is_integer(bs) && js::ge(bs, 1.0)),
        "batchSize must be an integer > 0",
    )?;
    for key in ["includeMetadata", "priority", "ignoreStartAfter"] {
        ensure(
            !js::has(c, key) || c.get(key).map(|v| v.is_boolean()).unwrap_or(false),
            format!("{key} must be a boolean"),
        )?;
    }
    priority_range(c)
}

pub fn priority_range(c: &Object) -> Result<()> {
    // `!== undefined`: null is checked (and refused) like any other value
    let min = c.get("minPriority").filter(|v| !js::is_undefined(Some(v)));
    let max = c.get("maxPriority").filter(|v| !js::is_undefined(Some(v)));
    if min.is_some() {
        ensure(js::is_integer(min), "minPriority must be an integer")?;
    }
    if max.is_some() {
        ensure(js::is_integer(max), "maxPriority must be an integer")?;
    }
    if let (Some(a), Some(b)) = (min, max) {
        ensure(
            js::to_number(a) <= js::to_number(b),
            "minPriority must be <= maxPriority",
        )?;
    }
    Ok(())
}

/// `start({ attempts })`: how many tries, 1 when not given.
pub fn start_attempts(options: &Object) -> Result<u64> {
    let attempts = options
        .get("attempts")
        .filter(|v| !js::is_undefined(Some(v)));
    let Some(attempts) = attempts else {
        return Ok(1);
    };
    ensure(
        js::is_integer(Some(attempts)) && js::ge(Some(attempts), 1.0),
        "start() attempts must be an integer of 1 or more",
    )?;
    // an integer beyond u64 tries as often as u64::MAX does
    Ok(js::to_number(attempts) as u64)
}

/// `startAfter` as pg-boss normalises it: a date string stays (zone-less ones pinned to UTC), a
/// positive number becomes seconds, anything else means now. (Dates arrive as ISO strings.)
pub fn normalize_start_after(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f > 0.0 {
                Some(js::display(v))
            } else {
                None
            }
        }
        u if js::is_undefined(u) => None,
        Some(Value::String(s)) => {
            let n = js::to_number(&Value::String(s.clone()));
            if n > 0.0 {
                Some(s.clone())
            } else {
                Some(pin_zoneless(s))
            }
        }
        Some(Value::Bool(true)) => Some("1".into()),
        _ => None,
    }
}

/// A `YYYY-MM-DD[ T]hh[:mm[:ss[.fff]]]` string without a zone is read as UTC.
pub fn pin_zoneless(s: &str) -> String {
    let b = s.as_bytes();
    let is_date = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    if !is_date {
        return s.to_string();
    }
    let rest = &s[10..];
    if rest.is_empty() || zoneless_time(rest) {
        format!("{s}Z")
    } else {
        s.to_string()
    }
}

fn zoneless_time(rest: &str) -> bool {
    let b = rest.as_bytes();
    if !(b[0] == b'T' || b[0] == b' ') {
        return false;
    }
    let t = &rest[1..];
    // hh(:mm(:ss([.,]digits)?)?)?
    let parts: Vec<&str> = t.splitn(3, ':').collect();
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit());
    match parts.len() {
        1 => two_digits(parts[0]),
        2 => two_digits(parts[0]) && two_digits(parts[1]),
        _ => {
            if !(two_digits(parts[0]) && two_digits(parts[1])) {
                return false;
            }
            let sec = parts[2];
            if sec.len() < 2 || !two_digits(&sec[..2]) {
                return false;
            }
            let frac = &sec[2..];
            frac.is_empty()
                || ((frac.starts_with('.') || frac.starts_with(','))
                    && frac.len() > 1
                    && frac[1..].bytes().all(|c| c.is_ascii_digit()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn retry_rules() {
        assert_eq!(
            retry_config(&obj(json!({"retryLimit": -1})))
                .unwrap_err()
                .message,
            "retryLimit must be an integer >= 0"
        );
        assert_eq!(
            retry_config(&obj(json!({"retryDelayMax": 5})))
                .unwrap_err()
                .message,
            "retryDelayMax can only be set if retryBackoff is true"
        );
        assert!(retry_config(&obj(json!({"retryDelayMax": 5, "retryBackoff": true}))).is_ok());
        assert!(retry_config(&obj(json!({"retryDelayMax": null}))).is_ok());
    }

    #[test]
    fn start_attempts_default_to_one_and_must_be_whole_and_positive() {
        assert_eq!(start_attempts(&obj(json!({}))).unwrap(), 1);
        assert_eq!(start_attempts(&obj(json!({"attempts": 4}))).unwrap(), 4);
        assert_eq!(start_attempts(&obj(json!({"attempts": 4.0}))).unwrap(), 4);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("3"),
            json!(null),
            json!(true),
        ] {
            assert_eq!(
                start_attempts(&obj(json!({ "attempts": bad })))
                    .unwrap_err()
                    .message,
                "start() attempts must be an integer of 1 or more"
            );
        }
    }

    #[test]
    fn zoneless_dates_are_pinned_to_utc() {
        assert_eq!(pin_zoneless("2030-01-01"), "2030-01-01Z");
        assert_eq!(
            pin_zoneless("2030-01-01T10:00:00.5"),
            "2030-01-01T10:00:00.5Z"
        );
        assert_eq!(
            pin_zoneless("2030-01-01T10:00:00+02:00"),
            "2030-01-01T10:00:00+02:00"
        );
        assert_eq!(pin_zoneless("2030-01-01 UTC"), "2030-01-01 UTC");
        assert_eq!(normalize_start_after(Some(&json!(30))), Some("30".into()));
        assert_eq!(normalize_start_after(Some(&json!(0))), None);
        assert_eq!(
            normalize_start_after(Some(&json!("2 minutes"))),
            Some("2 minutes".into())
        );
    }

    #[test]
    fn expiry_and_heartbeat_rules() {
        assert_eq!(
            expiration_config(&obj(json!({"expireInSeconds": 0})))
                .unwrap_err()
                .message,
            "configuration assert: expireInSeconds must be at least every second"
        );
        assert_eq!(
            expiration_config(&obj(json!({"expireInSeconds": 86401})))
                .unwrap_err()
                .message,
            "configuration assert: expiration cannot exceed 24 hours"
        );
        assert!(expiration_config(&obj(json!({"expireInSeconds": 86400}))).is_ok());
        assert_eq!(
            heartbeat_config(&obj(json!({"heartbeatSeconds": 5})))
                .unwrap_err()
                .message,
            "heartbeatSeconds must be an integer >= 10"
        );
        assert_eq!(
            group_config(&obj(json!({"group": {"id": ""}})))
                .unwrap_err()
                .message,
            "group.id must be a non-empty string"
        );
    }
}

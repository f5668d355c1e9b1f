//! How an option is read, as pg-boss reads it: `||` and `??` defaults, intervals, ranges.

use crate::error::{ensure, Result};
use crate::js::{self, Object};

/// The longest interval a maintenance option may ask for.
pub(super) const MAX_EXPIRATION_HOURS: f64 = 24.0;

pub(super) fn bool_or(obj: &Object, key: &str, default: bool) -> bool {
    if js::has(obj, key) {
        js::truthy(obj.get(key))
    } else {
        default
    }
}

/// `config.x = config.x || default` (0 falls back, as in pg-boss).
pub(super) fn number_or(obj: &Object, key: &str, default: f64) -> f64 {
    match obj.get(key) {
        Some(v) if js::truthy(Some(v)) => {
            let n = js::to_number(v);
            if n.is_nan() {
                default
            } else {
                n
            }
        }
        _ => default,
    }
}

pub(super) fn interval_option(obj: &Object, key: &str, default: f64) -> Result<f64> {
    ensure(
        !js::has(obj, key) || js::ge(obj.get(key), 1.0),
        format!("configuration assert: {key} must be at least every second"),
    )?;
    let value = number_or(obj, key, default);
    ensure(
        value / 60.0 / 60.0 <= MAX_EXPIRATION_HOURS,
        format!("configuration assert: {key} cannot exceed 24 hours"),
    )?;
    Ok(value)
}

pub(super) fn between(
    obj: &Object,
    key: &str,
    min: f64,
    max: f64,
    message: &str,
    default: f64,
) -> Result<f64> {
    if js::has(obj, key) {
        let n = obj.get(key).map(js::to_number).unwrap_or(f64::NAN);
        ensure(
            n >= min && n <= max,
            format!("configuration assert: {message}"),
        )?;
    }
    Ok(number_or(obj, key, default))
}

/// `config.x ?? default` for a number of milliseconds.
pub(super) fn millis_or(obj: &Object, key: &str, default: u64) -> u64 {
    match obj.get(key) {
        Some(v) if !v.is_null() && !js::is_undefined(Some(v)) => {
            let n = js::to_number(v);
            if n.is_finite() && n >= 0.0 {
                n as u64
            } else {
                default
            }
        }
        _ => default,
    }
}

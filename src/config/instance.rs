//! The constructor's instance registry options (pg-boss's `applyInstanceConfig`).

use crate::error::{ensure, Result};
use crate::js::{self, Object};
use serde_json::Value;

/// This instance's entry in `<schema>.instance`: its id (made at construction), whether it
/// registers, and what its row records.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    pub id: String,
    pub register: bool,
    pub name: Option<String>,
    pub heartbeat_seconds: u64,
    /// The options the row's `config` column records (see `registry::recorded_options`).
    pub recorded_options: Object,
    /// `process.version` of the Node that loaded us, set by the binding.
    pub node_version: String,
}

/// pg-boss's `applyInstanceConfig`: `registerInstance` is on unless `false`; `instanceName` a
/// non-empty string; `instanceHeartbeatSeconds` an integer from 1 to 3600, 30 when unset.
pub(super) fn instance_options(obj: &Object) -> Result<(bool, Option<String>, u64)> {
    let register = obj.get("registerInstance") != Some(&Value::Bool(false));
    let name = obj.get("instanceName");
    let unset = |v: Option<&Value>| v.is_none() || js::is_undefined(v);
    ensure(
        unset(name) || matches!(name, Some(Value::String(s)) if !s.is_empty()),
        "configuration assert: instanceName must be a non-empty string",
    )?;
    let seconds = obj.get("instanceHeartbeatSeconds");
    ensure(
        unset(seconds)
            || (js::is_integer(seconds)
                && js::ge(seconds, 1.0)
                && seconds.map(js::to_number).unwrap_or(f64::NAN) <= 3600.0),
        "configuration assert: instanceHeartbeatSeconds must be an integer from 1 to 3600",
    )?;
    let name = js::as_str(name).map(str::to_string);
    let seconds = js::as_i64(seconds).filter(|s| *s > 0).unwrap_or(30) as u64;
    Ok((register, name, seconds))
}

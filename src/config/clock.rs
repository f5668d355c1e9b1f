//! The constructor's `clock` option (pg-boss 12.38's `applyClockConfig`).

use crate::error::{ensure, Result};
use crate::js::{self, Object};
use serde_json::Value;

/// A caller's `clock` (pg-boss 12.38's `Clock`): the timekeeper reads its time and waits on its
/// timers. `attachable` clocks (a `TestClock`) also move the schema's `job_now()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockConfig {
    pub attachable: bool,
}

/// The session setting a TestClock's `job_now()` reads (12.38's `CLOCK_OVERRIDE_SETTING`).
pub const TEST_CLOCK_SETTING: &str = "pgboss.test_clock";

const CLOCK_METHODS: [&str; 5] = [
    "now",
    "setTimeout",
    "clearTimeout",
    "setInterval",
    "clearInterval",
];

/// pg-boss's `applyClockConfig`. index.js describes a clock by its methods, each a function
/// marker (`js::FUNCTION`) when the clock has it; JSON cannot carry the clock itself.
pub(super) fn clock_option(obj: &Object) -> Result<Option<ClockConfig>> {
    let Some(clock) = obj.get("clock").filter(|v| js::truthy(Some(v))) else {
        return Ok(None);
    };
    let has = |method: &str| clock.get(method).and_then(Value::as_str) == Some(js::FUNCTION);
    for method in CLOCK_METHODS {
        ensure(
            has(method),
            format!("configuration assert: clock must implement {method}()"),
        )?;
    }
    Ok(Some(ClockConfig {
        attachable: has("attach"),
    }))
}

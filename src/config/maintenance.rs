//! The constructor's `reindex` and `monitorVacuum` options (pg-boss's `validateReindexConfig`
//! and `validateVacuumMonitorConfig`).

use super::read::{interval_option, MAX_EXPIRATION_HOURS};
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use serde_json::Value;

/// The constructor's `reindex` options object (`true` reads as all defaults). A threshold left
/// unset takes the plan's default; see `plans::reindex::BloatThresholds`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReindexSetting {
    pub min_pages: Option<f64>,
    pub max_entries_per_page: Option<f64>,
    pub min_size_ratio: Option<f64>,
    pub max_index_bytes: Option<f64>,
}

/// pg-boss's `validateReindexConfig` and `validateVacuumMonitorConfig`, in its order.
pub(super) fn reindex_options(obj: &Object) -> Result<(Option<ReindexSetting>, f64, bool)> {
    let given = obj.get("reindex");
    ensure(
        given.is_none() || matches!(given, Some(Value::Bool(_)) | Some(Value::Object(_))),
        "configuration assert: reindex must be a boolean or an options object",
    )?;
    let setting = match given {
        Some(Value::Bool(false)) => None,
        Some(Value::Object(o)) => {
            let field = |key: &str| o.get(key).filter(|v| !js::is_undefined(Some(v)));
            let number = |v: Option<&Value>| v.and_then(Value::as_f64);
            let min_pages = field("minPages");
            ensure(
                min_pages.is_none() || (js::is_integer(min_pages) && js::ge(min_pages, 0.0)),
                "configuration assert: reindex.minPages must be an integer >= 0",
            )?;
            let per_page = field("maxEntriesPerPage");
            ensure(
                per_page.is_none() || number(per_page).is_some_and(|n| n > 0.0),
                "configuration assert: reindex.maxEntriesPerPage must be a number > 0",
            )?;
            let ratio = field("minSizeRatio");
            ensure(
                ratio.is_none() || number(ratio).is_some_and(|n| n >= 0.0),
                "configuration assert: reindex.minSizeRatio must be a number >= 0",
            )?;
            let max_bytes = field("maxIndexBytes");
            ensure(
                max_bytes.is_none()
                    || (js::is_integer(max_bytes) && number(max_bytes).is_some_and(|n| n > 0.0)),
                "configuration assert: reindex.maxIndexBytes must be an integer > 0",
            )?;
            let force = field("force");
            ensure(
                force.is_none() || force == Some(&Value::Bool(false)),
                "configuration assert: reindex.force cannot be set in constructor options. Pass it to supervise()",
            )?;
            Some(ReindexSetting {
                min_pages: number(min_pages),
                max_entries_per_page: number(per_page),
                min_size_ratio: number(ratio),
                max_index_bytes: number(max_bytes),
            })
        }
        _ => Some(ReindexSetting::default()),
    };
    let interval = interval_option(obj, "reindexIntervalSeconds", MAX_EXPIRATION_HOURS * 3600.0)?;
    let vacuum = obj.get("monitorVacuum");
    ensure(
        vacuum.is_none() || matches!(vacuum, Some(Value::Bool(_))),
        "configuration assert: monitorVacuum must be a boolean",
    )?;
    Ok((setting, interval, vacuum != Some(&Value::Bool(false))))
}

//! `redrive()` and `previewRedrive()`: dead-lettered jobs sent back to the queue they came from
//! (or a destination given), with pg-boss 12.38's filters, checks and answers.

use crate::db::{Param, SharedExecutor};
use crate::engine::Engine;
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::names::assert_queue_name;
use crate::plans;
use serde_json::{json, Value};

/// An option given a value (not absent, not `undefined`), as pg-boss's `!== undefined` reads it.
fn given<'a>(options: &'a Object, key: &str) -> Option<&'a Value> {
    options.get(key).filter(|v| !js::is_undefined(Some(v)))
}

/// The filter parameters ($2 to $6 of `plans::redrive`: destination, sourceName, data,
/// createdBefore, ids), checked in pg-boss's order with its messages.
fn redrive_filter(options: &Object) -> Result<Vec<Param>> {
    let destination = given(options, "destination")
        .map(|v| assert_queue_name(Some(v)))
        .transpose()?;
    let source_name = given(options, "sourceName")
        .map(|v| assert_queue_name(Some(v)))
        .transpose()?;
    let data = match given(options, "data") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(crate::error::BossError::assertion("data must be an object")),
    };
    let created_before = match given(options, "createdBefore") {
        None => None,
        Some(v) => {
            let iso = js::as_date(Some(v));
            ensure(iso.is_some(), "createdBefore must be a valid Date")?;
            iso.map(str::to_string)
        }
    };
    let ids = match given(options, "ids") {
        None => None,
        Some(v) => {
            let ok = v
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
            ensure(ok, "ids must be a non-empty array of strings")?;
            Some(v.to_string())
        }
    };
    Ok(vec![destination, source_name, data, created_before, ids])
}

/// The error PostgreSQL gives an `ids` item its uuid type cannot read, as pg-boss meets it when
/// the statement binds its `uuid[]` (the statement here reads the list only if it has rows to
/// filter, so it is checked first).
fn uuid_ids(filter: &[Param]) -> Result<()> {
    match filter.get(4).cloned().flatten() {
        Some(json) => crate::jobs::uuid_input(&serde_json::from_str::<Vec<String>>(&json)?),
        None => Ok(()),
    }
}

impl Engine {
    /// `redrive(name, options)`: how many jobs were moved out of dead letter queue `name`.
    pub async fn redrive(
        &self,
        name: Option<&Value>,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<i64> {
        let name = assert_queue_name(name)?;
        let limit = given(options, "limit").cloned().unwrap_or(json!(1000));
        let filter = redrive_filter(options)?;
        ensure(
            js::is_integer(Some(&limit)) && js::ge(Some(&limit), 1.0),
            "limit must be an integer >= 1",
        )?;
        let db = self.db(db)?;
        let q = self.queue_info(&name).await?;
        uuid_ids(&filter)?;
        let sql = plans::redrive::redrive_jobs(&self.config.schema, &q.table);
        let rows = self.query(&db, &sql, &params(name, filter, &limit)).await?;
        Ok(rows.first().and_then(|n| n.parse().ok()).unwrap_or(0))
    }

    /// `previewRedrive(name, options)`: `{ total, destinations, unroutable }` as JSON text, the
    /// destinations most first (index.js orders equal counts by name, as pg-boss does, with
    /// `localeCompare`).
    pub async fn preview_redrive(
        &self,
        name: Option<&Value>,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let limit = crate::queues::list_limit("previewRedrive", given(options, "limit"))?;
        let filter = redrive_filter(options)?;
        let db = self.db(db)?;
        let q = self.queue_info(&name).await?;
        uuid_ids(&filter)?;
        let sql = plans::redrive::preview_redrive(&self.config.schema, &q.table);
        let rows = self
            .query(&db, &sql, &params(name, filter, &json!(limit)))
            .await?;
        let groups: Vec<Value> = match rows.first() {
            Some(text) => serde_json::from_str(text)?,
            None => Vec::new(),
        };
        let count = |g: &Value| g.get("count").and_then(Value::as_i64).unwrap_or(0);
        let mut total = 0;
        let mut unroutable = 0;
        let mut destinations = Vec::new();
        for g in &groups {
            total += count(g);
            match g.get("destination").and_then(Value::as_str) {
                Some(d) => destinations.push(json!({ "name": d, "count": count(g) })),
                None => unroutable += count(g),
            }
        }
        destinations.sort_by_key(|d| std::cmp::Reverse(count(d)));
        Ok(
            json!({ "total": total, "destinations": destinations, "unroutable": unroutable })
                .to_string(),
        )
    }
}

fn params(name: String, filter: Vec<Param>, limit: &Value) -> Vec<Param> {
    let mut p = Vec::with_capacity(7);
    p.push(Some(name));
    p.extend(filter);
    p.push(Some(js::display(Some(limit))));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_error(options: Value) -> String {
        redrive_filter(options.as_object().unwrap())
            .unwrap_err()
            .message
    }

    #[test]
    fn filters_are_checked_with_pg_boss_messages() {
        assert_eq!(filter_error(json!({"data": [1]})), "data must be an object");
        assert_eq!(
            filter_error(json!({"data": null})),
            "data must be an object"
        );
        assert_eq!(
            filter_error(json!({"createdBefore": "2020-01-01T00:00:00Z"})),
            "createdBefore must be a valid Date"
        );
        assert_eq!(
            filter_error(json!({"createdBefore": js::DATE})),
            "createdBefore must be a valid Date"
        );
        assert_eq!(
            filter_error(json!({"ids": []})),
            "ids must be a non-empty array of strings"
        );
        assert_eq!(
            filter_error(json!({"ids": ["a", 1]})),
            "ids must be a non-empty array of strings"
        );
        assert_eq!(
            filter_error(json!({"destination": null})),
            "Name is required"
        );
    }

    #[test]
    fn absent_and_undefined_filters_are_off() {
        let f = redrive_filter(
            json!({"sourceName": js::UNDEFINED, "createdBefore": format!("{}2020-01-01T00:00:00.000Z", js::DATE)})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(f[1], None);
        assert_eq!(f[3].as_deref(), Some("2020-01-01T00:00:00.000Z"));
    }
}

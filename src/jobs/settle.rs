//! Settling jobs by id: complete, fail and the manage commands (cancel, resume, retry,
//! touch, deleteJob, restore), fenced by `{ id, retryCount }` attempts where pg-boss fences them.

use super::is_uuid;
use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use crate::names::assert_queue_name;
use crate::plans;
use serde_json::{json, Value};

/// `{ jobs, requested, affected, settled }`: `settled` (the ids the statement touched) only from the
/// commands that report them, as in pg-boss; index.js keeps the key, undefined, on the others.
fn command_response(ids: &[String], affected: i64, settled: Option<Value>) -> String {
    let mut r = json!({ "jobs": ids, "requested": ids.len(), "affected": affected });
    if let Some(settled) = settled {
        r["settled"] = settled;
    }
    r.to_string()
}

/// The count and the settled ids (a JSON array in the second column) of a settle command.
async fn settle_query(
    db: &SharedExecutor,
    sql: &str,
    params: &[Option<String>],
) -> Result<(i64, Option<Value>)> {
    let row = db
        .query(sql, params)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let affected = row
        .first()
        .cloned()
        .flatten()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let settled = row
        .get(1)
        .cloned()
        .flatten()
        .map(|t| serde_json::from_str(&t))
        .transpose()?;
    Ok((affected, settled))
}

/// Ids given to a settle call: plain ids, or `{ id, retryCount }` attempts that fence the call.
struct IdArgs {
    ids: Vec<String>,
    attempts: Option<Vec<String>>,
}

fn attempt_args(id: Option<&Value>, func: &str) -> Result<IdArgs> {
    let message = format!("{func}() requires an id");
    ensure(js::truthy(id), message.clone())?;
    let items: Vec<Value> = match id {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    ensure(!items.is_empty(), message)?;
    if items.iter().all(Value::is_string) {
        let ids: Vec<String> = items.iter().map(|v| js::display(Some(v))).collect();
        uuid_input(&ids)?;
        return Ok(IdArgs {
            ids,
            attempts: None,
        });
    }
    let valid = items.iter().all(|j| {
        j.as_object().is_some_and(|o| {
            o.get("id").is_some_and(Value::is_string)
                && js::is_integer(o.get("retryCount"))
                && js::ge(o.get("retryCount"), 0.0)
        })
    });
    ensure(
        valid,
        format!(
            "{func}() requires either ids or jobs with an id and an integer retryCount, not a mix"
        ),
    )?;
    let ids: Vec<String> = items.iter().map(|j| js::display(j.get("id"))).collect();
    let attempts = items
        .iter()
        .map(|j| {
            format!(
                "{}:{}",
                canonical_uuid(&js::display(j.get("id"))),
                js::display(j.get("retryCount"))
            )
        })
        .collect();
    Ok(IdArgs {
        ids,
        attempts: Some(attempts),
    })
}

/// The spelling `id::text` yields, so a fence built from another spelling still matches.
fn canonical_uuid(id: &str) -> String {
    let hex: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_lowercase();
    let stripped: String = id
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .collect();
    if hex.len() != 32 || stripped.len() != 32 {
        return id.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn plain_ids(id: Option<&Value>, func: &str) -> Result<Vec<String>> {
    let message = format!("{func}() requires an id");
    ensure(js::truthy(id), message.clone())?;
    // node-postgres sends array items as text (objects as JSON), which the uuid cast then reads
    let text = |v: &Value| {
        if v.is_object() {
            v.to_string()
        } else {
            js::display(Some(v))
        }
    };
    let ids: Vec<String> = match id {
        Some(Value::Array(a)) => a.iter().map(text).collect(),
        Some(v) => vec![text(v)],
        None => vec![],
    };
    ensure(!ids.is_empty(), message)?;
    uuid_input(&ids)?;
    Ok(ids)
}

/// The error PostgreSQL raises for the first id its uuid type cannot read (pg-boss lets it through).
pub(crate) fn uuid_input(ids: &[String]) -> Result<()> {
    match ids.iter().find(|id| !is_uuid(id)) {
        Some(bad) => Err(BossError::database(
            Some("22P02".into()),
            format!("invalid input syntax for type uuid: \"{bad}\""),
        )),
        None => Ok(()),
    }
}

/// `complete()`/`fail()` output. index.js has already normalised it as pg-boss does (nothing ->
/// null, non-objects wrapped as `{ value }`, errors through serialize-error).
pub fn completion_output(data: Option<&Value>) -> Option<String> {
    match data {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.to_string()),
    }
}

impl Engine {
    pub async fn complete(
        &self,
        name: Option<&Value>,
        id: Option<&Value>,
        data: Option<&Value>,
        options: &Object,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let include_queued = js::truthy(options.get("includeQueued"));
        self.settle_with_output("complete", name, id, data, include_queued, db)
            .await
    }

    pub async fn fail(
        &self,
        name: Option<&Value>,
        id: Option<&Value>,
        data: Option<&Value>,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        self.settle_with_output("fail", name, id, data, false, db)
            .await
    }

    /// `complete()` / `fail()`: ids or `{ id, retryCount }` attempts, one output for all of them.
    async fn settle_with_output(
        &self,
        func: &str,
        name: Option<&Value>,
        id: Option<&Value>,
        data: Option<&Value>,
        include_queued: bool,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let db = self.db(db)?;
        let args = attempt_args(id, func)?;
        let q = self.queue_info(&name).await?;
        let (s, t, fenced) = (&self.config.schema, &q.table, args.attempts.is_some());
        let sql = if func == "complete" {
            plans::jobs::complete_jobs(s, t, include_queued, fenced)
        } else {
            plans::jobs::fail_jobs(s, t, fenced, plans::jobs::fails_in_place(&q.policy))
        };
        let mut params = vec![
            Some(name),
            Some(json!(args.ids).to_string()),
            completion_output(data),
        ];
        if let Some(a) = &args.attempts {
            params.push(Some(json!(a).to_string()));
        }
        let (affected, settled) = settle_query(&db, &sql, &params).await?;
        Ok(command_response(&args.ids, affected, settled))
    }

    /// cancel / touch / deleteJob (fenced when given `{ id, retryCount }` attempts, and they
    /// report which ids they settled) and resume / retry / restore (plain ids only).
    pub async fn manage(
        &self,
        func: &str,
        name: Option<&Value>,
        id: Option<&Value>,
        db: Option<SharedExecutor>,
    ) -> Result<String> {
        let name = assert_queue_name(name)?;
        let own_db = db.is_none();
        let db = self.db(db)?;
        let fenceable = matches!(func, "cancel" | "touch" | "deleteJob");
        let (ids, attempts) = if fenceable {
            let args = attempt_args(id, func)?;
            (args.ids, args.attempts)
        } else {
            (plain_ids(id, func)?, None)
        };
        let q = self.queue_info(&name).await?;
        let (s, t) = (&self.config.schema, &q.table);
        let fenced = attempts.is_some();
        let sql = match func {
            "cancel" => plans::jobs::cancel_jobs(s, t, fenced),
            "touch" => plans::jobs::touch_jobs(s, t, fenced),
            "deleteJob" => plans::jobs::delete_jobs(s, t, fenced, own_db),
            "resume" => plans::jobs::resume_jobs(s, t, own_db),
            "retry" => plans::jobs::retry_jobs(s, t),
            "restore" => plans::jobs::restore_jobs(s, t),
            other => {
                return Err(BossError::operational(format!(
                    "unknown job command {other}"
                )))
            }
        };
        let mut params = vec![Some(name), Some(json!(ids).to_string())];
        if let Some(a) = &attempts {
            params.push(Some(json!(a).to_string()));
        }
        let (affected, settled) = settle_query(&db, &sql, &params).await?;
        Ok(command_response(
            &ids,
            affected,
            if fenceable { settled } else { None },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_fence_with_canonical_ids() {
        let a = attempt_args(
            Some(&json!([{"id": "ABCDEF00-0000-0000-0000-000000000001", "retryCount": 2}])),
            "complete",
        )
        .unwrap();
        assert_eq!(
            a.attempts.unwrap()[0],
            "abcdef00-0000-0000-0000-000000000001:2"
        );
        let e = attempt_args(
            Some(&json!(["a", {"id": "b", "retryCount": 0}])),
            "complete",
        )
        .err()
        .unwrap();
        assert_eq!(e.message, "complete() requires either ids or jobs with an id and an integer retryCount, not a mix");
        assert_eq!(
            attempt_args(Some(&json!([])), "fail")
                .err()
                .unwrap()
                .message,
            "fail() requires an id"
        );
    }

    #[test]
    fn completion_output_keeps_null_as_sql_null() {
        assert_eq!(
            completion_output(Some(&json!({"a": 1}))),
            Some("{\"a\":1}".into())
        );
        assert_eq!(completion_output(Some(&Value::Null)), None);
    }
}

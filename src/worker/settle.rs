//! Writing outcomes back: one statement per flush, fenced by the claimed attempt.

use super::outcome::SettleRow;
use crate::engine::Engine;
use crate::error::Result;
use crate::metrics::SettleCounts;
use crate::plans;
use crate::queue_cache::QueueInfo;
use serde_json::Value;

/// The keyed outcome a settle statement takes: id → { status, retry_count, output }. A job
/// appearing twice keeps its last outcome.
pub fn settle_payload(rows: &[SettleRow]) -> String {
    Value::Object(rows.iter().map(|r| (r.id.clone(), r.to_json())).collect()).to_string()
}

impl Engine {
    /// Settle `rows` of queue `name` (`q`: its cached table and policy) in one statement.
    pub async fn settle_rows(
        &self,
        name: &str,
        q: &QueueInfo,
        rows: &[SettleRow],
    ) -> Result<SettleCounts> {
        if rows.is_empty() {
            return Ok(SettleCounts::default());
        }
        self.settle_rows_on(&self.instance_db()?, name, q, rows)
            .await
    }

    /// [`Engine::settle_rows`] on `db` (a transactional handler's transaction).
    pub async fn settle_rows_on(
        &self,
        db: &crate::db::SharedExecutor,
        name: &str,
        q: &QueueInfo,
        rows: &[SettleRow],
    ) -> Result<SettleCounts> {
        if rows.is_empty() {
            return Ok(SettleCounts::default());
        }
        let db = db.clone();
        let payload = settle_payload(rows);
        let sql = if rows.iter().all(|r| r.status == "completed") {
            plans::settle::complete_batch(&self.config.schema, &q.table)
        } else {
            let in_place = plans::jobs::fails_in_place(&q.policy);
            plans::settle::settle_batch(&self.config.schema, &q.table, in_place)
        };
        let out = self
            .query(&db, &sql, &[Some(name.to_string()), Some(payload)])
            .await?;
        let v: Value = out
            .first()
            .map(|t| serde_json::from_str(t))
            .transpose()?
            .unwrap_or(Value::Null);
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        Ok(SettleCounts {
            completed: n("completed"),
            retried: n("retried"),
            failed: n("failed"),
            dead_lettered: n("deadLettered"),
        })
    }
}

//! What the pool and a pinned transaction connection do alike to run one statement: prepare it
//! once per connection, bind text parameters, wait at most the query timeout, and read every
//! cell back as text.

use super::pool::Object;
use crate::db::{Param, Row};
use crate::error::Result;
use std::time::Duration;

/// `work` bounded by `limit`: `None` when the reply took longer (node-postgres's
/// "Query read timeout").
pub async fn within<T>(
    limit: Option<Duration>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
}

/// `sql` with `params`, prepared once per connection and reused (the statement cache lives on
/// the client); `None` when the reply outlasted `limit`.
pub async fn run_prepared(
    client: &Object,
    sql: &str,
    params: &[Param],
    limit: Option<Duration>,
) -> Option<std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>> {
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    within(limit, async {
        let stmt = client.prepare_cached(sql).await?;
        client.query(&stmt, &refs).await
    })
    .await
}

/// Every cell as text (plans cast what they return to text), `None` for NULL.
pub fn text_cells(rows: Vec<tokio_postgres::Row>) -> Result<Vec<Row>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            values.push(row.try_get::<_, Option<String>>(i)?);
        }
        out.push(values);
    }
    Ok(out)
}

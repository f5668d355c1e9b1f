//! One pooled connection held for the length of a transaction: what a transactional worker's
//! handler and the batch's completion run on. Statements may overlap (tokio-postgres pipelines
//! them on the connection); once the transaction is settled it refuses new ones, so a statement a
//! late handler issues can never land outside the transaction, on a connection the pool has
//! handed to someone else.

use super::pool::Object;
use super::statement::{run_prepared, text_cells, within};
use crate::db::{Executor, Param, Row};
use crate::error::{BossError, Result};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a ROLLBACK may take before the connection is closed instead (the server then ends the
/// transaction itself). A ROLLBACK queued behind a handler's statement still running waits for it.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PinnedConnection {
    /// `None` once committed or rolled back. Statements in flight hold their own reference, so
    /// the connection goes back to the pool when the last of them ends.
    client: Mutex<Option<Arc<Object>>>,
    /// Why the transaction ended on its own (a failed COMMIT, a dropped connection), reported to
    /// later statements instead of the generic settled message.
    ended: Mutex<Option<String>>,
    query_timeout: Option<Duration>,
}

impl PinnedConnection {
    /// `client` is checked out of the pool; BEGIN is sent here.
    pub async fn begin(
        client: Object,
        query_timeout: Option<Duration>,
    ) -> Result<PinnedConnection> {
        if let Err(err) = client.batch_execute("BEGIN").await {
            client.close();
            return Err(err.into());
        }
        Ok(PinnedConnection {
            client: Mutex::new(Some(Arc::new(client))),
            ended: Mutex::new(None),
            query_timeout,
        })
    }

    fn current(&self) -> Result<Arc<Object>> {
        let client = self.client.lock().ok().and_then(|c| c.clone());
        client.ok_or_else(|| {
            let why = self.ended.lock().ok().and_then(|e| e.clone());
            BossError::operational(why.unwrap_or_else(|| "Transaction is already settled".into()))
        })
    }

    fn take(&self) -> Option<Arc<Object>> {
        self.client.lock().ok().and_then(|mut c| c.take())
    }

    /// Whether COMMIT or ROLLBACK has been sent (no statement is accepted any more).
    pub fn is_settled(&self) -> bool {
        self.client.lock().map(|c| c.is_none()).unwrap_or(true)
    }

    async fn within<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        within(self.query_timeout, work).await
    }

    /// A statement failed because the connection went away: the transaction is gone with it.
    fn note(&self, client: &Object, err: BossError) -> BossError {
        if client.is_closed() {
            if let Ok(mut ended) = self.ended.lock() {
                ended.get_or_insert_with(|| err.message.clone());
            }
            if let Ok(mut c) = self.client.lock() {
                c.take();
            }
        }
        err
    }

    pub async fn commit(&self) -> Result<()> {
        let client = self.current()?;
        self.take();
        match self.within(client.batch_execute("COMMIT")).await {
            Some(Ok(())) => Ok(()),
            Some(Err(err)) => {
                client.close();
                Err(err.into())
            }
            None => {
                client.close();
                Err(BossError::operational("Query read timeout"))
            }
        }
    }

    /// Idempotent; never fails (it runs on an error path, whose error matters more).
    pub async fn rollback(&self) {
        let Some(client) = self.take() else { return };
        match tokio::time::timeout(ROLLBACK_TIMEOUT, client.batch_execute("ROLLBACK")).await {
            Ok(Ok(())) => {}
            _ => client.close(),
        }
    }
}

impl Drop for PinnedConnection {
    /// Dropped unsettled (a panic, a cancelled task): the connection must not return to the pool
    /// inside an open transaction.
    fn drop(&mut self) {
        if let Some(client) = self.take() {
            client.close();
        }
    }
}

impl Executor for PinnedConnection {
    fn query<'a>(&'a self, sql: &'a str, params: &'a [Param]) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let client = self.current()?;
            let reply = run_prepared(&client, sql, params, self.query_timeout).await;
            let rows = match reply {
                Some(Ok(rows)) => rows,
                Some(Err(err)) => return Err(self.note(&client, err.into())),
                None => {
                    client.close();
                    return Err(self.note(&client, BossError::operational("Query read timeout")));
                }
            };
            text_cells(rows)
        })
    }

    fn batch<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let client = self.current()?;
            match self.within(client.batch_execute(sql)).await {
                Some(Ok(())) => Ok(()),
                Some(Err(err)) => Err(self.note(&client, err.into())),
                None => {
                    client.close();
                    Err(self.note(&client, BossError::operational("Query read timeout")))
                }
            }
        })
    }

    fn execute_raw<'a>(
        &'a self,
        sql: &'a str,
        values: Vec<serde_json::Value>,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let client = self.current()?;
            match self
                .within(crate::raw_sql::execute(&client, sql, values))
                .await
            {
                Some(Ok(text)) => Ok(text),
                Some(Err(err)) => Err(self.note(&client, err)),
                None => {
                    client.close();
                    Err(self.note(&client, BossError::operational("Query read timeout")))
                }
            }
        })
    }
}

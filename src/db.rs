//! Where SQL runs: the native tokio-postgres pool, or the caller's own `executeSql`.
//!
//! Every statement the engine sends takes text parameters (`$n::text`, cast in SQL) and returns
//! text columns, so one row shape serves both the native pool and a JavaScript `executeSql`
//! (node-postgres, Knex, Prisma, ...), and a caller's transaction can carry our SQL unchanged.

use crate::connection::ConnectionSettings;
use crate::error::{BossError, Result};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

pub type Param = Option<String>;
pub type Row = Vec<Option<String>>;

pub trait Executor: Send + Sync {
    /// One statement with text parameters; rows of text columns.
    fn query<'a>(&'a self, sql: &'a str, params: &'a [Param]) -> BoxFuture<'a, Result<Vec<Row>>>;
    /// A parameterless, possibly multi-statement script (DDL, `BEGIN ... COMMIT` blocks).
    fn batch<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<()>>;
    /// A parameterless multi-statement script (a `BEGIN ... COMMIT` block) with the rows of every
    /// statement, in order: how a claim under an advisory lock reads what it claimed.
    fn script_rows<'a>(&'a self, _sql: &'a str) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async {
            Err(BossError::operational(
                "this executor cannot return the rows of a script",
            ))
        })
    }
    /// Arbitrary SQL with JSON values, rows as JSON (`getDb().executeSql()`); see `raw_sql`.
    fn execute_raw<'a>(
        &'a self,
        _sql: &'a str,
        _values: Vec<serde_json::Value>,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async {
            Err(BossError::operational(
                "executeSql is only available on the native pool",
            ))
        })
    }
}

pub type SharedExecutor = Arc<dyn Executor>;

/// The first column of every row (our statements return one text column: a JSON document).
pub fn first_column(rows: Vec<Row>) -> Vec<String> {
    rows.into_iter()
        .filter_map(|mut r| if r.is_empty() { None } else { r.swap_remove(0) })
        .collect()
}

pub use crate::connection::pool::ConnectionErrorSink;
use crate::connection::pool::{ConnectionManager, Object, Pool};
use crate::connection::statement::{run_prepared, text_cells, within};

pub struct NativePool {
    pool: Pool,
    query_timeout: Option<Duration>,
    reaper: Option<tokio::task::JoinHandle<()>>,
}

/// What `getDb().pool` reports, as node-postgres's pool counts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolCounts {
    pub total_count: usize,
    pub idle_count: usize,
    pub waiting_count: usize,
    pub max: usize,
}

impl NativePool {
    pub fn new(
        settings: &ConnectionSettings,
        on_error: Option<ConnectionErrorSink>,
    ) -> Result<NativePool> {
        let manager = ConnectionManager {
            settings: settings.clone(),
            on_error,
        };
        let pool_settings = settings.pool.clone();
        let (max_uses, max_lifetime) = (pool_settings.max_uses, pool_settings.max_lifetime);
        let pool = Pool::builder(manager)
            .max_size(pool_settings.max)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(pool_settings.connection_timeout)
            .create_timeout(pool_settings.connection_timeout)
            // pg-pool's maxUses and maxLifetimeSeconds: a connection past either is closed
            // instead of being handed out again
            .pre_recycle(deadpool::managed::Hook::sync_fn(move |_, metrics| {
                let used_up = max_uses.is_some_and(|n| metrics.recycle_count as u64 + 1 >= n);
                let too_old = max_lifetime.is_some_and(|t| metrics.age() >= t);
                if used_up || too_old {
                    Err(deadpool::managed::HookError::message("retired"))
                } else {
                    Ok(())
                }
            }))
            .build()
            .map_err(|e| {
                BossError::operational(format!("could not create the connection pool: {e}"))
            })?;
        let reaper = (pool_settings.idle_timeout.is_some() || max_lifetime.is_some())
            .then(|| spawn_reaper(pool.clone(), pool_settings));
        Ok(NativePool {
            pool,
            query_timeout: settings.query_timeout,
            reaper,
        })
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool::managed::PoolError::Backend(err) => err,
            deadpool::managed::PoolError::Timeout(_) => {
                BossError::connection("timeout exceeded when trying to connect")
            }
            other => BossError::database(None, other.to_string()),
        })
    }

    /// A connection of the pool's, held in a transaction until it is committed or rolled back.
    pub async fn begin(&self) -> Result<crate::connection::pinned::PinnedConnection> {
        let client = self.client().await?;
        crate::connection::pinned::PinnedConnection::begin(client, self.query_timeout).await
    }

    pub fn counts(&self) -> PoolCounts {
        let status = self.pool.status();
        PoolCounts {
            total_count: status.size,
            idle_count: status.available,
            waiting_count: status.waiting,
            max: status.max_size,
        }
    }

    pub fn close(&self) {
        if let Some(reaper) = &self.reaper {
            reaper.abort();
        }
        self.pool.close();
    }

    /// `query_timeout`: `None` when the reply took longer (node-postgres's "Query read timeout").
    async fn within<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        within(self.query_timeout, work).await
    }
}

impl Drop for NativePool {
    /// The reaper holds a handle on the pool: it must not outlive the instance.
    fn drop(&mut self) {
        if let Some(reaper) = &self.reaper {
            reaper.abort();
        }
    }
}

/// A connection whose reply was not awaited is still busy with it: closed rather than handed out
/// again, as pg-pool removes a client released with the error.
fn timed_out(client: Object) -> BossError {
    drop(Object::take(client));
    BossError::operational("Query read timeout")
}

/// Closes connections idle longer than `idleTimeoutMillis` (keeping `min`), and idle ones past
/// `maxLifetimeSeconds`, as pg-pool does.
fn spawn_reaper(
    pool: Pool,
    settings: crate::connection::PoolSettings,
) -> tokio::task::JoinHandle<()> {
    let every = settings
        .idle_timeout
        .into_iter()
        .chain(settings.max_lifetime)
        .min()
        .unwrap_or(Duration::from_secs(10))
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let mut removable = pool.status().size.saturating_sub(settings.min);
            pool.retain(|_, metrics| {
                let idle = settings
                    .idle_timeout
                    .is_some_and(|t| metrics.last_used() >= t);
                let old = settings.max_lifetime.is_some_and(|t| metrics.age() >= t);
                if (idle || old) && removable > 0 {
                    removable -= 1;
                    false
                } else {
                    true
                }
            });
        }
    })
}

impl NativePool {
    /// One try; the flag says the connection was already closed (the statement was never sent).
    async fn query_once(
        &self,
        sql: &str,
        params: &[Param],
    ) -> std::result::Result<Vec<tokio_postgres::Row>, (BossError, bool)> {
        let client = self.client().await.map_err(|e| (e, false))?;
        let reply = run_prepared(&client, sql, params, self.query_timeout).await;
        match reply {
            Some(result) => result.map_err(|e| {
                let closed = e.is_closed();
                (BossError::from(e), closed)
            }),
            None => Err((timed_out(client), false)),
        }
    }
}

/// How a statement `NativePool::run_command` runs ends when its abort fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandEnd {
    /// The connection is closed at once, leaving the statement to the server (a concurrent index
    /// statement runs to its end without its client).
    Abandon,
    /// The statement is awaited (a cancel is on its way); its connection is closed afterwards,
    /// never handed out again with the cancel perhaps still landing.
    Retire,
}

/// Why `NativePool::run_command` did not complete its statement.
#[derive(Debug)]
pub enum CommandError {
    /// The abort fired before the statement was sent.
    NotStarted,
    /// The abort fired and the connection was closed under the statement (`CommandEnd::Abandon`).
    Abandoned,
    Failed(BossError),
}

impl NativePool {
    /// One statement on a connection of its own, outside any transaction block (autocommit), as
    /// `CREATE INDEX CONCURRENTLY` needs; no query timeout. `abort` turning true ends it as `end` says.
    pub async fn run_command(
        &self,
        sql: &str,
        mut abort: tokio::sync::watch::Receiver<bool>,
        end: CommandEnd,
    ) -> std::result::Result<(), CommandError> {
        let client = tokio::select! {
            client = self.client() => client.map_err(CommandError::Failed)?,
            _ = abort.wait_for(|a| *a) => return Err(CommandError::NotStarted),
        };
        if *abort.borrow() {
            return Err(CommandError::NotStarted);
        }
        let result = match end {
            CommandEnd::Abandon => {
                tokio::select! {
                    r = client.batch_execute(sql) => r,
                    _ = abort.wait_for(|a| *a) => {
                        client.close();
                        drop(Object::take(client));
                        return Err(CommandError::Abandoned);
                    }
                }
            }
            CommandEnd::Retire => client.batch_execute(sql).await,
        };
        if *abort.borrow() || client.is_closed() {
            client.close();
            drop(Object::take(client));
        }
        result.map_err(|e| CommandError::Failed(e.into()))
    }
}

impl Executor for NativePool {
    fn query<'a>(&'a self, sql: &'a str, params: &'a [Param]) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let mut attempt = 0;
            let rows = loop {
                attempt += 1;
                match self.query_once(sql, params).await {
                    Ok(rows) => break rows,
                    // A pooled connection the server dropped fails before the statement is sent
                    // (`is_closed`), so running it on a fresh connection cannot run it twice.
                    Err((_, true)) if attempt < 3 => continue,
                    Err((err, _)) => return Err(err),
                }
            };
            text_cells(rows)
        })
    }

    fn execute_raw<'a>(
        &'a self,
        sql: &'a str,
        values: Vec<serde_json::Value>,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let client = self.client().await?;
            match self
                .within(crate::raw_sql::execute(&client, sql, values))
                .await
            {
                Some(result) => result,
                None => Err(timed_out(client)),
            }
        })
    }

    fn script_rows<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let client = self.client().await?;
            let Some(result) = self.within(client.simple_query(sql)).await else {
                return Err(timed_out(client));
            };
            match result {
                Ok(messages) => Ok(messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()),
                Err(err) => {
                    // a failed script may leave its BEGIN open on this pooled connection
                    let _ = client.batch_execute("ROLLBACK").await;
                    Err(err.into())
                }
            }
        })
    }

    fn batch<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let client = self.client().await?;
            let Some(result) = self.within(client.batch_execute(sql)).await else {
                return Err(timed_out(client));
            };
            match result {
                Ok(()) => Ok(()),
                Err(err) => {
                    // A failed script may leave its BEGIN open on this pooled connection.
                    let _ = client.batch_execute("ROLLBACK").await;
                    Err(err.into())
                }
            }
        })
    }
}

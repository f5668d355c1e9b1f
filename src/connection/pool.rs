//! The native pool's connections: deadpool manages them, `open` makes them (TLS, the password
//! function), and each keeps the statements it has prepared, so a hot statement is parsed once per
//! connection.

use super::{open, ConnectionSettings};
use crate::error::BossError;
use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Told about connections the server dropped (restart, `pg_terminate_backend`, network), so they
/// surface as `error` events as node-postgres pool errors do; the pool replaces them on next use.
pub type ConnectionErrorSink = Arc<dyn Fn(BossError) + Send + Sync>;

/// One pooled connection and its prepared statements.
pub struct PooledClient {
    client: tokio_postgres::Client,
    statements: Mutex<HashMap<String, tokio_postgres::Statement>>,
    driver: tokio::task::JoinHandle<()>,
}

impl PooledClient {
    /// The statement for `sql`, prepared on this connection the first time it is asked for.
    pub async fn prepare_cached(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        if let Some(stmt) = self
            .statements
            .lock()
            .ok()
            .and_then(|s| s.get(sql).cloned())
        {
            return Ok(stmt);
        }
        let stmt = self.client.prepare(sql).await?;
        if let Ok(mut statements) = self.statements.lock() {
            statements.insert(sql.to_string(), stmt.clone());
        }
        Ok(stmt)
    }
}

impl PooledClient {
    /// Close the connection now (its driver stops): the pool discards it on return instead of
    /// handing it out again, and the server ends whatever transaction it had open.
    pub fn close(&self) {
        self.driver.abort();
    }
}

impl std::ops::Deref for PooledClient {
    type Target = tokio_postgres::Client;
    fn deref(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

pub struct ConnectionManager {
    pub settings: ConnectionSettings,
    pub on_error: Option<ConnectionErrorSink>,
}

impl deadpool::managed::Manager for ConnectionManager {
    type Type = PooledClient;
    type Error = BossError;

    async fn create(&self) -> Result<PooledClient, BossError> {
        let (client, connection) = open(&self.settings, None).await?;
        let on_error = self.on_error.clone();
        let driver = tokio::spawn(async move {
            if let Err(err) = connection.await {
                if let Some(on_error) = on_error {
                    on_error(BossError::from(err));
                }
            }
        });
        Ok(PooledClient {
            client,
            statements: Mutex::new(HashMap::new()),
            driver,
        })
    }

    async fn recycle(&self, obj: &mut PooledClient, _: &Metrics) -> RecycleResult<BossError> {
        if obj.client.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        Ok(())
    }
}

pub type Pool = deadpool::managed::Pool<ConnectionManager>;
pub type Object = deadpool::managed::Object<ConnectionManager>;

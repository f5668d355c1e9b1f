//! Where SQL runs: the native tokio-postgres pool, or the caller's own `executeSql`.
//!
//! Every statement the engine sends takes text parameters (`$n::text`, cast in SQL) and returns
//! text columns, so one row shape serves both the native pool and a JavaScript `executeSql`
//! (node-postgres, Knex, Prisma, ...), and a caller's transaction can carry our SQL unchanged.

use crate::config::ConnectionConfig;
use crate::error::{BossError, Result};
use futures_util::future::BoxFuture;
use std::sync::Arc;

pub type Param = Option<String>;
pub type Row = Vec<Option<String>>;

pub trait Executor: Send + Sync {
    /// One statement with text parameters; rows of text columns.
    fn query<'a>(&'a self, sql: &'a str, params: &'a [Param]) -> BoxFuture<'a, Result<Vec<Row>>>;
    /// A parameterless, possibly multi-statement script (DDL, `BEGIN ... COMMIT` blocks).
    fn batch<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<()>>;
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

pub struct NativePool {
    pool: deadpool_postgres::Pool,
}

/// Told about connections the server dropped (restart, `pg_terminate_backend`, network), so they
/// surface as `error` events as node-postgres pool errors do; the pool replaces them on next use.
pub type ConnectionErrorSink = Arc<dyn Fn(BossError) + Send + Sync>;

/// Opens pool connections and watches each one's driver task for a failure.
struct WatchedConnect {
    on_error: Option<ConnectionErrorSink>,
}

impl deadpool_postgres::Connect for WatchedConnect {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> BoxFuture<
        '_,
        std::result::Result<
            (tokio_postgres::Client, tokio::task::JoinHandle<()>),
            tokio_postgres::Error,
        >,
    > {
        let pg_config = pg_config.clone();
        let on_error = self.on_error.clone();
        Box::pin(async move {
            let (client, connection) = pg_config.connect(tokio_postgres::NoTls).await?;
            let task = tokio::spawn(async move {
                if let Err(err) = connection.await {
                    if let Some(on_error) = on_error {
                        on_error(BossError::from(err));
                    }
                }
            });
            Ok((client, task))
        })
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// node-postgres defaults: explicit options, then the connection string, then PG* variables.
pub fn pg_config(conn: &ConnectionConfig) -> Result<tokio_postgres::Config> {
    let mut cfg = match &conn.connection_string {
        Some(s) => s.parse::<tokio_postgres::Config>().map_err(|e| {
            BossError::assertion(format!(
                "configuration assert: invalid connectionString: {e}"
            ))
        })?,
        None => tokio_postgres::Config::new(),
    };
    if let Some(h) = &conn.host {
        cfg.host(h);
    }
    if cfg.get_hosts().is_empty() {
        cfg.host(env("PGHOST").unwrap_or_else(|| "localhost".into()));
    }
    if let Some(p) = conn.port {
        cfg.port(p);
    } else if cfg.get_ports().is_empty() {
        cfg.port(env("PGPORT").and_then(|p| p.parse().ok()).unwrap_or(5432));
    }
    if let Some(u) = &conn.user {
        cfg.user(u);
    }
    if cfg.get_user().is_none() {
        cfg.user(
            env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into()),
        );
    }
    if let Some(d) = &conn.database {
        cfg.dbname(d);
    }
    if cfg.get_dbname().is_none() {
        if let Some(d) = env("PGDATABASE") {
            cfg.dbname(&d);
        }
    }
    if let Some(p) = &conn.password {
        cfg.password(p);
    } else if cfg.get_password().is_none() {
        if let Some(p) = env("PGPASSWORD") {
            cfg.password(&p);
        }
    }
    cfg.application_name(&conn.application_name);
    if conn.connection_timeout_ms > 0 {
        cfg.connect_timeout(std::time::Duration::from_millis(conn.connection_timeout_ms));
    }
    Ok(cfg)
}

impl NativePool {
    pub fn new(
        conn: &ConnectionConfig,
        on_error: Option<ConnectionErrorSink>,
    ) -> Result<NativePool> {
        let cfg = pg_config(conn)?;
        let manager = deadpool_postgres::Manager::from_connect(
            cfg,
            WatchedConnect { on_error },
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let wait = if conn.connection_timeout_ms > 0 {
            Some(std::time::Duration::from_millis(conn.connection_timeout_ms))
        } else {
            None
        };
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(conn.max)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(wait)
            .create_timeout(wait)
            .build()
            .map_err(|e| {
                BossError::operational(format!("could not create the connection pool: {e}"))
            })?;
        Ok(NativePool { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(err) => BossError::from(err),
            other => BossError::database(None, other.to_string()),
        })
    }

    pub fn close(&self) {
        self.pool.close();
    }
}

impl NativePool {
    /// One try; the flag says the connection was already closed (the statement was never sent).
    async fn query_once(
        &self,
        sql: &str,
        params: &[Param],
    ) -> std::result::Result<Vec<tokio_postgres::Row>, (BossError, bool)> {
        let pg = |e: tokio_postgres::Error| {
            let closed = e.is_closed();
            (BossError::from(e), closed)
        };
        let client = self.client().await.map_err(|e| (e, false))?;
        // Prepared once per connection and reused: the statement cache lives on the client.
        let stmt = client.prepare_cached(sql).await.map_err(pg)?;
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        client.query(&stmt, &refs).await.map_err(pg)
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
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut values = Vec::with_capacity(row.len());
                for i in 0..row.len() {
                    values.push(row.try_get::<_, Option<String>>(i)?);
                }
                out.push(values);
            }
            Ok(out)
        })
    }

    fn execute_raw<'a>(
        &'a self,
        sql: &'a str,
        values: Vec<serde_json::Value>,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let client = self.client().await?;
            crate::raw_sql::execute(&client, sql, values).await
        })
    }

    fn batch<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let client = self.client().await?;
            match client.batch_execute(sql).await {
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

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
}

pub type SharedExecutor = Arc<dyn Executor>;

/// The first column of every row (our statements return one text column: a JSON document).
pub fn first_column(rows: Vec<Row>) -> Vec<String> {
    rows.into_iter().filter_map(|mut r| if r.is_empty() { None } else { r.swap_remove(0) }).collect()
}

pub struct NativePool {
    pool: deadpool_postgres::Pool,
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// node-postgres defaults: explicit options, then the connection string, then PG* variables.
pub fn pg_config(conn: &ConnectionConfig) -> Result<tokio_postgres::Config> {
    let mut cfg = match &conn.connection_string {
        Some(s) => s
            .parse::<tokio_postgres::Config>()
            .map_err(|e| BossError::assertion(format!("configuration assert: invalid connectionString: {e}")))?,
        None => tokio_postgres::Config::new(),
    };
    if let Some(h) = &conn.host {
        cfg.host(h);
    }
    if cfg.get_hosts().is_empty() {
        cfg.host(&env("PGHOST").unwrap_or_else(|| "localhost".into()));
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
        cfg.user(&env("PGUSER").or_else(|| env("USER")).unwrap_or_else(|| "postgres".into()));
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
    pub fn new(conn: &ConnectionConfig) -> Result<NativePool> {
        let cfg = pg_config(conn)?;
        let manager = deadpool_postgres::Manager::from_config(
            cfg,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
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
            .map_err(|e| BossError::operational(format!("could not create the connection pool: {e}")))?;
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

impl Executor for NativePool {
    fn query<'a>(&'a self, sql: &'a str, params: &'a [Param]) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let client = self.client().await?;
            // Prepared once per connection and reused: the statement cache lives on the client.
            let stmt = client.prepare_cached(sql).await?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
            let rows = client.query(&stmt, &refs).await?;
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

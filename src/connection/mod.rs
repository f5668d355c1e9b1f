//! How the engine reaches PostgreSQL: the connection settings node-postgres would use for the same
//! constructor options (`options`), connection strings (`url`), TLS (`tls`), `~/.pgpass`
//! (`pgpass`), and opening one connection with all of it (`open`), for the pool and the LISTEN
//! connection alike.

pub mod options;
pub mod pgpass;
pub mod pinned;
pub mod pool;
pub mod statement;
pub mod tls;
pub mod url;

use crate::error::{BossError, Result};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// A `password` function of the caller's, called for every new connection (RDS IAM and Azure AD
/// tokens). It receives the connection's parameters as node-postgres passes them.
pub trait PasswordProvider: Send + Sync {
    fn password(&self, params: serde_json::Value) -> BoxFuture<'static, Result<Option<String>>>;
}

#[derive(Clone, Default)]
pub enum Password {
    /// None given: `~/.pgpass` (or `PGPASSFILE`) is consulted, as node-postgres does.
    #[default]
    Unset,
    Text(String),
    /// A function; the binding supplies it as a provider.
    Function(Option<Arc<dyn PasswordProvider>>),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Password::Unset => "Unset",
            Password::Text(_) => "Text(hidden)",
            Password::Function(_) => "Function",
        })
    }
}

/// The pool's own settings (pg-pool's options and defaults).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max: usize,
    /// Idle connections kept however long they idle.
    pub min: usize,
    /// `idleTimeoutMillis` (10 s by default; 0 keeps idle connections).
    pub idle_timeout: Option<Duration>,
    /// `maxUses`: a connection is closed after this many checkouts.
    pub max_uses: Option<u64>,
    /// `maxLifetimeSeconds`.
    pub max_lifetime: Option<Duration>,
    /// `connectionTimeoutMillis` (pg-boss makes it 10 s): waiting for, or opening, a connection.
    pub connection_timeout: Option<Duration>,
}

/// Everything needed to open one connection, resolved as node-postgres resolves it.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub database: Option<String>,
    pub password: Password,
    pub application_name: Option<String>,
    /// pg's `options` (command-line options for the server process).
    pub options: Option<String>,
    pub statement_timeout: Option<i64>,
    pub lock_timeout: Option<i64>,
    pub idle_in_transaction_session_timeout: Option<i64>,
    /// `query_timeout`: a statement's reply is no longer awaited after this long.
    pub query_timeout: Option<Duration>,
    /// `keepAlive` (off by default) and `keepAliveInitialDelayMillis`.
    pub keepalive: Option<Duration>,
    pub tls: Option<tls::TlsSettings>,
    /// Built from `tls` once, at construction, so bad certificates are refused there.
    pub connector: Option<tls::Connector>,
    pub pool: PoolSettings,
}

/// Node's `setKeepAlive(true, 0)` keeps the system's idle time, two hours on Linux.
const SYSTEM_KEEPALIVE_IDLE: Duration = Duration::from_secs(7200);

impl ConnectionSettings {
    /// The caller's `password` function, given by the binding (JSON cannot carry it).
    pub fn set_password_provider(&mut self, provider: Arc<dyn PasswordProvider>) {
        if let Password::Function(slot) = &mut self.password {
            *slot = Some(provider);
        }
    }

    /// The caller's `ssl.checkServerIdentity` function, given by the binding.
    pub fn set_identity_check(&mut self, check: Arc<dyn tls::IdentityCheck>) {
        if let Some(connector) = &mut self.connector {
            connector.set_identity_check(check);
        }
    }

    /// What a `password` function receives: node-postgres passes its connection parameters.
    fn password_params(&self) -> serde_json::Value {
        serde_json::json!({
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "database": self.database,
            "application_name": self.application_name,
            "ssl": self.tls.is_some(),
        })
    }

    /// The password for a new connection: asked of the function each time, or `~/.pgpass`.
    pub async fn password_now(&self) -> Result<Option<String>> {
        match &self.password {
            Password::Text(p) => Ok(Some(p.clone())),
            Password::Unset => Ok(pgpass::lookup(
                &self.host,
                self.port,
                self.database.as_deref().unwrap_or(""),
                self.user.as_deref().unwrap_or(""),
            )),
            Password::Function(Some(provider)) => provider.password(self.password_params()).await,
            Password::Function(None) => Err(BossError::operational(
                "the password function is not available to this engine",
            )),
        }
    }

    /// The `-c name=value` options node-postgres sends as startup parameters, after `options`.
    fn server_options(&self) -> Option<String> {
        let mut parts: Vec<String> = self.options.iter().cloned().collect();
        for (name, value) in [
            ("statement_timeout", self.statement_timeout),
            ("lock_timeout", self.lock_timeout),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction_session_timeout,
            ),
        ] {
            if let Some(v) = value {
                parts.push(format!("-c {name}={v}"));
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join(" "))
        }
    }

    /// tokio-postgres's configuration for one connection (the password asked for separately).
    pub fn pg_config(&self, password: Option<&str>) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.host);
        cfg.port(self.port);
        if let Some(u) = &self.user {
            cfg.user(u);
        }
        if let Some(d) = &self.database {
            cfg.dbname(d);
        }
        if let Some(p) = password {
            cfg.password(p);
        }
        if let Some(a) = &self.application_name {
            cfg.application_name(a);
        }
        if let Some(o) = self.server_options() {
            cfg.options(&o);
        }
        if let Some(t) = self.pool.connection_timeout {
            cfg.connect_timeout(t);
        }
        match self.keepalive {
            Some(idle) => {
                cfg.keepalives(true);
                cfg.keepalives_idle(if idle.is_zero() {
                    SYSTEM_KEEPALIVE_IDLE
                } else {
                    idle
                });
            }
            None => {
                cfg.keepalives(false);
            }
        }
        // node-postgres never falls back to plain text when TLS is asked for
        cfg.ssl_mode(if self.tls.is_some() {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
        if self.tls.as_ref().is_some_and(|t| t.direct) {
            cfg.ssl_negotiation(tokio_postgres::config::SslNegotiation::Direct);
        }
        cfg.channel_binding(tokio_postgres::config::ChannelBinding::Disable);
        cfg
    }

    /// The settings as JSON, the password shown only as its kind (and its text's length).
    pub fn describe(&self) -> serde_json::Value {
        let password = match &self.password {
            Password::Unset => serde_json::Value::Null,
            Password::Text(t) => serde_json::json!({ "text": t.len() }),
            Password::Function(_) => serde_json::json!("function"),
        };
        let tls = self.tls.as_ref().map(|t| {
            serde_json::json!({
                "verifyChain": t.verify_chain,
                "verifyHost": t.verify_host,
                "ca": t.ca,
                "cert": t.cert,
                "key": t.key.as_ref().map(|k| k.len()),
                "servername": t.servername,
                "direct": t.direct,
            })
        });
        serde_json::json!({
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "database": self.database,
            "password": password,
            "application_name": self.application_name,
            "options": self.options,
            "statement_timeout": self.statement_timeout,
            "lock_timeout": self.lock_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_session_timeout,
            "query_timeout": self.query_timeout.map(|d| d.as_millis() as u64),
            "keepalive": self.keepalive.map(|d| d.as_millis() as u64),
            "tls": tls,
            "max": self.pool.max,
            "idleTimeoutMillis": self.pool.idle_timeout.map(|d| d.as_millis() as u64),
            "connectionTimeoutMillis": self.pool.connection_timeout.map(|d| d.as_millis() as u64),
        })
    }
}

pub type Connection = tokio_postgres::Connection<tokio_postgres::Socket, tls::TlsStream>;

/// Opens one connection: asks for the password, then connects (TLS as configured), bounded by
/// `connectionTimeoutMillis` as a whole, as node-postgres bounds it.
pub async fn open(
    settings: &ConnectionSettings,
    keepalive_override: Option<Duration>,
) -> Result<(tokio_postgres::Client, Connection)> {
    let connect = async {
        let password = settings.password_now().await?;
        let mut cfg = settings.pg_config(password.as_deref());
        if let Some(idle) = keepalive_override {
            cfg.keepalives(true);
            cfg.keepalives_idle(idle.max(Duration::from_secs(1)));
        }
        let result = match &settings.connector {
            Some(c) => cfg.connect(c.clone()).await,
            None => cfg.connect(NoTlsConnector).await,
        };
        result.map_err(connect_error)
    };
    match settings.pool.connection_timeout {
        Some(limit) => tokio::time::timeout(limit, connect).await.map_err(|_| {
            BossError::connection("Connection terminated due to connection timeout")
        })?,
        None => connect.await,
    }
}

/// A failed connect as node-postgres users read it: TLS failures in plain words, the server's own
/// refusals (pg_hba.conf, authentication) with its message and SQLSTATE.
pub fn connect_error(err: tokio_postgres::Error) -> BossError {
    tls::describe(&err).unwrap_or_else(|| BossError::from(err))
}

/// The plain-text side of `Connection`: one stream type whether or not TLS is on, so the pool and
/// the listener hold one connection type.
#[derive(Clone, Copy)]
struct NoTlsConnector;

impl tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> for NoTlsConnector {
    type Stream = tls::TlsStream;
    type TlsConnect = NoTlsSession;
    type Error = tls::TlsFailure;

    fn make_tls_connect(&mut self, _: &str) -> std::result::Result<NoTlsSession, tls::TlsFailure> {
        Ok(NoTlsSession)
    }
}

struct NoTlsSession;

impl tokio_postgres::tls::TlsConnect<tokio_postgres::Socket> for NoTlsSession {
    type Stream = tls::TlsStream;
    type Error = std::io::Error;
    type Future = futures_util::future::Ready<std::io::Result<tls::TlsStream>>;

    fn connect(self, _: tokio_postgres::Socket) -> Self::Future {
        futures_util::future::ready(Err(std::io::Error::other("TLS is off for this connection")))
    }
}

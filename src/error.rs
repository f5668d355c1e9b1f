//! Errors of the engine. They carry the kind pg-boss would throw so the binding can hand JS an
//! `AssertionError` for bad input and a plain `Error` for everything else, with pg-boss's text.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: pg-boss throws `AssertionError` (`code: 'ERR_ASSERTION'`).
    Assertion,
    /// An operational failure pg-boss reports as a plain `Error`.
    Operational,
    /// A plain `Error` with a `code`, as Node's own errors carry (TLS: `ERR_TLS_CERT_ALTNAME_INVALID`).
    Coded { code: String },
    /// An error raised by PostgreSQL; `code` is the SQLSTATE when known.
    Database { code: Option<String> },
    /// The server could not be reached, or the connection was lost (a plain `Error` in JS).
    Connection,
    /// Several failures reported together, as pg-boss's `AggregateError`s: `errors` is its list
    /// (pg-boss fills it with strings, one per failure, not with the errors themselves).
    Aggregate { errors: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct BossError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, BossError>;

impl BossError {
    pub fn assertion(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Assertion,
            message: message.into(),
        }
    }
    pub fn operational(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Operational,
            message: message.into(),
        }
    }
    pub fn coded(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Coded { code: code.into() },
            message: message.into(),
        }
    }
    pub fn aggregate(message: impl Into<String>, errors: Vec<String>) -> Self {
        Self {
            kind: ErrorKind::Aggregate { errors },
            message: message.into(),
        }
    }
    pub fn connection(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Connection,
            message: message.into(),
        }
    }
    /// A failure that says nothing about the statement itself: the server was unreachable, went
    /// away (restart, failover, `pg_terminate_backend`) or is not accepting connections yet, so
    /// the same statement may succeed once it is back.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            ErrorKind::Connection => true,
            ErrorKind::Database { code: Some(code) } => {
                code.starts_with("08")
                    || matches!(code.as_str(), "57P01" | "57P02" | "57P03" | "53300")
            }
            _ => false,
        }
    }
    pub fn database(code: Option<String>, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Database { code },
            message: message.into(),
        }
    }
    pub fn sqlstate(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Database { code } => code.as_deref(),
            _ => None,
        }
    }
    pub fn is_assertion(&self) -> bool {
        self.kind == ErrorKind::Assertion
    }
}

impl fmt::Display for BossError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BossError {}

impl From<tokio_postgres::Error> for BossError {
    fn from(err: tokio_postgres::Error) -> Self {
        match err.as_db_error() {
            Some(db) => {
                BossError::database(Some(db.code().code().to_string()), db.message().to_string())
            }
            None => {
                // tokio-postgres leaves the cause out of its text ("error connecting to server"):
                // put it back, as node-postgres's messages name it ("connect ECONNREFUSED ...")
                let mut message = err.to_string();
                let mut cause = std::error::Error::source(&err);
                while let Some(c) = cause {
                    message.push_str(": ");
                    message.push_str(&c.to_string());
                    cause = c.source();
                }
                // its own failures of the connection: "connection closed", "error communicating
                // with the server", "error connecting to server", "timeout waiting for server"
                let lost = err.is_closed()
                    || ["error communicating", "error connecting", "timeout waiting"]
                        .iter()
                        .any(|p| message.starts_with(p));
                if lost {
                    BossError::connection(message)
                } else {
                    BossError::database(None, message)
                }
            }
        }
    }
}

impl From<serde_json::Error> for BossError {
    fn from(err: serde_json::Error) -> Self {
        BossError::operational(format!("invalid JSON: {err}"))
    }
}

/// `assert(cond, message)` as pg-boss writes it.
pub fn ensure(cond: bool, message: impl Into<String>) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(BossError::assertion(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_error_names_its_cause() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = closed.local_addr().expect("its address").port();
        drop(closed);
        let config = format!("host=127.0.0.1 port={port} user=nobody");
        let Err(err) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await else {
            panic!("connected to a closed port");
        };
        let message = BossError::from(err).message;
        assert!(
            message.starts_with("error connecting to server: ") && message.len() > 28,
            "{message}"
        );
    }
}

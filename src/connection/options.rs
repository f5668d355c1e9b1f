//! The constructor's connection options resolved as node-postgres 8.x resolves them
//! (`ConnectionParameters`, pg-pool's defaults, pg-boss's own `application_name` and
//! `connectionTimeoutMillis` defaults), and the node-postgres options pg-boss-native cannot honour,
//! refused here, at construction, rather than ignored.
//!
//! Order, as in node-postgres: a `connectionString` is parsed and laid over the options (so what it
//! leaves empty still replaces an option beside it), then each setting falls back to its `PG*`
//! variable, then to the default.

use super::tls::{TlsSettings, TlsVersion};
use super::url::{self, SKIP_HOST_CHECK};
use super::{ConnectionSettings, Password, PoolSettings};
use crate::error::{BossError, Result};
use crate::js::{self, Object};
use serde_json::Value;
use std::time::Duration;

/// Where environment variables come from (the process, or a test's table).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn refused(message: impl std::fmt::Display) -> BossError {
    BossError::assertion(format!("configuration assert: {message}"))
}

/// node-postgres options that hand it JavaScript objects or change how it talks to the server in
/// ways a native connection cannot follow.
const UNSUPPORTED: [(&str, &str); 9] = [
    ("types", "custom type parsers apply to node-postgres results, and pg-boss-native does not use node-postgres"),
    ("stream", "pg-boss-native opens its own sockets"),
    ("Client", "pg-boss-native does not use node-postgres clients"),
    ("Promise", "pg-boss-native does not use node-postgres clients"),
    ("log", "pg-boss-native's pool does not log through node-postgres"),
    ("verify", "pg-boss-native's pool does not call node-postgres hooks"),
    ("onConnect", "pg-boss-native's pool does not call node-postgres hooks"),
    ("connection", "pg-boss-native opens its own connections"),
    ("scramMaxIterations", "the native SCRAM client has no iteration limit to set"),
];

/// `ssl` object keys that are honoured; any other is refused (Node would honour it).
const SSL_KEYS: [&str; 9] = [
    "rejectUnauthorized",
    "ca",
    "cert",
    "key",
    "passphrase",
    "servername",
    "minVersion",
    "maxVersion",
    "checkServerIdentity",
];

fn refuse_unsupported(outer: &Object) -> Result<()> {
    for (key, why) in UNSUPPORTED {
        if js::truthy(outer.get(key)) {
            return Err(refused(format!(
                "the node-postgres option {key} is not supported: {why}"
            )));
        }
    }
    if js::truthy(outer.get("enableChannelBinding")) {
        return Err(refused(
            "enableChannelBinding is not supported yet: pg-boss-native authenticates with SCRAM-SHA-256 without channel binding, as node-postgres does by default",
        ));
    }
    Ok(())
}

/// `val(key, config, envVar)` of node-postgres: the option when truthy, else the variable.
fn val(merged: &Object, key: &str, env_var: Option<&str>, env: Env) -> Option<Value> {
    match merged.get(key) {
        Some(v) if js::truthy(Some(v)) => Some(v.clone()),
        _ => env_var
            .and_then(env)
            .filter(|v| !v.is_empty())
            .map(Value::String),
    }
}

fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => js::display(Some(other)),
    }
}

/// `parseInt(value, 10)`: leading digits (and sign), `None` where JS gives NaN.
fn parse_int(v: &Value) -> Option<i64> {
    let s = string_of(v);
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

fn millis_setting(merged: &Object, key: &str) -> Result<Option<i64>> {
    match val(merged, key, None, &|_| None) {
        None => Ok(None),
        Some(v) => parse_int(&v)
            .map(Some)
            .ok_or_else(|| refused(format!("{key} must be a number of milliseconds"))),
    }
}

/// A positive number of milliseconds from a truthy option, as `setTimeout` reads it.
fn duration_ms(v: Option<&Value>, key: &str) -> Result<Option<Duration>> {
    if !js::truthy(v) {
        return Ok(None);
    }
    let n = v.map(js::to_number).unwrap_or(f64::NAN);
    if !n.is_finite() || n < 0.0 {
        return Err(refused(format!("{key} must be a number of milliseconds")));
    }
    Ok(Some(Duration::from_millis(n as u64)))
}

fn pem_texts(v: &Value, what: &str) -> Result<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(refused(format!(
                    "{what} must be PEM text, a Buffer, or an array of them"
                ))),
            })
            .collect(),
        _ => Err(refused(format!(
            "{what} must be PEM text, a Buffer, or an array of them"
        ))),
    }
}

fn one_pem(obj: &Object, key: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if js::is_undefined(Some(v)) => Ok(None),
        Some(v) => {
            let texts = pem_texts(v, &format!("ssl.{key}"))?;
            match texts.len() {
                0 => Ok(None),
                1 => Ok(texts.into_iter().next()),
                _ => Err(refused(format!(
                    "ssl.{key} takes one PEM text (several are not supported)"
                ))),
            }
        }
    }
}

fn version(obj: &Object, key: &str) -> Result<Option<TlsVersion>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => TlsVersion::parse(s).map(Some).ok_or_else(|| {
            refused(format!(
                "ssl.{key} must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"
            ))
        }),
        Some(_) => Err(refused(format!("ssl.{key} must be a string"))),
    }
}

/// The `ssl` value as node-postgres hands it to `tls.connect`, or `None` for no TLS.
fn tls_settings(ssl: &Value, direct: bool, env: Env) -> Result<Option<TlsSettings>> {
    // Node's default for rejectUnauthorized, which NODE_TLS_REJECT_UNAUTHORIZED=0 turns off
    let node_default_verify = env("NODE_TLS_REJECT_UNAUTHORIZED").as_deref() != Some("0");
    let ssl = match ssl {
        Value::String(s) if s == "no-verify" => {
            serde_json::json!({ "rejectUnauthorized": false })
        }
        other => other.clone(),
    };
    if !js::truthy(Some(&ssl)) {
        return Ok(None);
    }
    let mut settings = TlsSettings {
        verify_chain: node_default_verify,
        verify_host: true,
        direct,
        ..TlsSettings::default()
    };
    // `true`, or any other truthy non-object (node-postgres copies nothing from it)
    let Value::Object(obj) = ssl else {
        return Ok(Some(settings));
    };
    for key in obj.keys() {
        if !SSL_KEYS.contains(&key.as_str()) && !js::is_undefined(obj.get(key)) {
            return Err(refused(format!(
                "ssl.{key} is not supported by pg-boss-native (it honours {})",
                SSL_KEYS.join(", ")
            )));
        }
    }
    match obj.get("rejectUnauthorized") {
        Some(Value::Bool(false)) => settings.verify_chain = false,
        Some(Value::Bool(true)) => settings.verify_chain = true,
        _ => {}
    }
    match obj.get("checkServerIdentity") {
        Some(Value::String(s)) if s == SKIP_HOST_CHECK => settings.verify_host = false,
        Some(v) if js::is_function(Some(v)) => {
            settings.verify_host = false;
            settings.identity_function = true;
        }
        _ => {}
    }
    settings.ca = match obj.get("ca") {
        None | Some(Value::Null) => None,
        Some(v) if js::is_undefined(Some(v)) => None,
        Some(v) => Some(pem_texts(v, "ssl.ca")?),
    };
    settings.cert = one_pem(&obj, "cert")?;
    settings.key = one_pem(&obj, "key")?;
    settings.passphrase = match obj.get("passphrase") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    settings.servername = match obj.get("servername") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    settings.min_version = version(&obj, "minVersion")?;
    settings.max_version = version(&obj, "maxVersion")?;
    Ok(Some(settings))
}

/// `PGSSLMODE` as node-postgres reads it when the options say nothing of `ssl`.
fn ssl_from_environment(env: Env) -> Value {
    match env("PGSSLMODE").as_deref() {
        Some("prefer" | "require" | "verify-ca" | "verify-full") => Value::Bool(true),
        Some("no-verify") => serde_json::json!({ "rejectUnauthorized": false }),
        _ => Value::Bool(false),
    }
}

fn pool_settings(outer: &Object) -> Result<PoolSettings> {
    let max = match outer
        .get("max")
        .filter(|v| js::truthy(Some(v)))
        .or_else(|| outer.get("poolSize").filter(|v| js::truthy(Some(v))))
    {
        Some(v) => {
            let n = js::to_number(v);
            if !(n.is_finite() && n >= 1.0) {
                return Err(refused("max must be at least 1"));
            }
            n as usize
        }
        None => 10,
    };
    let count = |key: &str| -> Result<Option<u64>> {
        match outer.get(key) {
            Some(v) if js::truthy(Some(v)) => {
                let n = js::to_number(v);
                if n.is_finite() && n >= 0.0 {
                    Ok(Some(n as u64))
                } else if n == f64::INFINITY {
                    Ok(None)
                } else {
                    Err(refused(format!("{key} must be a number")))
                }
            }
            _ => Ok(None),
        }
    };
    let idle_timeout = match outer.get("idleTimeoutMillis") {
        None => Some(Duration::from_millis(10_000)),
        v => duration_ms(v, "idleTimeoutMillis")?,
    };
    // pg-boss: `connectionTimeoutMillis ??= 10000`; 0 waits without limit, as pg-pool does
    let connection_timeout = match outer.get("connectionTimeoutMillis") {
        None | Some(Value::Null) => Some(Duration::from_millis(10_000)),
        v => duration_ms(v, "connectionTimeoutMillis")?,
    };
    Ok(PoolSettings {
        max,
        min: count("min")?.unwrap_or(0) as usize,
        idle_timeout,
        max_uses: count("maxUses")?,
        max_lifetime: count("maxLifetimeSeconds")?.map(Duration::from_secs),
        connection_timeout,
    })
}

/// The connection settings for the constructor's options (`outer`), as node-postgres would use,
/// with pg-boss's `application_name` default (`pgboss`).
pub fn resolve(outer: &Object, env: Env) -> Result<ConnectionSettings> {
    resolve_named(outer, env, "pgboss")
}

/// `resolve`, naming the connections `default_name` unless the options name them (pg-boss 12.38
/// names a registered instance's pool `pgboss:<id8>`; a connection string's `application_name`
/// still wins over either, as node-postgres reads the string last).
pub fn resolve_named(outer: &Object, env: Env, default_name: &str) -> Result<ConnectionSettings> {
    refuse_unsupported(outer)?;
    let mut merged = outer.clone();
    if !js::truthy(merged.get("application_name")) {
        merged.insert(
            "application_name".into(),
            Value::String(default_name.into()),
        );
    }
    if let Some(Value::String(s)) = outer.get("connectionString") {
        if !s.is_empty() {
            merged.extend(url::parse(s)?);
        }
    }

    let user = val(&merged, "user", Some("PGUSER"), env)
        .map(|v| string_of(&v))
        .or_else(|| env("USER").filter(|u| !u.is_empty()));
    let database = val(&merged, "database", Some("PGDATABASE"), env)
        .map(|v| string_of(&v))
        .or_else(|| user.clone());
    let port = match val(&merged, "port", Some("PGPORT"), env) {
        None => 5432,
        Some(v) => parse_int(&v)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| refused("port must be a number"))?,
    };
    let host = val(&merged, "host", Some("PGHOST"), env)
        .map(|v| string_of(&v))
        .unwrap_or_else(|| "localhost".into());
    let password = match val(&merged, "password", Some("PGPASSWORD"), env) {
        Some(v) if js::is_function(Some(&v)) => Password::Function(None),
        Some(v) => Password::Text(string_of(&v)),
        None => Password::Unset,
    };

    let negotiation =
        val(&merged, "sslnegotiation", Some("PGSSLNEGOTIATION"), env).map(|v| string_of(&v));
    if let Some(n) = negotiation.as_deref() {
        if n != "postgres" && n != "direct" {
            return Err(refused(format!(
                "Invalid sslnegotiation value: \"{n}\". Valid values are \"postgres\" and \"direct\"."
            )));
        }
    }
    let direct = negotiation.as_deref() == Some("direct");
    let ssl = match merged.get("ssl") {
        None => ssl_from_environment(env),
        Some(v) if js::is_undefined(Some(v)) => ssl_from_environment(env),
        Some(Value::String(s)) if s == "true" => Value::Bool(true),
        Some(v) => v.clone(),
    };
    let tls = tls_settings(&ssl, direct, env)?;
    if direct && tls.is_none() {
        return Err(refused("sslnegotiation=direct requires SSL to be enabled"));
    }

    if let Some(encoding) = val(&merged, "client_encoding", Some("PGCLIENT_ENCODING"), env) {
        let e = string_of(&encoding).to_ascii_lowercase().replace('-', "");
        if e != "utf8" {
            return Err(refused(format!(
                "client_encoding {} is not supported: pg-boss-native speaks UTF8",
                string_of(&encoding)
            )));
        }
    }
    if val(&merged, "replication", Some("PGREPLICATION"), env).is_some() {
        return Err(refused("replication connections are not supported"));
    }
    if val(&merged, "binary", Some("PGBINARY"), env).is_some_and(|v| string_of(&v) != "false") {
        return Err(refused(
            "binary is not supported: getDb().executeSql() returns values as node-postgres does in text mode",
        ));
    }

    let keepalive = if js::truthy(outer.get("keepAlive")) {
        Some(
            duration_ms(
                outer.get("keepAliveInitialDelayMillis"),
                "keepAliveInitialDelayMillis",
            )?
            .unwrap_or_default(),
        )
    } else {
        None
    };

    let connector = tls.as_ref().map(super::tls::Connector::new).transpose()?;
    Ok(ConnectionSettings {
        host,
        port,
        user,
        database,
        password,
        application_name: val(&merged, "application_name", None, env).map(|v| string_of(&v)),
        options: val(&merged, "options", Some("PGOPTIONS"), env).map(|v| string_of(&v)),
        statement_timeout: millis_setting(&merged, "statement_timeout")?,
        lock_timeout: millis_setting(&merged, "lock_timeout")?,
        idle_in_transaction_session_timeout: millis_setting(
            &merged,
            "idle_in_transaction_session_timeout",
        )?,
        query_timeout: duration_ms(
            val(&merged, "query_timeout", None, env).as_ref(),
            "query_timeout",
        )?,
        keepalive,
        tls,
        connector,
        pool: pool_settings(outer)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::FUNCTION;
    use serde_json::json;

    fn resolve_with(options: Value, vars: &[(&str, &str)]) -> Result<ConnectionSettings> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        resolve(options.as_object().unwrap(), &env)
    }

    #[test]
    fn a_connection_string_replaces_the_options_beside_it() {
        let s = resolve_with(
            json!({ "connectionString": "postgres://ann@db:6000/app", "host": "other", "port": 1, "user": "bob" }),
            &[],
        )
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_deref()),
            ("db", 6000, Some("ann"))
        );
        // what the string leaves out falls back to the PG* variables, not to the options
        let s = resolve_with(
            json!({ "connectionString": "postgres:///app", "host": "other", "database": "x" }),
            &[("PGHOST", "envhost"), ("USER", "osuser")],
        )
        .unwrap();
        assert_eq!(
            (
                s.host.as_str(),
                s.port,
                s.user.as_deref(),
                s.database.as_deref()
            ),
            ("envhost", 5432, Some("osuser"), Some("app"))
        );
    }

    #[test]
    fn defaults_follow_node_postgres_and_pg_boss() {
        let s = resolve_with(json!({}), &[("USER", "me")]).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("localhost", 5432));
        assert_eq!(s.database.as_deref(), Some("me"));
        assert_eq!(s.application_name.as_deref(), Some("pgboss"));
        assert!(s.tls.is_none() && s.keepalive.is_none());
        assert_eq!(s.pool.max, 10);
        assert_eq!(s.pool.idle_timeout, Some(Duration::from_secs(10)));
        assert_eq!(s.pool.connection_timeout, Some(Duration::from_secs(10)));
    }

    #[test]
    fn ssl_values() {
        let tls = |v: Value, vars: &[(&str, &str)]| resolve_with(v, vars).unwrap().tls;
        assert!(tls(json!({ "ssl": false }), &[("PGSSLMODE", "require")]).is_none());
        let t = tls(json!({ "ssl": true }), &[]).unwrap();
        assert!(t.verify_chain && t.verify_host);
        let t = tls(json!({}), &[("PGSSLMODE", "no-verify")]).unwrap();
        assert!(!t.verify_chain);
        assert!(tls(json!({}), &[("PGSSLMODE", "disable")]).is_none());
        let t = tls(json!({ "ssl": { "rejectUnauthorized": false } }), &[]).unwrap();
        assert!(!t.verify_chain);
        let t = tls(
            json!({ "ssl": {} }),
            &[("NODE_TLS_REJECT_UNAUTHORIZED", "0")],
        )
        .unwrap();
        assert!(!t.verify_chain);
        let t = tls(
            json!({ "connectionString": "postgres://h/d?sslmode=require" }),
            &[],
        )
        .unwrap();
        assert!(t.verify_chain && t.verify_host);
        let t = tls(
            json!({ "connectionString": "postgres://h/d?ssl=no-verify" }),
            &[],
        )
        .unwrap();
        assert!(!t.verify_chain);
        // a string node-postgres does not know still turns TLS on, fully verified
        let t = tls(json!({ "ssl": "false" }), &[]).unwrap();
        assert!(t.verify_chain);
    }

    #[test]
    fn what_cannot_be_honoured_is_refused() {
        let message = |v: Value| resolve_with(v, &[]).unwrap_err().message;
        assert!(message(json!({ "ssl": { "pfx": "x" } })).contains("ssl.pfx is not supported"));
        assert!(message(json!({ "types": { "getTypeParser": FUNCTION } }))
            .contains("types is not supported"));
        assert!(message(json!({ "client_encoding": "LATIN1" })).contains("LATIN1"));
        assert!(message(json!({ "ssl": { "maxVersion": "TLSv1.4" } })).contains("maxVersion"));
        assert_eq!(
            message(json!({ "sslnegotiation": "direct" })),
            "configuration assert: sslnegotiation=direct requires SSL to be enabled"
        );
    }

    #[test]
    fn session_settings_become_server_options() {
        let s = resolve_with(
            json!({ "options": "-c search_path=x", "statement_timeout": 5000, "connectionString": "postgres://h/d?lock_timeout=200" }),
            &[],
        )
        .unwrap();
        assert_eq!(
            s.server_options().as_deref(),
            Some("-c search_path=x -c statement_timeout=5000 -c lock_timeout=200")
        );
    }
}

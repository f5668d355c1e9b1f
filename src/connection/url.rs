//! Connection strings as pg-connection-string 2.x (node-postgres 8.x) parses them.
//!
//! The result is the object `parse()` returns there: every query parameter as a string, then
//! `user`, `password`, `host`, `port` and `database` (empty or null when the string has none), and
//! `ssl` when the string asks for TLS. The caller lays it over the constructor options, as
//! node-postgres does (`Object.assign({}, config, parse(connectionString))`), so an empty value
//! here still replaces an option given beside the string.

use crate::error::{BossError, Result};
use crate::js::Object;
use serde_json::Value;

/// `ssl.checkServerIdentity` set to a function that checks nothing (libpq's `verify-ca`).
pub const SKIP_HOST_CHECK: &str = "\u{0}skip-host-check";

fn invalid(message: impl std::fmt::Display) -> BossError {
    BossError::assertion(format!(
        "configuration assert: invalid connectionString: {message}"
    ))
}

/// `decodeURIComponent`: every `%XX` decoded. Malformed escapes or UTF-8 are refused, as JS throws.
fn decode_component(s: &str) -> Result<String> {
    decode(s, |_| true)
}

/// `decodeURI`: like `decodeURIComponent`, but escapes of URI delimiters stay as they are.
fn decode_uri(s: &str) -> Result<String> {
    decode(s, |b| !b";/?:@&=+$,#".contains(&b))
}

fn decode(s: &str, decodes: impl Fn(u8) -> bool) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid("URI malformed"))?;
            if hex < 0x80 && !decodes(hex) {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(hex);
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("URI malformed"))
}

/// `encodeURI(str).replace(/%25(\d\d)/g, '%$1')`: what pg-connection-string does to a string with
/// spaces or stray `%` before handing it to `URL`.
fn encode_uri_keeping_escapes(s: &str) -> String {
    const KEEP: &[u8] = b";,/?:@&=+$-_.!~*'()#";
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let mut buf = [0u8; 4];
        let encoded = ch.encode_utf8(&mut buf);
        if ch.is_ascii_alphanumeric() || (ch.is_ascii() && KEEP.contains(&(ch as u8))) {
            out.push(ch);
        } else {
            for b in encoded.bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    // `%25` followed by two digits was an escape already: put it back
    let bytes = out.as_bytes();
    let mut fixed = String::with_capacity(out.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"%25")
            && bytes.get(i + 3).is_some_and(u8::is_ascii_digit)
            && bytes.get(i + 4).is_some_and(u8::is_ascii_digit)
        {
            fixed.push('%');
            i += 3;
        } else {
            fixed.push(bytes[i] as char);
            i += 1;
        }
    }
    fixed
}

fn needs_encoding(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b' '
            || (c == b'%'
                && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)))
    })
}

fn text(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn read_file(param: &str, path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        BossError::assertion(format!(
            "configuration assert: cannot read {param} file {path}: {e}"
        ))
    })
}

/// `parse(str)` of pg-connection-string.
pub fn parse(input: &str) -> Result<Object> {
    let mut config = Object::new();
    // a unix socket directory and, after a space, the database
    if let Some(rest) = input.strip_prefix('/') {
        let mut parts = rest.split(' ');
        let host = format!("/{}", parts.next().unwrap_or(""));
        config.insert("host".into(), Value::String(host));
        config.insert(
            "database".into(),
            parts
                .next()
                .map_or(Value::Null, |d| Value::String(d.into())),
        );
        return Ok(config);
    }

    let source = if needs_encoding(input) {
        encode_uri_keeping_escapes(input)
    } else {
        input.to_string()
    };
    let base = url::Url::parse("postgres://base").map_err(invalid)?;
    let parser = url::Url::options().base_url(Some(&base));
    let (parsed, dummy_host) = match parser.parse(&source) {
        Ok(u) => (u, false),
        // `postgres://user@/db`: URL wants a host, so parse it with a stand-in
        Err(_) => match parser.parse(&source.replacen("@/", "@___DUMMY___/", 1)) {
            Ok(u) => (u, true),
            Err(e) => return Err(invalid(e)),
        },
    };

    for (key, value) in parsed.query_pairs() {
        config.insert(key.into_owned(), Value::String(value.into_owned()));
    }
    let user = match text(config.get("user")) {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => decode_component(parsed.username())?,
    };
    config.insert("user".into(), Value::String(user));
    let password = match text(config.get("password")) {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => decode_component(parsed.password().unwrap_or(""))?,
    };
    config.insert("password".into(), Value::String(password));

    if parsed.scheme() == "socket" {
        config.insert("host".into(), Value::String(decode_uri(parsed.path())?));
        let param = |name: &str| {
            parsed
                .query_pairs()
                .find(|(k, _)| k == name)
                .map_or(Value::Null, |(_, v)| Value::String(v.into_owned()))
        };
        config.insert("database".into(), param("db"));
        config.insert("client_encoding".into(), param("encoding"));
        return Ok(config);
    }

    let raw_host = if dummy_host {
        String::new()
    } else {
        parsed.host_str().unwrap_or("").to_string()
    };
    let hostname = raw_host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map(str::to_string)
        .unwrap_or(raw_host);
    let mut pathname = parsed.path().to_string();
    if text(config.get("host")).is_none_or(|h| h.is_empty()) {
        config.insert("host".into(), Value::String(decode_component(&hostname)?));
    } else if hostname.to_ascii_lowercase().starts_with("%2f") {
        pathname = format!("{hostname}{pathname}");
    }
    if text(config.get("port")).is_none_or(|p| p.is_empty()) {
        let port = parsed.port().map(|p| p.to_string()).unwrap_or_default();
        config.insert("port".into(), Value::String(port));
    }
    let database = pathname.get(1..).unwrap_or("");
    config.insert(
        "database".into(),
        if database.is_empty() {
            Value::Null
        } else {
            Value::String(decode_uri(database)?)
        },
    );

    match text(config.get("ssl")) {
        Some("true") | Some("1") => {
            config.insert("ssl".into(), Value::Bool(true));
        }
        Some("0") => {
            config.insert("ssl".into(), Value::Bool(false));
        }
        _ => {}
    }
    let sslmode = text(config.get("sslmode")).map(str::to_string);
    let has = |k: &str| text(config.get(k)).is_some_and(|v| !v.is_empty());
    let has_rootcert = has("sslrootcert");
    if has("sslcert") || has("sslkey") || has_rootcert || has("sslmode") {
        config.insert("ssl".into(), Value::Object(Object::new()));
    }
    if text(config.get("sslnegotiation")) == Some("direct") && !config.contains_key("ssl") {
        config.insert("ssl".into(), Value::Bool(true));
    }
    let mut ssl_files = Object::new();
    for (param, field) in [
        ("sslcert", "cert"),
        ("sslkey", "key"),
        ("sslrootcert", "ca"),
    ] {
        if let Some(path) = text(config.get(param)).filter(|p| !p.is_empty()) {
            ssl_files.insert(field.into(), Value::String(read_file(param, path)?));
        }
    }

    if let Some(Value::Object(o)) = config.get_mut("ssl") {
        o.extend(ssl_files.clone());
    }
    let set = |config: &mut Object, key: &str, value: Value| {
        if let Some(Value::Object(o)) = config.get_mut("ssl") {
            o.insert(key.into(), value);
        }
    };
    let libpq = text(config.get("uselibpqcompat")) == Some("true");
    match (sslmode.as_deref(), libpq) {
        (Some("disable"), _) => {
            config.insert("ssl".into(), Value::Bool(false));
        }
        // libpq's meanings (`uselibpqcompat=true`)
        (Some("prefer"), true) => set(&mut config, "rejectUnauthorized", Value::Bool(false)),
        (Some("require"), true) if has_rootcert => {
            set(&mut config, "checkServerIdentity", SKIP_HOST_CHECK.into())
        }
        (Some("require"), true) => set(&mut config, "rejectUnauthorized", Value::Bool(false)),
        (Some("verify-ca"), true) => {
            if !ssl_files.contains_key("ca") {
                return Err(BossError::assertion(
                    "configuration assert: SECURITY WARNING: Using sslmode=verify-ca requires specifying a CA with sslrootcert. \
                     If a public CA is used, verify-ca allows connections to a server that somebody else may have registered with the CA, \
                     making you vulnerable to Man-in-the-Middle attacks. Either specify a custom CA certificate with sslrootcert parameter \
                     or use sslmode=verify-full for proper security.",
                ));
            }
            set(&mut config, "checkServerIdentity", SKIP_HOST_CHECK.into())
        }
        // without it, prefer, require and verify-ca verify as verify-full does (pg-connection-string 2.x)
        (Some("no-verify"), false) => set(&mut config, "rejectUnauthorized", Value::Bool(false)),
        _ => {}
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Value {
        Value::Object(parse(s).unwrap())
    }

    #[test]
    fn url_parts_and_parameters() {
        assert_eq!(
            p("postgres://ann:s%40cret@db.example.com:6543/my%20db?application_name=x&statement_timeout=5"),
            json!({
                "application_name": "x", "statement_timeout": "5", "user": "ann", "password": "s@cret",
                "host": "db.example.com", "port": "6543", "database": "my db"
            })
        );
    }

    #[test]
    fn empty_parts_are_still_present() {
        assert_eq!(
            p("postgres:///"),
            json!({ "user": "", "password": "", "host": "", "port": "", "database": null })
        );
        assert_eq!(
            p("postgres://someone@/thedb"),
            json!({ "user": "someone", "password": "", "host": "", "port": "", "database": "thedb" })
        );
    }

    #[test]
    fn socket_forms() {
        assert_eq!(
            p("/var/run/pg mydb"),
            json!({ "host": "/var/run/pg", "database": "mydb" })
        );
        assert_eq!(
            p("socket:/var/run/pg?db=mydb&encoding=utf8"),
            json!({ "db": "mydb", "encoding": "utf8", "user": "", "password": "", "host": "/var/run/pg", "database": "mydb", "client_encoding": "utf8" })
        );
        assert_eq!(
            p("postgres://u@%2Fvar%2Frun%2Fpg/db")["host"],
            json!("/var/run/pg")
        );
        assert_eq!(p("postgres:///db?host=/tmp/s")["host"], json!("/tmp/s"));
    }

    #[test]
    fn ipv6_host_loses_its_brackets() {
        assert_eq!(p("postgres://[::1]:5433/db")["host"], json!("::1"));
    }

    #[test]
    fn sslmodes_as_pg_connection_string_reads_them() {
        assert_eq!(p("postgres://h/db?sslmode=disable")["ssl"], json!(false));
        assert_eq!(p("postgres://h/db?sslmode=require")["ssl"], json!({}));
        assert_eq!(
            p("postgres://h/db?sslmode=no-verify")["ssl"],
            json!({ "rejectUnauthorized": false })
        );
        assert_eq!(p("postgres://h/db?ssl=true")["ssl"], json!(true));
        assert_eq!(p("postgres://h/db?ssl=0")["ssl"], json!(false));
        assert_eq!(
            p("postgres://h/db?ssl=no-verify")["ssl"],
            json!("no-verify")
        );
        assert_eq!(
            p("postgres://h/db?uselibpqcompat=true&sslmode=require")["ssl"],
            json!({ "rejectUnauthorized": false })
        );
        assert_eq!(
            p("postgres://h/db?uselibpqcompat=true&sslmode=prefer")["ssl"],
            json!({ "rejectUnauthorized": false })
        );
        assert_eq!(
            p("postgres://h/db?uselibpqcompat=true&sslmode=verify-full")["ssl"],
            json!({})
        );
        assert!(
            parse("postgres://h/db?uselibpqcompat=true&sslmode=verify-ca")
                .unwrap_err()
                .message
                .contains("sslrootcert")
        );
        assert_eq!(
            p("postgres://h/db?sslnegotiation=direct")["ssl"],
            json!(true)
        );
    }

    #[test]
    fn certificate_files_are_read() {
        let dir = std::env::temp_dir().join(format!("pgbn-url-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "CA PEM").unwrap();
        let s = format!(
            "postgres://h/db?uselibpqcompat=true&sslmode=verify-ca&sslrootcert={}",
            ca.display()
        );
        assert_eq!(
            p(&s)["ssl"],
            json!({ "ca": "CA PEM", "checkServerIdentity": SKIP_HOST_CHECK })
        );
        let missing = parse("postgres://h/db?sslcert=/nonexistent/cert.pem").unwrap_err();
        assert!(missing
            .message
            .contains("sslcert file /nonexistent/cert.pem"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn spaces_and_stray_percent_are_encoded_first() {
        assert_eq!(p("postgres://u:pa ss@h/db")["password"], json!("pa ss"));
        assert_eq!(p("postgres://u:100%@h/db")["password"], json!("100%"));
        assert_eq!(p("postgres://h/a%2Fb")["database"], json!("a%2Fb"));
    }
}

//! Schema and queue names: validation before anything reaches SQL, and the names pg-boss derives
//! from them (quoted identifier, advisory-lock key, NOTIFY channel).

use crate::error::{ensure, Result};

pub const DEFAULT_SCHEMA: &str = "pgboss";

/// A validated schema name as configured, plus the spellings SQL needs.
#[derive(Debug, Clone)]
pub struct SchemaName {
    /// The configured value, quotes included; interpolated verbatim into identifier positions.
    pub ident: String,
    /// The name the catalog stores (`pg_namespace.nspname`).
    pub resolved: String,
    /// The spelling hashed into advisory-lock keys and the NOTIFY channel. Only quoting that carries
    /// no meaning is removed, so every pg-boss release derives the same values.
    pub normalized: String,
    /// Whether pg-boss's advisory locks serialize the statements that take one. False where the
    /// backend has none (`noAdvisoryLocks`: cockroachdb, yugabytedb): those statements then run
    /// unlocked, as pg-boss 12.38 runs them there.
    pub advisory_locks: bool,
}

fn is_quoted(name: &str) -> bool {
    name.len() > 1 && name.starts_with('"') && name.ends_with('"')
}

fn quoted_name_problem(resolved: &str) -> Option<&'static str> {
    if resolved.contains('"') {
        Some("cannot contain double quotes")
    } else if resolved.contains('\'') {
        Some("cannot contain single quotes")
    } else if resolved.contains('%') {
        Some("cannot contain percent signs")
    } else if resolved.contains('$') {
        Some("cannot contain dollar signs")
    } else if resolved.contains('.') {
        Some("cannot contain periods")
    } else if resolved.contains('\\') {
        Some("cannot contain backslashes")
    } else if resolved
        .chars()
        .any(|c| (c as u32) < 0x20 || c as u32 == 0x7f)
    {
        Some("cannot contain control characters")
    } else {
        None
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `JSON.stringify` of a string, for messages that quote the name.
fn js_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

impl SchemaName {
    pub fn parse(name: &str) -> Result<SchemaName> {
        let quoted = is_quoted(name);
        let resolved = if quoted {
            &name[1..name.len() - 1]
        } else {
            name
        };
        ensure(!resolved.is_empty(), "Name cannot be empty")?;
        ensure(resolved.len() <= 50, "Name cannot exceed 50 bytes")?;
        if quoted {
            if let Some(problem) = quoted_name_problem(resolved) {
                return Err(crate::error::BossError::assertion(format!(
                    "Quoted name {problem}"
                )));
            }
        } else {
            let remedy = match quoted_name_problem(name) {
                None => format!(" Pass it quoted to use it verbatim: schema: '\"{name}\"'"),
                Some(problem) => format!(" Quoting will not help: a quoted name {problem}."),
            };
            ensure(
                name.chars().all(is_word_char),
                format!(
                    "Schema name {} can only contain alphanumeric characters or underscores when unquoted.{remedy}",
                    js_quote(name)
                ),
            )?;
            ensure(
                !name.starts_with(|c: char| c.is_ascii_digit()),
                format!(
                    "Schema name {} cannot start with a number when unquoted.{remedy}",
                    js_quote(name)
                ),
            )?;
        }
        let redundantly_quoted = quoted && {
            let inner = resolved;
            inner.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && inner
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        Ok(SchemaName {
            ident: name.to_string(),
            resolved: if quoted {
                resolved.to_string()
            } else {
                name.to_lowercase()
            },
            normalized: if redundantly_quoted {
                resolved.to_string()
            } else {
                name.to_string()
            },
            advisory_locks: true,
        })
    }

    /// The same schema, addressed without advisory locks (`noAdvisoryLocks`).
    pub fn without_advisory_locks(mut self) -> SchemaName {
        self.advisory_locks = false;
        self
    }

    /// An expression that takes the transaction advisory lock for `key` (waiting for it), or
    /// `NULL` without advisory locks.
    pub fn lock_sql(&self, key: &str) -> String {
        if self.advisory_locks {
            format!("pg_advisory_xact_lock({})", self.advisory_key_sql(key))
        } else {
            "NULL".into()
        }
    }

    /// An expression that tries the transaction advisory lock for `key`: whether it was got;
    /// always `true` without advisory locks.
    pub fn try_lock_sql(&self, key: &str) -> String {
        if self.advisory_locks {
            format!("pg_try_advisory_xact_lock({})", self.advisory_key_sql(key))
        } else {
            "true".into()
        }
    }

    /// SQL expression for the transaction advisory-lock key pg-boss uses for `key`.
    pub fn advisory_key_sql(&self, key: &str) -> String {
        format!(
            "('x' || encode(sha224((current_database() || '.pgboss.{}{}')::bytea), 'hex'))::bit(64)::bigint",
            self.normalized, key
        )
    }

    /// The LISTEN/NOTIFY channel shared with pg-boss.
    pub fn notify_channel(&self) -> String {
        use sha2::{Digest, Sha224};
        let digest = hex::encode(Sha224::digest(self.normalized.as_bytes()));
        format!("pgboss_{}", &digest[..24])
    }

    /// `resolved` as a SQL string literal.
    pub fn resolved_literal(&self) -> String {
        format!("'{}'", self.resolved.replace('\'', "''"))
    }
}

pub const QUEUE_NAME_RULE: &str =
    "can only contain alphanumeric characters, underscores, hyphens, periods, or forward slashes";

fn is_object_name(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

/// `assertObjectName(value, label)`.
pub fn assert_object_name(value: &str, label: &str) -> Result<()> {
    ensure(is_object_name(value), format!("{label} {QUEUE_NAME_RULE}"))
}

/// `assertQueueName(name)`: the only gate a queue name passes before it is inlined into SQL.
pub fn assert_queue_name(name: Option<&serde_json::Value>) -> Result<String> {
    use serde_json::Value;
    ensure(crate::js::truthy(name), "Name is required")?;
    match name {
        Some(Value::String(s)) => {
            assert_object_name(s, "Name")?;
            Ok(s.clone())
        }
        _ => Err(crate::error::BossError::assertion("Name must be a string")),
    }
}

/// Physical table a partitioned queue gets: `j` + sha224(name) in hex.
pub fn partition_table_name(queue: &str) -> String {
    use sha2::{Digest, Sha224};
    format!("j{}", hex::encode(Sha224::digest(queue.as_bytes())))
}

/// Physical table names come from the queue row; they are only ever `job_common`, `job` or
/// `j<hex>`. Checked before interpolation so a tampered row cannot inject SQL.
pub fn assert_table_name(table: &str) -> Result<()> {
    let ok = table == "job_common"
        || table == "job"
        || (table.len() == 57
            && table.starts_with('j')
            && table[1..].chars().all(|c| c.is_ascii_hexdigit()));
    ensure(ok, format!("unexpected job table name {table}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_schema_names_are_kept_verbatim_for_hashing() {
        let s = SchemaName::parse("MySchema").unwrap();
        assert_eq!(s.resolved, "myschema");
        assert_eq!(s.normalized, "MySchema");
        let q = SchemaName::parse("\"pgboss\"").unwrap();
        assert_eq!(q.normalized, "pgboss");
        assert_eq!(q.resolved, "pgboss");
    }

    #[test]
    fn bad_schema_names_get_pg_boss_messages() {
        let e = SchemaName::parse("my-schema").unwrap_err();
        assert_eq!(
            e.message,
            "Schema name \"my-schema\" can only contain alphanumeric characters or underscores when unquoted. Pass it quoted to use it verbatim: schema: '\"my-schema\"'"
        );
        let e = SchemaName::parse("1abc").unwrap_err();
        assert!(e
            .message
            .contains("cannot start with a number when unquoted"));
        assert_eq!(
            SchemaName::parse("\"a.b\"").unwrap_err().message,
            "Quoted name cannot contain periods"
        );
        assert_eq!(
            SchemaName::parse("\"\"").unwrap_err().message,
            "Name cannot be empty"
        );
    }

    #[test]
    fn notify_channel_is_sha224_prefix() {
        // sha224("pgboss") starts with this prefix; pg-boss derives the same channel in SQL.
        let s = SchemaName::parse("pgboss").unwrap();
        assert_eq!(s.notify_channel().len(), "pgboss_".len() + 24);
    }

    #[test]
    fn queue_names_are_validated() {
        use serde_json::json;
        assert!(assert_queue_name(Some(&json!("a.b/c-d_e"))).is_ok());
        assert_eq!(
            assert_queue_name(Some(&json!("a b"))).unwrap_err().message,
            format!("Name {QUEUE_NAME_RULE}")
        );
        assert_eq!(
            assert_queue_name(None).unwrap_err().message,
            "Name is required"
        );
        assert_eq!(
            assert_queue_name(Some(&json!(5))).unwrap_err().message,
            "Name must be a string"
        );
        assert_eq!(partition_table_name("q").len(), 57);
    }
}

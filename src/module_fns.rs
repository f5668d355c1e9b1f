//! The plan functions pg-boss exports beside the class: `getUninstallPlans` and
//! `getIndexBloatPlans` (SQL text, from our plans). Arguments arrive as a JSON array, answers
//! leave as JSON text, like `api::call`. (`addBins` and `percentile` are lib/latency.js.)

use crate::config::BACKENDS;
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use crate::names::{SchemaName, DEFAULT_SCHEMA};
use serde_json::Value;

fn schema_arg(args: &[Value]) -> Result<SchemaName> {
    match args.first() {
        Some(Value::String(s)) if !s.is_empty() => SchemaName::parse(s),
        Some(v) if js::truthy(Some(v)) => Err(BossError::assertion("Name must be a string")),
        _ => SchemaName::parse(DEFAULT_SCHEMA),
    }
}

fn options_arg(args: &[Value]) -> Object {
    match args.get(1) {
        Some(Value::Object(o)) => js::defined(o),
        _ => Object::new(),
    }
}

pub fn call(method: &str, args: &[Value]) -> Result<String> {
    match method {
        "getUninstallPlans" => {
            let schema = schema_arg(args)?;
            let options = options_arg(args);
            let backend = match options.get("backend") {
                None => "postgres".to_string(),
                Some(v) => js::display(Some(v)),
            };
            ensure(
                BACKENDS.contains(&backend.as_str()),
                format!(
                    "configuration assert: backend must be one of {}",
                    BACKENDS.join(", ")
                ),
            )?;
            let partitioned = !matches!(backend.as_str(), "cockroachdb" | "yugabytedb");
            Ok(Value::String(crate::plans::schema::uninstall(&schema, partitioned)).to_string())
        }
        "getIndexBloatPlans" => {
            let schema = schema_arg(args)?;
            let thresholds = crate::reindex::thresholds(&options_arg(args))?;
            Ok(Value::String(crate::plans::reindex::job_indexes(
                &schema,
                Some(thresholds),
            ))
            .to_string())
        }
        // (internal, for the CLI) the schema versions a migration starts from and reaches
        "migratableVersions" => Ok(serde_json::json!({
            "oldest": crate::plans::migrate::OLDEST_MIGRATABLE,
            "latest": crate::plans::schema::SCHEMA_VERSION,
        })
        .to_string()),
        other => Err(BossError::operational(format!("unknown function {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uninstall_drops_what_the_install_creates_and_checks_the_backend() {
        let sql: String =
            serde_json::from_str(&call("getUninstallPlans", &[json!("foo")]).unwrap()).unwrap();
        assert!(sql.contains("DROP TABLE IF EXISTS foo.bam, foo.instance, foo.job, foo.job_common"));
        assert!(sql.contains("foo.job_table_run_async(text, integer, text, text, text)"));
        assert!(sql.ends_with("DROP TYPE IF EXISTS foo.job_state;"));
        let err = call(
            "getUninstallPlans",
            &[json!(null), json!({"backend": "mysql"})],
        )
        .unwrap_err();
        assert!(err
            .message
            .starts_with("configuration assert: backend must be one of"));
    }
}

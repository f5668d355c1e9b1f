//! The plan functions pg-boss exports beside the class: `getUninstallPlans` and
//! `getIndexBloatPlans` (SQL text, from our plans). Arguments arrive as a JSON array, answers
//! leave as JSON text, like `api::call`. (`addBins` and `percentile` are lib/latency.js.)

use crate::backend::Profile;
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

/// A plan function's `backend` option: postgres when absent, else one of the profiles.
fn backend_arg(backend: Option<String>) -> Result<String> {
    let backend = backend.unwrap_or_else(|| "postgres".to_string());
    ensure(
        BACKENDS.contains(&backend.as_str()),
        format!(
            "configuration assert: backend must be one of {}",
            BACKENDS.join(", ")
        ),
    )?;
    Ok(backend)
}

/// `getConstructionPlans(schema, { createSchema, backend })`: the install for that backend's
/// layout, locked as that backend locks it. (pg-boss prints CockroachDB's inline index syntax for
/// `backend: 'cockroachdb'`; ours is the same objects as separate statements, valid on both.)
pub fn construction_plans(
    schema: Option<String>,
    create_schema: bool,
    backend: Option<String>,
) -> Result<String> {
    let schema = SchemaName::parse(schema.as_deref().unwrap_or(DEFAULT_SCHEMA))?;
    let profile = Profile::of(&backend_arg(backend)?);
    let schema = if profile.no_advisory_locks {
        schema.without_advisory_locks()
    } else {
        schema
    };
    Ok(crate::plans::schema_flat::install_for(
        &schema,
        create_schema,
        profile,
    ))
}

/// `getMigrationPlans`/`getRollbackPlans` with a `backend`: our steps are the partitioned
/// layout's, so a backend whose install is the non-partitioned one is refused rather than given
/// steps for the other layout.
pub fn assert_plan_backend(function: &str, backend: Option<String>) -> Result<()> {
    let backend = backend_arg(backend)?;
    if Profile::of(&backend).no_table_partitioning {
        return Err(BossError::operational(format!(
            "{function}: pg-boss-native has no upgrade steps for the non-partitioned layout \
             (noTablePartitioning) that backend '{backend}' installs; use pg-boss 12.38's \
             {function}(schema, version, {{ backend: '{backend}' }})"
        )));
    }
    Ok(())
}

pub fn call(method: &str, args: &[Value]) -> Result<String> {
    match method {
        "getUninstallPlans" => {
            let schema = schema_arg(args)?;
            let options = options_arg(args);
            let backend = backend_arg(options.get("backend").map(|v| js::display(Some(v))))?;
            let partitioned = !Profile::of(&backend).no_table_partitioning;
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

//! The functions pg-boss exports beside the class: `getUninstallPlans`, `getIndexBloatPlans`
//! (SQL text, from our plans) and the histogram helpers `addBins` and `percentile` (see
//! `latency`). Arguments arrive as a JSON array, answers leave as JSON text, like `api::call`.

use crate::config::BACKENDS;
use crate::error::{ensure, BossError, Result};
use crate::js::{self, Object};
use crate::latency;
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

/// A histogram argument: an array of counts, or nothing.
fn bins_arg(v: Option<&Value>) -> Option<Vec<f64>> {
    match v {
        Some(Value::Array(items)) => Some(items.iter().map(js::to_number).collect()),
        _ => None,
    }
}

fn bins_json(bins: Option<Vec<f64>>) -> String {
    match bins {
        None => "null".into(),
        Some(b) => Value::Array(b.into_iter().map(number_json).collect()).to_string(),
    }
}

fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
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
        "addBins" => {
            let (a, b) = (bins_arg(args.first()), bins_arg(args.get(1)));
            Ok(bins_json(latency::add_bins(a.as_deref(), b.as_deref())))
        }
        "percentile" => {
            let p = args.get(1).and_then(Value::as_f64).unwrap_or(f64::NAN);
            let bins = bins_arg(args.first());
            let answer = latency::percentile(bins.as_deref(), p)?;
            Ok(answer.map(number_json).unwrap_or(Value::Null).to_string())
        }
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

    #[test]
    fn histogram_helpers_answer_as_pg_boss() {
        assert_eq!(
            call("addBins", &[json!([1, 2]), json!([3])]).unwrap(),
            "[4,2]"
        );
        assert_eq!(
            call("addBins", &[json!(null), json!(null)]).unwrap(),
            "null"
        );
        assert_eq!(
            call("percentile", &[json!([1, 0, 0]), json!(100)]).unwrap(),
            "0.01"
        );
        assert!(call("percentile", &[json!([1]), json!("5")])
            .unwrap_err()
            .is_assertion());
    }
}

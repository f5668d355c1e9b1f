//! JavaScript value semantics over `serde_json::Value`.
//!
//! pg-boss validates with JS operators (`in`, `Number.isInteger`, `>=` with coercion, truthiness).
//! Options reach the engine as JSON, so these helpers reproduce those operators on JSON values to
//! keep pg-boss's accept/reject decisions, and its messages, in one Rust place.

use serde_json::{Map, Value};

pub type Object = Map<String, Value>;

/// `key in obj` (JSON drops `undefined`, so a key present with `undefined` reads as absent).
pub fn has(obj: &Object, key: &str) -> bool {
    obj.contains_key(key)
}

/// An own property whose value is `undefined` (`{ retryLimit: undefined }`): JSON would drop the
/// key, but `key in obj` still holds in JS, so index.js sends this marker in its place.
pub const UNDEFINED: &str = "\u{0}undefined";

/// A function-valued argument or option: JSON cannot carry functions, so index.js sends this
/// marker in its place where pg-boss looks at one (a `send()` payload, `password`, ...).
pub const FUNCTION: &str = "\u{0}function";

/// A `Date` argument or option where pg-boss checks for one (`instanceof Date`): JSON would make
/// it a string like any other, so index.js sends this prefix and its ISO text (nothing after the
/// prefix for an invalid Date).
pub const DATE: &str = "\u{0}date:";

/// The ISO text of a valid `Date` marker, `None` for anything else (an invalid Date included).
pub fn as_date(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::String(s)) => s.strip_prefix(DATE).filter(|iso| !iso.is_empty()),
        _ => None,
    }
}

/// The value is the function marker.
pub fn is_function(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if s == FUNCTION)
}

/// The value is the `undefined` marker.
pub fn is_undefined(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if s == UNDEFINED)
}

/// The object without its `undefined` properties (what `JSON.stringify` would keep).
pub fn defined(obj: &Object) -> Object {
    obj.iter()
        .filter(|(_, v)| !is_undefined(Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// JS truthiness.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().map(|f| f != 0.0 && !f.is_nan()).unwrap_or(false),
        Some(Value::String(s)) => !s.is_empty() && s != UNDEFINED,
        Some(_) => true,
    }
}

/// `ToNumber(v)` for the relational operators.
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                0.0
            } else {
                t.parse::<f64>().unwrap_or(f64::NAN)
            }
        }
        Value::Array(a) if a.is_empty() => 0.0,
        Value::Array(a) if a.len() == 1 => to_number(&a[0]),
        _ => f64::NAN,
    }
}

/// `v >= n` in JS.
pub fn ge(v: Option<&Value>, n: f64) -> bool {
    match v {
        None => false,
        Some(v) => to_number(v) >= n,
    }
}

/// `Number.isInteger(v)`.
pub fn is_integer(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Number(n)) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .map(|f| f.fract() == 0.0 && f.is_finite())
                    .unwrap_or(false)
        }
        _ => false,
    }
}

pub fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

pub fn as_str(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// `typeof v === 'object'` (null included, as in JS).
pub fn is_object_like(v: Option<&Value>) -> bool {
    matches!(
        v,
        Some(Value::Object(_)) | Some(Value::Array(_)) | Some(Value::Null)
    )
}

/// `String(v)` for message interpolation.
pub fn display(v: Option<&Value>) -> String {
    match v {
        None => "undefined".into(),
        Some(Value::String(s)) if s == UNDEFINED => "undefined".into(),
        Some(Value::Null) => "null".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| display(Some(x)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".into(),
    }
}

/// The text node-postgres sends for a query parameter (its `prepareValue`): `None` for SQL NULL,
/// `toString()` for scalars, a PostgreSQL array literal for arrays, JSON for other objects.
pub fn pg_text(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(v) if is_undefined(Some(v)) => None,
        Some(Value::Array(items)) => Some(pg_array_literal(items)),
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(v) => Some(display(Some(v))),
    }
}

/// node-postgres's `arrayString`: `{"a","b",NULL,{"c"}}`.
fn pg_array_literal(items: &[Value]) -> String {
    let elements: Vec<String> = items
        .iter()
        .map(|item| match item {
            Value::Array(inner) => pg_array_literal(inner),
            other => match pg_text(Some(other)) {
                None => "NULL".into(),
                Some(text) => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
            },
        })
        .collect();
    format!("{{{}}}", elements.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relational_coercion_matches_js() {
        assert!(ge(Some(&json!("5")), 1.0));
        assert!(!ge(Some(&json!("abc")), 1.0));
        assert!(!ge(None, 1.0));
        assert!(ge(Some(&json!(true)), 1.0));
        assert!(!ge(Some(&json!(null)), 1.0));
    }

    #[test]
    fn integers_follow_number_is_integer() {
        assert!(is_integer(Some(&json!(3))));
        assert!(is_integer(Some(&json!(3.0))));
        assert!(!is_integer(Some(&json!(3.5))));
        assert!(!is_integer(Some(&json!("3"))));
    }

    #[test]
    fn parameters_are_sent_as_node_postgres_sends_them() {
        assert_eq!(pg_text(Some(&json!("e"))), Some("e".into()));
        assert_eq!(pg_text(Some(&json!(42))), Some("42".into()));
        assert_eq!(pg_text(Some(&json!(true))), Some("true".into()));
        assert_eq!(pg_text(Some(&json!(null))), None);
        assert_eq!(pg_text(Some(&json!({"a": 1}))), Some("{\"a\":1}".into()));
        assert_eq!(
            pg_text(Some(&json!(["a", null, ["b\"c"], 1]))),
            Some("{\"a\",NULL,{\"b\\\"c\"},\"1\"}".into())
        );
    }
}

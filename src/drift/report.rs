//! The comparison: expected shape against live catalog rows, into pg-boss 12.38's
//! `SchemaDriftReport` (same fields, same order of entries, same readable texts).

use super::expected::{ExpectedColumns, ExpectedConstraints};
use super::text;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Serialize)]
pub struct ManagedIndex {
    pub name: String,
    pub table: String,
    pub keys: String,
    pub include: String,
    pub predicate: String,
    pub definition: String,
}

#[derive(Debug, Serialize)]
pub struct InvalidIndex {
    #[serde(flatten)]
    pub index: ManagedIndex,
    pub building: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MismatchedIndex {
    #[serde(flatten)]
    pub index: ManagedIndex,
    pub expected_keys: String,
    pub actual_keys: String,
    pub expected_include: String,
    pub actual_include: String,
    pub expected_predicate: String,
    pub actual_predicate: String,
    pub actual_definition: String,
    pub differs: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFunction {
    pub name: String,
    pub expected_body: String,
    pub definition: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MismatchedFunction {
    #[serde(flatten)]
    pub function: ManagedFunction,
    pub actual_body: String,
    pub actual_definition: String,
}

#[derive(Debug, Serialize)]
pub struct Mismatch<T> {
    pub column: String,
    pub expected: T,
    pub actual: T,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableColumnDrift {
    pub table: String,
    pub missing_columns: Vec<String>,
    pub unexpected_columns: Vec<String>,
    pub default_mismatches: Vec<Mismatch<String>>,
    pub type_mismatches: Vec<Mismatch<String>>,
    pub nullability_mismatches: Vec<Mismatch<bool>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintDrift {
    pub table: String,
    pub missing_constraints: Vec<String>,
    pub unexpected_constraints: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnumDrift {
    pub name: String,
    pub expected_values: Vec<String>,
    pub actual_values: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ExtraIndex {
    pub name: String,
    pub table: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDriftReport {
    pub ok: bool,
    pub missing_tables: Vec<String>,
    pub missing: Vec<ManagedIndex>,
    pub building: Vec<ManagedIndex>,
    pub invalid: Vec<InvalidIndex>,
    pub extra_indexes: Vec<ExtraIndex>,
    pub mismatched: Vec<MismatchedIndex>,
    pub missing_functions: Vec<ManagedFunction>,
    pub mismatched_functions: Vec<MismatchedFunction>,
    pub column_drift: Vec<TableColumnDrift>,
    pub constraint_drift: Vec<ConstraintDrift>,
    pub enum_drift: Option<EnumDrift>,
}

// ---- live catalog rows (src/plans/drift.rs) ----

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveIndex {
    pub name: String,
    pub table: String,
    pub valid: bool,
    pub def: Option<String>,
    pub constraint_backed: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LiveFunction {
    pub name: String,
    pub def: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveColumn {
    pub table: String,
    pub column: String,
    #[serde(rename = "type")]
    pub data_type: Option<String>,
    pub not_null: Option<bool>,
    pub default: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LiveConstraint {
    pub table: String,
    pub def: String,
}

/// Each dimension of the check; `None` skips it (a backend that cannot answer it).
#[derive(Default)]
pub struct DriftInputs<'a> {
    pub expected_indexes: Vec<ManagedIndex>,
    pub live_indexes: &'a [LiveIndex],
    /// Indexes an incomplete async build (a bam row) is still working on.
    pub building: HashSet<String>,
    /// Presence only: no definition comparison of indexes and function bodies.
    pub presence_only: bool,
    pub expected_tables: Vec<String>,
    pub live_tables: Vec<String>,
    pub functions: Option<(Vec<ManagedFunction>, &'a [LiveFunction])>,
    pub columns: Option<(Vec<ExpectedColumns>, &'a [LiveColumn])>,
    pub constraints: Option<(Vec<ExpectedConstraints>, &'a [LiveConstraint])>,
    pub states: Option<(&'a [String], Vec<String>)>,
}

fn mismatched_index(expected: &ManagedIndex, def: &str) -> Option<MismatchedIndex> {
    let actual_keys = text::index_keys_raw(def);
    // an unparseable live definition is skipped, not reported
    if !text::keys_parse(&actual_keys) {
        return None;
    }
    let actual_include = text::index_include_raw(def);
    let actual_predicate = text::index_predicate_raw(def);
    let differs = text::index_differences(
        &expected.keys,
        &expected.include,
        &expected.predicate,
        &actual_keys,
        &actual_include,
        &actual_predicate,
    );
    (!differs.is_empty()).then(|| MismatchedIndex {
        index: expected.clone(),
        expected_keys: expected.keys.clone(),
        actual_keys,
        expected_include: expected.include.clone(),
        actual_include,
        expected_predicate: expected.predicate.clone(),
        actual_predicate,
        actual_definition: text::display_index_definition(def),
        differs,
    })
}

fn function_drift(
    expected: Vec<ManagedFunction>,
    live: &[LiveFunction],
    presence_only: bool,
) -> (Vec<ManagedFunction>, Vec<MismatchedFunction>) {
    // an overloaded name: the last row stands for it
    let by_name: HashMap<&str, &LiveFunction> = live.iter().map(|f| (f.name.as_str(), f)).collect();
    let (mut missing, mut mismatched) = (Vec::new(), Vec::new());
    for f in expected {
        let Some(def) = by_name.get(f.name.as_str()).and_then(|l| l.def.as_deref()) else {
            missing.push(f);
            continue;
        };
        if presence_only {
            continue;
        }
        let actual_body = text::normalize_function_body(text::function_body(def));
        if !actual_body.is_empty() && actual_body != f.expected_body {
            mismatched.push(MismatchedFunction {
                function: f,
                actual_body,
                actual_definition: text::one_line(def),
            });
        }
    }
    (missing, mismatched)
}

/// Column presence per managed table, and type, nullability and default where the expectation
/// carries them. A table without live columns is absent, reported once as a missing table.
pub fn column_drift(expected: &[ExpectedColumns], live: &[LiveColumn]) -> Vec<TableColumnDrift> {
    let mut by_table: HashMap<&str, Vec<(String, &LiveColumn)>> = HashMap::new();
    for c in live {
        let cols = by_table.entry(c.table.as_str()).or_default();
        let name = c.column.to_lowercase();
        match cols.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = c,
            None => cols.push((name, c)),
        }
    }
    let mut out = Vec::new();
    for e in expected {
        let Some(cols) = by_table.get(e.table.as_str()).filter(|c| !c.is_empty()) else {
            continue;
        };
        let find = |name: &str| cols.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
        let mut drift = TableColumnDrift {
            table: e.table.clone(),
            missing_columns: e
                .columns
                .iter()
                .filter(|c| find(c).is_none())
                .cloned()
                .collect(),
            unexpected_columns: cols
                .iter()
                .filter(|(n, _)| !e.columns.contains(n))
                .map(|(n, _)| n.clone())
                .collect(),
            default_mismatches: Vec::new(),
            type_mismatches: Vec::new(),
            nullability_mismatches: Vec::new(),
        };
        for col in &e.columns {
            let Some(live) = find(col) else { continue };
            if let Some(expected) = e.defaults.as_ref().and_then(|d| d.get(col)) {
                let actual = live.default.clone().unwrap_or_default();
                if text::normalize_default(expected) != text::normalize_default(&actual) {
                    drift.default_mismatches.push(Mismatch {
                        column: col.clone(),
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
            if let Some(t) = e.types.as_ref().and_then(|t| t.get(col)) {
                let actual = live.data_type.clone().unwrap_or_default();
                if t.data_type != actual {
                    drift.type_mismatches.push(Mismatch {
                        column: col.clone(),
                        expected: t.data_type.clone(),
                        actual,
                    });
                }
                let not_null = live.not_null.unwrap_or(false);
                if t.not_null != not_null {
                    drift.nullability_mismatches.push(Mismatch {
                        column: col.clone(),
                        expected: t.not_null,
                        actual: not_null,
                    });
                }
            }
        }
        if !(drift.missing_columns.is_empty()
            && drift.unexpected_columns.is_empty()
            && drift.default_mismatches.is_empty()
            && drift.type_mismatches.is_empty()
            && drift.nullability_mismatches.is_empty())
        {
            out.push(drift);
        }
    }
    out
}

/// Constraint sets per fixed table, compared on normalised definitions.
pub fn constraint_drift(
    expected: &[ExpectedConstraints],
    live: &[LiveConstraint],
) -> Vec<ConstraintDrift> {
    let mut by_table: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in live {
        by_table.entry(c.table.as_str()).or_default().push(&c.def);
    }
    let mut out = Vec::new();
    for e in expected {
        let Some(defs) = by_table.get(e.table.as_str()).filter(|d| !d.is_empty()) else {
            continue;
        };
        let live_set: HashSet<String> =
            defs.iter().map(|d| text::normalize_constraint(d)).collect();
        let expected_set: HashSet<String> = e
            .constraints
            .iter()
            .map(|d| text::normalize_constraint(d))
            .collect();
        let missing: Vec<String> = e
            .constraints
            .iter()
            .filter(|c| !live_set.contains(&text::normalize_constraint(c)))
            .cloned()
            .collect();
        let unexpected: Vec<String> = defs
            .iter()
            .filter(|d| !expected_set.contains(&text::normalize_constraint(d)))
            .map(|d| d.to_string())
            .collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            out.push(ConstraintDrift {
                table: e.table.clone(),
                missing_constraints: missing,
                unexpected_constraints: unexpected,
            });
        }
    }
    out
}

/// The enum's labels in order; an absent enum is not drift.
fn enum_drift(expected: &[String], actual: Vec<String>) -> Option<EnumDrift> {
    (!actual.is_empty() && actual != expected).then(|| EnumDrift {
        name: "job_state".into(),
        expected_values: expected.to_vec(),
        actual_values: actual,
    })
}

pub fn compute(inputs: DriftInputs) -> SchemaDriftReport {
    let live_by_name: HashMap<&str, &LiveIndex> = inputs
        .live_indexes
        .iter()
        .map(|i| (i.name.as_str(), i))
        .collect();
    let (mut missing, mut building, mut invalid, mut mismatched) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for idx in &inputs.expected_indexes {
        let is_building = inputs.building.contains(&idx.name);
        match live_by_name.get(idx.name.as_str()) {
            None if is_building => building.push(idx.clone()),
            None => missing.push(idx.clone()),
            Some(live) if !live.valid => invalid.push(InvalidIndex {
                index: idx.clone(),
                building: is_building,
            }),
            Some(live) => {
                if let (false, false, Some(def)) =
                    (idx.keys.is_empty(), inputs.presence_only, &live.def)
                {
                    mismatched.extend(mismatched_index(idx, def));
                }
            }
        }
    }
    let expected_names: HashSet<&str> = inputs
        .expected_indexes
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    // an index on a managed table that nothing accounts for: harmless, so a warning only
    let extra_indexes = inputs
        .live_indexes
        .iter()
        .filter(|i| {
            inputs.expected_tables.contains(&i.table)
                && !expected_names.contains(i.name.as_str())
                && !i.constraint_backed
        })
        .map(|i| ExtraIndex {
            name: i.name.clone(),
            table: i.table.clone(),
        })
        .collect();
    let missing_tables: Vec<String> = inputs
        .expected_tables
        .iter()
        .filter(|t| !inputs.live_tables.contains(t))
        .cloned()
        .collect();
    let (missing_functions, mismatched_functions) = match inputs.functions {
        Some((expected, live)) => function_drift(expected, live, inputs.presence_only),
        None => (Vec::new(), Vec::new()),
    };
    let column_drift = inputs
        .columns
        .map(|(e, l)| column_drift(&e, l))
        .unwrap_or_default();
    let constraint_drift = inputs
        .constraints
        .map(|(e, l)| constraint_drift(&e, l))
        .unwrap_or_default();
    let enum_drift = inputs.states.and_then(|(e, a)| enum_drift(e, a));
    SchemaDriftReport {
        ok: missing_tables.is_empty()
            && missing.is_empty()
            && invalid.is_empty()
            && mismatched.is_empty()
            && missing_functions.is_empty()
            && mismatched_functions.is_empty()
            && column_drift.is_empty()
            && constraint_drift.is_empty()
            && enum_drift.is_none(),
        missing_tables,
        missing,
        building,
        invalid,
        extra_indexes,
        mismatched,
        missing_functions,
        mismatched_functions,
        column_drift,
        constraint_drift,
        enum_drift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, table: &str) -> ManagedIndex {
        ManagedIndex {
            name: name.into(),
            table: table.into(),
            keys: "name, id".into(),
            include: String::new(),
            predicate: String::new(),
            definition: format!("CREATE INDEX {name} ON s.{table} (name, id)"),
        }
    }

    fn live(name: &str, table: &str, valid: bool, def: &str) -> LiveIndex {
        LiveIndex {
            name: name.into(),
            table: table.into(),
            valid,
            def: Some(def.into()),
            constraint_backed: false,
        }
    }

    #[test]
    fn absent_indexes_are_missing_or_building_and_invalid_ones_say_whether_a_build_heals_them() {
        let live_indexes = [live(
            "b",
            "t",
            false,
            "CREATE INDEX b ON s.t USING btree (name, id)",
        )];
        let report = compute(DriftInputs {
            expected_indexes: vec![index("a", "t"), index("b", "t"), index("c", "t")],
            live_indexes: &live_indexes,
            building: ["b".to_string(), "c".to_string()].into(),
            expected_tables: vec!["t".into()],
            live_tables: vec!["t".into()],
            ..Default::default()
        });
        assert!(!report.ok);
        let names = |v: &[ManagedIndex]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&report.missing), ["a"]);
        assert_eq!(names(&report.building), ["c"]);
        assert_eq!(report.invalid.len(), 1);
        assert!(report.invalid[0].building);
    }

    #[test]
    fn extra_indexes_are_scoped_to_managed_tables_and_leave_ok_alone() {
        let mut backed = live(
            "t_pkey",
            "t",
            true,
            "CREATE UNIQUE INDEX t_pkey ON s.t (id)",
        );
        backed.constraint_backed = true;
        let live_indexes = [
            live(
                "a",
                "t",
                true,
                "CREATE INDEX a ON s.t USING btree (name, id)",
            ),
            live("stray", "t", true, "CREATE INDEX stray ON s.t (x)"),
            live(
                "theirs",
                "user_table",
                true,
                "CREATE INDEX theirs ON s.user_table (x)",
            ),
            backed,
        ];
        let report = compute(DriftInputs {
            expected_indexes: vec![index("a", "t")],
            live_indexes: &live_indexes,
            expected_tables: vec!["t".into()],
            live_tables: vec!["t".into()],
            ..Default::default()
        });
        assert!(report.ok);
        let extra: Vec<&str> = report
            .extra_indexes
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(extra, ["stray"]);
    }

    #[test]
    fn presence_only_skips_definitions_and_an_unreadable_function_list_skips_functions() {
        let live_indexes = [live(
            "a",
            "t",
            true,
            "CREATE INDEX a ON s.t USING btree (id, name)",
        )];
        let expected_fn = ManagedFunction {
            name: "f".into(),
            expected_body: "SELECT 1;".into(),
            definition: "CREATE FUNCTION f() AS $$ SELECT 1; $$".into(),
        };
        let live_fns = [LiveFunction {
            name: "f".into(),
            def: Some("CREATE FUNCTION f() AS $function$ SELECT 2; $function$".into()),
        }];
        let inputs = |presence_only, functions| DriftInputs {
            expected_indexes: vec![index("a", "t")],
            live_indexes: &live_indexes,
            presence_only,
            functions,
            ..Default::default()
        };
        let full = compute(inputs(
            false,
            Some((vec![expected_fn.clone()], &live_fns[..])),
        ));
        assert_eq!(full.mismatched[0].differs, ["keys"]);
        assert_eq!(full.mismatched_functions[0].actual_body, "SELECT 2;");
        let presence = compute(inputs(true, Some((vec![expected_fn], &live_fns[..]))));
        assert!(presence.ok);
        assert!(compute(inputs(false, None)).missing_functions.is_empty());
    }

    #[test]
    fn an_absent_table_or_enum_is_not_listed_column_by_column() {
        let expected = [ExpectedColumns {
            table: "gone".into(),
            columns: vec!["id".into()],
            ..Default::default()
        }];
        assert!(column_drift(&expected, &[]).is_empty());
        let constraints = [ExpectedConstraints {
            table: "gone".into(),
            constraints: vec!["PRIMARY KEY (id)".into()],
        }];
        assert!(constraint_drift(&constraints, &[]).is_empty());
        assert!(enum_drift(&["created".to_string()], Vec::new()).is_none());
        let reordered = enum_drift(
            &["created".to_string(), "retry".to_string()],
            vec!["retry".into(), "created".into()],
        );
        assert!(reordered.is_some());
    }
}

//! `flow()` input checks, in pg-boss 12.38's order and words: the array, each job's ref and queue
//! name, the dependency lists, then cycles (reported as the path that closes one).

use crate::error::{ensure, BossError, Result};
use crate::names::assert_object_name;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};

/// One job of a flow as given: `ref`, queue `name`, `data`, `options` and `dependsOn`.
pub struct FlowJob {
    pub reference: String,
    pub name: String,
    pub data: Option<Value>,
    pub options: Option<Value>,
    pub depends_on: Vec<String>,
}

pub fn flow_jobs(jobs: Option<&Value>) -> Result<Vec<FlowJob>> {
    let Some(Value::Array(jobs)) = jobs else {
        return Err(BossError::assertion("flow requires an array of jobs"));
    };
    ensure(jobs.len() >= 2, "flow requires at least 2 jobs")?;
    let mut refs = HashSet::new();
    for job in jobs {
        let reference = job.get("ref").and_then(Value::as_str).unwrap_or_default();
        ensure(
            !reference.is_empty(),
            "each flow job must have a non-empty ref",
        )?;
        ensure(
            refs.insert(reference),
            format!("duplicate ref: \"{reference}\""),
        )?;
        let name = job.get("name").and_then(Value::as_str).unwrap_or_default();
        ensure(!name.is_empty(), "each flow job must have a non-empty name")?;
        assert_object_name(name, "Name")?;
    }
    // a dependsOn with a length counts here, whatever its type; the type is checked next
    let has_length = |v: &Value| match v {
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => false,
    };
    ensure(
        jobs.iter()
            .any(|j| j.get("dependsOn").is_some_and(has_length)),
        "flow requires at least one job with dependsOn",
    )?;
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let reference = job.get("ref").and_then(Value::as_str).unwrap_or_default();
        let mut depends_on = Vec::new();
        match job.get("dependsOn") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => {}
            Some(Value::Array(deps)) => {
                for dep in deps {
                    let dep = dep.as_str().unwrap_or_default();
                    ensure(
                        !dep.is_empty(),
                        "dependsOn entries must be non-empty strings",
                    )?;
                    ensure(
                        dep != reference,
                        format!("job \"{reference}\" cannot depend on itself"),
                    )?;
                    ensure(
                        refs.contains(dep),
                        format!("dependsOn ref \"{dep}\" not found in flow"),
                    )?;
                    depends_on.push(dep.to_string());
                }
            }
            Some(_) => {
                return Err(BossError::assertion(format!(
                    "dependsOn for ref \"{reference}\" must be an array"
                )))
            }
        }
        out.push(FlowJob {
            reference: reference.to_string(),
            name: job
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            data: job.get("data").cloned(),
            options: job.get("options").cloned(),
            depends_on,
        });
    }
    if let Some(cycle) = find_cycle(&out) {
        return Err(BossError::assertion(format!(
            "flow contains a dependency cycle: {}",
            cycle.join(" -> ")
        )));
    }
    Ok(out)
}

/// A cycle as the refs along it (first repeated last), or `None` for a graph that sorts
/// topologically. Edges run parent -> child in job order, so the path reported is the one a
/// depth-first walk from the first job meets first.
fn find_cycle(jobs: &[FlowJob]) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.reference.as_str(), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    let mut in_degree = vec![0usize; jobs.len()];
    for (i, job) in jobs.iter().enumerate() {
        for dep in &job.depends_on {
            children[index[dep.as_str()]].push(i);
            in_degree[i] += 1;
        }
    }
    let mut ready: VecDeque<usize> = (0..jobs.len()).filter(|i| in_degree[*i] == 0).collect();
    let mut visited = 0;
    while let Some(n) = ready.pop_front() {
        visited += 1;
        for &c in &children[n] {
            in_degree[c] -= 1;
            if in_degree[c] == 0 {
                ready.push_back(c);
            }
        }
    }
    if visited == jobs.len() {
        return None;
    }
    // 0 = unvisited, 1 = on the current path, 2 = done
    let mut mark = vec![0u8; jobs.len()];
    let mut path = Vec::new();
    fn visit(
        n: usize,
        children: &[Vec<usize>],
        mark: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        if mark[n] == 1 {
            let start = path.iter().position(|p| *p == n).unwrap_or(0);
            let mut cycle = path[start..].to_vec();
            cycle.push(n);
            return Some(cycle);
        }
        if mark[n] == 2 {
            return None;
        }
        mark[n] = 1;
        path.push(n);
        for &c in &children[n] {
            if let Some(cycle) = visit(c, children, mark, path) {
                return Some(cycle);
            }
        }
        path.pop();
        mark[n] = 2;
        None
    }
    (0..jobs.len()).find_map(|n| {
        visit(n, &children, &mut mark, &mut path)
            .map(|c| c.into_iter().map(|i| jobs[i].reference.clone()).collect())
    })
}

/// `assertListAfterRow(method, after, ['name', 'id'], 'id')`: `after` is `{ name, id }` strings,
/// the id a uuid.
pub fn after_row(method: &str, after: Option<&Value>) -> Result<Option<(String, String)>> {
    let Some(after) = after else { return Ok(None) };
    let name = after.get("name").and_then(Value::as_str);
    let id = after.get("id").and_then(Value::as_str);
    let (Some(name), Some(id)) = (name, id) else {
        return Err(BossError::assertion(format!(
            "{method}: after must be an object with string name and id"
        )));
    };
    ensure(
        crate::jobs::is_uuid(id),
        format!("{method}: after.id must be a uuid"),
    )?;
    Ok(Some((name.to_string(), id.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(jobs: Value) -> String {
        match flow_jobs(Some(&jobs)) {
            Ok(_) => "ok".into(),
            Err(e) => e.message,
        }
    }

    #[test]
    fn flow_input_is_checked_in_pg_boss_order() {
        assert_eq!(message(json!({})), "flow requires an array of jobs");
        assert_eq!(
            message(json!([{"ref": "a", "name": "q"}])),
            "flow requires at least 2 jobs"
        );
        assert_eq!(
            message(json!([{"ref": "a", "name": "q"}, {"ref": "a", "name": "q"}])),
            "duplicate ref: \"a\""
        );
        assert_eq!(
            message(json!([{"ref": "a", "name": "q"}, {"ref": "b", "name": "q"}])),
            "flow requires at least one job with dependsOn"
        );
        assert_eq!(
            message(
                json!([{"ref": "a", "name": "q"}, {"ref": "b", "name": "q", "dependsOn": "a"}])
            ),
            "dependsOn for ref \"b\" must be an array"
        );
        assert_eq!(
            message(
                json!([{"ref": "a", "name": "q"}, {"ref": "b", "name": "q", "dependsOn": ["b"]}])
            ),
            "job \"b\" cannot depend on itself"
        );
        assert_eq!(
            message(
                json!([{"ref": "a", "name": "q"}, {"ref": "b", "name": "q", "dependsOn": ["c"]}])
            ),
            "dependsOn ref \"c\" not found in flow"
        );
    }

    #[test]
    fn a_cycle_is_reported_as_the_path_that_closes_it() {
        assert_eq!(
            message(json!([
                {"ref": "a", "name": "q", "dependsOn": ["c"]},
                {"ref": "b", "name": "q", "dependsOn": ["a"]},
                {"ref": "c", "name": "q", "dependsOn": ["b"]},
            ])),
            "flow contains a dependency cycle: a -> b -> c -> a"
        );
    }
}

//! From what a handler returned to what each job becomes.
//!
//! index.js reports a handler call as JSON: `{ kind: 'resolved', output }`,
//! `{ kind: 'rejected', error, terminal }`, and with `perJobResults` `{ kind: 'results', results }`
//! or `{ kind: 'notArray' }`. Outputs and errors are already normalised as pg-boss stores them
//! (serialize-error); `terminal` marks an `UnrecoverableError` or `retryable === false`.

use super::ClaimedJob;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct SettleRow {
    pub id: String,
    pub retry_count: i64,
    /// `completed`, `failed` or `deadletter`.
    pub status: &'static str,
    pub output: Value,
}

impl SettleRow {
    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "retry_count": self.retry_count, "status": self.status, "output": self.output })
    }
}

/// An `Error` as serialize-error renders one, for errors the engine raises itself.
/// What a job in hand when `stop()` shuts the worker down is failed with.
pub const SHUTDOWN_MESSAGE: &str = "pg-boss shut down while active";

/// Its stored output, `{ value }` as pg-boss stores it.
pub fn shutdown_output() -> Value {
    json!({ "value": SHUTDOWN_MESSAGE })
}

pub fn error_output(message: &str) -> Value {
    json!({ "name": "Error", "message": message, "stack": format!("Error: {message}") })
}

fn row(job: &ClaimedJob, status: &'static str, output: Value) -> SettleRow {
    SettleRow {
        id: job.id.clone(),
        retry_count: job.retry_count,
        status,
        output,
    }
}

fn failure_status(terminal: bool) -> &'static str {
    if terminal {
        "deadletter"
    } else {
        "failed"
    }
}

fn terminal(v: &Value) -> bool {
    v.get("terminal").and_then(Value::as_bool).unwrap_or(false)
}

/// Every job of the batch failed with the same output.
pub fn fail_all(jobs: &[ClaimedJob], output: Value, terminal: bool) -> Vec<SettleRow> {
    jobs.iter()
        .map(|j| row(j, failure_status(terminal), output.clone()))
        .collect()
}

/// Settle rows for a `work()` batch.
pub fn batch_rows(jobs: &[ClaimedJob], outcome: &Value, per_job_results: bool) -> Vec<SettleRow> {
    match outcome.get("kind").and_then(Value::as_str) {
        Some("rejected") => fail_all(
            jobs,
            outcome.get("error").cloned().unwrap_or(Value::Null),
            terminal(outcome),
        ),
        Some("notArray") => fail_all(
            jobs,
            error_output("perJobResults handler must resolve with an array of job results"),
            false,
        ),
        Some("results") if per_job_results => per_job_rows(
            jobs,
            outcome
                .get("results")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        ),
        Some("resolved") => {
            // pg-boss stores a handler's return value only when the batch holds one job
            let output = if jobs.len() == 1 {
                outcome.get("output").cloned().unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            jobs.iter()
                .map(|j| row(j, "completed", output.clone()))
                .collect()
        }
        _ => fail_all(
            jobs,
            error_output("handler returned an unexpected outcome"),
            false,
        ),
    }
}

/// `perJobResults`: `JobResult[]` by id (last entry wins, unknown ids and statuses ignored), or
/// `Promise.allSettled` output by position. A job without a disposition fails.
pub fn per_job_rows(jobs: &[ClaimedJob], results: &[Value]) -> Vec<SettleRow> {
    let mut by_id: HashMap<&str, &Value> = HashMap::new();
    let mut by_index: HashMap<usize, &Value> = HashMap::new();
    for (i, item) in results.iter().enumerate() {
        if item.get("settled").is_some() {
            by_index.insert(i, item);
        } else if let Some(id) = item.get("id").and_then(Value::as_str) {
            if matches!(
                item.get("status").and_then(Value::as_str),
                Some("completed" | "failed" | "deadletter")
            ) {
                by_id.insert(id, item);
            }
        }
    }
    jobs.iter()
        .enumerate()
        .map(|(i, job)| {
            if let Some(item) = by_id.get(job.id.as_str()) {
                let output = item.get("output").cloned().unwrap_or(Value::Null);
                return match item.get("status").and_then(Value::as_str) {
                    Some("completed") => row(job, "completed", output),
                    Some("deadletter") => row(job, "deadletter", output),
                    _ => row(job, failure_status(terminal(item)), output),
                };
            }
            if let Some(item) = by_index.get(&i) {
                let output = item.get("output").cloned().unwrap_or(Value::Null);
                return match item.get("settled").and_then(Value::as_str) {
                    Some("fulfilled") => row(job, "completed", output),
                    _ => row(job, failure_status(terminal(item)), output),
                };
            }
            row(
                job,
                "failed",
                error_output("no disposition returned by handler"),
            )
        })
        .collect()
}

/// Settle row for one `workEach()` job.
pub fn each_row(job: &ClaimedJob, outcome: &Value) -> SettleRow {
    match outcome.get("kind").and_then(Value::as_str) {
        Some("resolved") => row(
            job,
            "completed",
            outcome.get("output").cloned().unwrap_or(Value::Null),
        ),
        Some("rejected") => row(
            job,
            failure_status(terminal(outcome)),
            outcome.get("error").cloned().unwrap_or(Value::Null),
        ),
        _ => row(
            job,
            "failed",
            error_output("handler returned an unexpected outcome"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> ClaimedJob {
        ClaimedJob::with_id(id)
    }

    #[test]
    fn output_is_kept_only_for_single_job_batches() {
        let out = json!({"kind": "resolved", "output": {"a": 1}});
        assert_eq!(
            batch_rows(&[job("a")], &out, false)[0].output,
            json!({"a": 1})
        );
        let rows = batch_rows(&[job("a"), job("b")], &out, false);
        assert!(rows
            .iter()
            .all(|r| r.status == "completed" && r.output.is_null()));
    }

    #[test]
    fn job_results_by_id_with_missing_jobs_failed() {
        let results = vec![
            json!({"id": "a", "status": "completed", "output": {"x": 1}}),
            json!({"id": "b", "status": "deadletter"}),
            json!({"id": "zzz", "status": "completed"}),
            json!({"id": "a", "status": "failed", "output": {"y": 2}}),
        ];
        let rows = per_job_rows(&[job("a"), job("b"), job("c")], &results);
        assert_eq!(rows[0].status, "failed");
        assert_eq!(rows[0].output, json!({"y": 2}));
        assert_eq!(rows[1].status, "deadletter");
        assert_eq!(rows[2].status, "failed");
        assert_eq!(
            rows[2].output["message"],
            "no disposition returned by handler"
        );
    }

    #[test]
    fn all_settled_output_is_index_aligned() {
        let results = vec![
            json!({"settled": "fulfilled", "output": {"v": 1}}),
            json!({"settled": "rejected", "output": {"message": "boom"}, "terminal": true}),
        ];
        let rows = per_job_rows(&[job("a"), job("b"), job("c")], &results);
        assert_eq!(rows[0].status, "completed");
        assert_eq!(rows[1].status, "deadletter");
        assert_eq!(
            rows[2].output["message"],
            "no disposition returned by handler"
        );
    }

    #[test]
    fn a_non_array_fails_the_batch() {
        let rows = batch_rows(&[job("a"), job("b")], &json!({"kind": "notArray"}), true);
        assert!(rows.iter().all(|r| r.status == "failed"));
        assert_eq!(
            rows[0].output["message"],
            "perJobResults handler must resolve with an array of job results"
        );
    }

    #[test]
    fn unrecoverable_errors_skip_retries() {
        let rows = batch_rows(
            &[job("a")],
            &json!({"kind": "rejected", "error": {"message": "x"}, "terminal": true}),
            false,
        );
        assert_eq!(rows[0].status, "deadletter");
    }
}

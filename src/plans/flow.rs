//! Flow statements: a flow's jobs and edges in one statement, the resolver's gate and batch, the
//! dependency reads, and the cleanup of edges whose jobs are gone.
//!
//! The resolver never runs inside a completion: a completed parent keeps `blocking` until a
//! resolver batch (here, or pg-boss 12.38's) decrements its children and clears the flag, so
//! completions stay one-table statements and a mixed fleet resolves each parent once (the batch
//! locks its parents with SKIP LOCKED and only picks `blocking` ones).

use super::jobs::{insert_ctes, InsertSource};
use crate::names::SchemaName;

/// Parents locked per resolver batch; a full batch means there may be more, so the pass goes on.
pub const RESOLVE_BATCH: i64 = 1000;

/// Dependency rows examined per cleanup batch.
pub const CLEANUP_BATCH: i64 = 10_000;

/// A whole flow: the jobs of $1 (a JSON array of insert rows, each naming its queue in `name` and
/// carrying its dependency flags), the edges of $2 (`child_name, child_id, parent_name,
/// parent_id`), and one NOTIFY per queue name in $3 (a JSON array), in one statement, so it
/// commits or fails as one on any executor without a transaction of its own. A row a policy index
/// or a taken id refused fails the statement (division by zero), as pg-boss's flow guard does:
/// a flow with a job missing would leave its children waiting for a parent that never runs.
pub fn insert_flow(s: &SchemaName, job_count: usize) -> String {
    let s_ = &s.ident;
    let insert = insert_ctes(
        s,
        "job",
        &InsertSource {
            name: "i.name",
            rows: "$1",
            flow: true,
            upserted_by_key: false,
        },
        true,
    );
    format!(
        "{insert},
edges AS (
  INSERT INTO {s_}.job_dependency (child_name, child_id, parent_name, parent_id)
  SELECT e.child_name, e.child_id, e.parent_name, e.parent_id
  FROM jsonb_to_recordset($2::text::jsonb) AS e (child_name text, child_id uuid, parent_name text, parent_id uuid)
  ON CONFLICT DO NOTHING
  RETURNING 1
), woken AS (
  SELECT pg_notify('{channel}', n) FROM jsonb_array_elements_text($3::text::jsonb) AS n
)
SELECT (1 / (CASE WHEN (SELECT count(*) FROM inserted) = {job_count} THEN 1 ELSE 0 END))::text
WHERE (SELECT count(*) FROM edges) >= 0 AND (SELECT count(*) FROM woken) >= 0",
        channel = s.notify_channel(),
    )
}

/// The resolver's gate: one instance per `seconds` moves `version.flow_on` (pg-boss's own column,
/// so a mixed fleet shares it) and runs the pass. A row back means this instance won.
/// `>=`: under a test clock every tick lands exactly one interval after the last.
pub fn claim_flow(s: &SchemaName, seconds: f64) -> String {
    let s_ = &s.ident;
    format!(
        "UPDATE {s_}.version SET flow_on = {s_}.job_now()
WHERE extract(epoch FROM ({s_}.job_now() - COALESCE(flow_on, {s_}.job_now() - interval '1 week'))) >= {seconds}
RETURNING flow_on::text"
    )
}

/// One resolver batch over table `t` for the queues of $1 (a JSON array of names): lock up to
/// [`RESOLVE_BATCH`] completed parents still `blocking`, take each child's count of them off its
/// `pending_dependencies` (a child reaching zero is released, its start moved up to now unless it
/// was later), and clear `blocking` on those parents so they are never counted again. Returns the
/// number of parents resolved.
///
/// Children are locked in a fixed order before they are updated, so two batches releasing
/// siblings of one child wait on each other rather than deadlock.
pub fn resolve_flow_batch(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    format!(
        "WITH parents AS (
  SELECT p.name, p.id
  FROM {s_}.{t} p
  WHERE p.blocking AND p.state = 'completed'
    AND p.name IN (SELECT json_array_elements_text($1::text::json))
  ORDER BY p.name, p.id
  LIMIT {RESOLVE_BATCH}
  FOR UPDATE OF p SKIP LOCKED
), released AS (
  SELECT d.child_name, d.child_id, count(*)::int AS n
  FROM {s_}.job_dependency d
  JOIN parents p ON p.name = d.parent_name AND p.id = d.parent_id
  GROUP BY d.child_name, d.child_id
), children AS (
  SELECT c.name, c.id, r.n
  FROM {s_}.job c
  JOIN released r ON r.child_name = c.name AND r.child_id = c.id
  WHERE c.blocked
  ORDER BY c.name, c.id
  FOR UPDATE OF c
), unblocked AS (
  UPDATE {s_}.job c
  SET pending_dependencies = greatest(c.pending_dependencies - ch.n, 0),
      blocked = c.pending_dependencies - ch.n > 0,
      start_after = CASE WHEN c.pending_dependencies - ch.n > 0 THEN c.start_after
        ELSE greatest(c.start_after, {s_}.job_now()) END
  FROM children ch
  WHERE c.name = ch.name AND c.id = ch.id
  RETURNING 1
), cleared AS (
  UPDATE {s_}.{t} p
  SET blocking = false
  FROM parents x
  WHERE p.name = x.name AND p.id = x.id
  RETURNING 1
)
SELECT count(*)::text FROM cleared WHERE (SELECT count(*) FROM unblocked) >= 0"
    )
}

/// `getDependencies`: the parents of job $2 in queue $1 as `{ name, id }` JSON, in (name, id)
/// order; with `after`, past ($3, $4). The limit is the last parameter.
pub fn dependencies(s: &SchemaName, after: bool) -> String {
    edge_page(s, "child", "parent", after)
}

/// `getDependents`: the children of job $2 in queue $1, paged as [`dependencies`].
pub fn dependents(s: &SchemaName, after: bool) -> String {
    edge_page(s, "parent", "child", after)
}

fn edge_page(s: &SchemaName, from: &str, to: &str, after: bool) -> String {
    let s_ = &s.ident;
    let (cursor, limit) = if after {
        (
            format!("\n  AND ({to}_name, {to}_id) > ($3::text, $4::text::uuid)"),
            "$5",
        )
    } else {
        (String::new(), "$3")
    };
    format!(
        "SELECT json_build_object('name', {to}_name, 'id', {to}_id)::text
FROM {s_}.job_dependency
WHERE {from}_name = $1::text AND {from}_id = $2::text::uuid{cursor}
ORDER BY {to}_name, {to}_id
LIMIT {limit}::text::int"
    )
}

/// One cleanup batch for the queues of $1 (JSON array of names) on one `side` of the edge
/// (`child` or `parent`): delete, among the next [`CLEANUP_BATCH`] edges of those queues after
/// the id $2 (NULL from the start), the ones whose job on that side no longer exists (retention
/// and deletes remove jobs, never their edges). Returns the last id examined (empty when the walk
/// is done) and the count deleted, as `cursor|deleted`.
pub fn cleanup_edges(s: &SchemaName, side: &str) -> String {
    let s_ = &s.ident;
    format!(
        "WITH batch AS (
  SELECT d.child_name, d.child_id, d.parent_name, d.parent_id, d.{side}_id AS walk_id
  FROM {s_}.job_dependency d
  WHERE d.{side}_name IN (SELECT json_array_elements_text($1::text::json))
    AND ($2::text IS NULL OR d.{side}_id > $2::text::uuid)
  ORDER BY d.{side}_id
  LIMIT {CLEANUP_BATCH}
), removed AS (
  DELETE FROM {s_}.job_dependency d
  USING batch b
  WHERE d.child_name = b.child_name AND d.child_id = b.child_id
    AND d.parent_name = b.parent_name AND d.parent_id = b.parent_id
    AND NOT EXISTS (
      SELECT 1 FROM {s_}.job j WHERE j.name = b.{side}_name AND j.id = b.{side}_id
    )
  RETURNING 1
)
SELECT concat_ws('|',
  CASE WHEN (SELECT count(*) FROM batch) = {CLEANUP_BATCH} THEN (SELECT walk_id::text FROM batch ORDER BY walk_id DESC LIMIT 1) ELSE '' END,
  (SELECT count(*) FROM removed))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaName {
        SchemaName::parse("pgboss").unwrap()
    }

    #[test]
    fn a_flow_is_one_statement_guarded_by_its_job_count() {
        let sql = insert_flow(&schema(), 3);
        assert!(sql.contains("INSERT INTO pgboss.job ("));
        assert!(sql.contains("INSERT INTO pgboss.job_dependency"));
        assert!(sql.contains("= 3 THEN 1 ELSE 0"));
        assert!(sql.contains("pending_dependencies"));
        assert!(!sql.contains("$4"));
    }

    #[test]
    fn dependency_pages_move_the_limit_after_the_cursor() {
        assert!(dependencies(&schema(), false).contains("LIMIT $3"));
        let paged = dependents(&schema(), true);
        assert!(paged.contains("(child_name, child_id) > ($3::text"));
        assert!(paged.contains("LIMIT $5"));
    }
}

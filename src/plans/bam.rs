//! The `bam` table, where pg-boss records its asynchronous (background) index builds: the reads
//! (`getBamStatus()`, `getBamEntries()`) and the runner's statements (the claim, its release,
//! the outcome, the heal of an interrupted concurrent build, the cancel).

use crate::names::SchemaName;

/// `getBamStatus()`: entries per status, with the newest entry's time.
pub fn status(s: &SchemaName) -> String {
    let s = &s.ident;
    format!(
        r#"SELECT row_to_json(r)::text FROM (
  SELECT status, count(*)::int AS count, max(created_on) AS "lastCreatedOn"
  FROM {s}.bam
  GROUP BY status
  ORDER BY status
) r"#
    )
}

/// `getBamEntries({ limit, after })`: entries in (version, created_on, id) order; with `after`,
/// `$1` is the previous page's last id (its version and time read back from its row), `$2` the limit.
pub fn entries(s: &SchemaName, after: bool) -> String {
    let s = &s.ident;
    let (filter, limit) = if after {
        (
            format!(
                "WHERE (version, created_on, id) > ((SELECT version FROM {s}.bam WHERE id = $1::text::uuid), \
                 (SELECT created_on FROM {s}.bam WHERE id = $1::text::uuid), $1::text::uuid)"
            ),
            "$2",
        )
    } else {
        (String::new(), "$1")
    };
    format!(
        r#"SELECT row_to_json(r)::text FROM (
  SELECT id, name, version, status, queue, table_name AS "table", command, error,
    created_on AS "createdOn", started_on AS "startedOn", completed_on AS "completedOn"
  FROM {s}.bam
  {filter}
  ORDER BY version, created_on, id
  LIMIT {limit}::text::int
) r"#
    )
}

/// Whether the entry `$1` exists (an empty page after an entry since removed is an error).
pub fn entry_exists(s: &SchemaName) -> String {
    format!(
        "SELECT 'true' FROM {}.bam WHERE id = $1::text::uuid",
        s.ident
    )
}

/// An in_progress row past this is reclaimed on the timeout-only path (no liveness view): a day,
/// since reclaiming a build still running is the worse failure.
pub const STALE_SECONDS: u64 = 60 * 60 * 24;

/// On the liveness path an in_progress row younger than this is never read as dead: its claimer
/// may not have started its statement yet.
pub const LIVENESS_GRACE_SECONDS: u64 = 60 * 5;

/// The advisory lock key one claim at a time holds (pg-boss's `bamClaim`).
pub const CLAIM_LOCK_KEY: &str = "bamClaim";

/// The cadence gate: stamps `version.bam_on` when `seconds` have passed since the last stamp;
/// a row back means this instance won the pass.
pub fn claim_pass(s: &SchemaName, seconds: f64) -> String {
    let s = &s.ident;
    format!(
        "UPDATE {s}.version SET bam_on = {s}.job_now()
WHERE extract(epoch FROM ({s}.job_now() - COALESCE(bam_on, {s}.job_now() - interval '1 week'))) >= {seconds}
RETURNING 'true'"
    )
}

/// Claims the next command: pending rows first (oldest first), then failed or dead in_progress
/// ones (unless `pending_only`); a command waits while an earlier one of its migration on its
/// table is not completed, and nothing is claimed while a live in_progress row exists. With
/// `liveness`, an in_progress row is dead once past the grace window with no
/// ShareUpdateExclusiveLock granted on its table (a concurrent build holds one for its whole run,
/// visible to every role); without it, only once a day old. One JSON row when claimed.
pub fn claim_command(s: &SchemaName, liveness: bool, pending_only: bool) -> String {
    let resolved = crate::plans::literal(&s.resolved);
    let s = &s.ident;
    let dead = |started: &str, table: &str| {
        if liveness {
            format!(
                "({started} < {s}.job_now() - interval '{LIVENESS_GRACE_SECONDS} seconds'
      AND NOT EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'ShareUpdateExclusiveLock'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.relation = to_regclass(quote_ident({resolved}) || '.' || quote_ident({table}))))"
            )
        } else {
            format!("({started} < {s}.job_now() - interval '{STALE_SECONDS} seconds')")
        }
    };
    let eligible = if pending_only {
        "c.status = 'pending'".to_string()
    } else {
        format!(
            "(c.status IN ('pending', 'failed') OR (c.status = 'in_progress' AND {}))",
            dead("c.started_on", "c.table_name")
        )
    };
    let live = dead("g.started_on", "g.table_name");
    let skip_locked = if liveness {
        "FOR UPDATE OF c SKIP LOCKED"
    } else {
        ""
    };
    format!(
        r#"WITH candidate AS (
  SELECT c.id, c.status AS prior_status, c.started_on AS prior_started_on
  FROM {s}.bam c
  WHERE {eligible}
    AND NOT EXISTS (
      SELECT 1 FROM {s}.bam p
      WHERE p.version = c.version AND p.table_name = c.table_name
        AND p.created_on < c.created_on AND p.status <> 'completed')
    AND NOT EXISTS (
      SELECT 1 FROM {s}.bam g WHERE g.status = 'in_progress' AND NOT {live})
  ORDER BY (c.status <> 'pending'), c.created_on
  LIMIT 1
  {skip_locked}
), claimed AS (
  UPDATE {s}.bam b
  SET status = 'in_progress', started_on = {s}.job_now()
  FROM candidate
  WHERE b.id = candidate.id
    AND b.status = candidate.prior_status
    AND b.started_on IS NOT DISTINCT FROM candidate.prior_started_on
  RETURNING b.id, b.name, b.queue, b.table_name AS "table", b.command,
    (candidate.prior_status <> 'pending') AS reattempt,
    candidate.prior_status AS "priorStatus", candidate.prior_started_on::text AS "priorStartedOn",
    b.started_on::text AS "claimedStartedOn"
)
SELECT row_to_json(claimed)::text FROM claimed"#
    )
}

/// Hands a claim that never ran back as it was found; a no-op unless the claim is still ours.
pub fn release_command(
    s: &SchemaName,
    id: &str,
    prior_status: &str,
    prior_started_on: Option<&str>,
    claimed_started_on: &str,
) -> String {
    let s = &s.ident;
    let lit = crate::plans::literal;
    let started = prior_started_on
        .map(|t| format!("{}::timestamptz", lit(t)))
        .unwrap_or_else(|| "NULL".into());
    format!(
        "UPDATE {s}.bam SET status = {}, started_on = {started}
WHERE id = {}::uuid AND status = 'in_progress' AND started_on = {}::timestamptz",
        lit(prior_status),
        lit(id),
        lit(claimed_started_on)
    )
}

/// The row completed; a prior attempt's error is cleared.
pub fn set_completed(s: &SchemaName, id: &str) -> String {
    let s = &s.ident;
    format!(
        "UPDATE {s}.bam SET status = 'completed', completed_on = {s}.job_now(), error = NULL WHERE id = {}::uuid",
        crate::plans::literal(id)
    )
}

/// The row failed with `error` (its completed_on is the time of the failure, as pg-boss records).
pub fn set_failed(s: &SchemaName, id: &str, error: &str) -> String {
    let s = &s.ident;
    format!(
        "UPDATE {s}.bam SET status = 'failed', error = {}, completed_on = {s}.job_now() WHERE id = {}::uuid",
        crate::plans::literal(error),
        crate::plans::literal(id)
    )
}

/// The leading comment naming the row on its statement, where `cancel_command` finds it.
pub fn command_tag(id: &str) -> String {
    format!("/* pgboss bam {id} */")
}

/// Cancels the backend running the statement tagged for `id`; a row `true` per cancel sent.
pub fn cancel_command(id: &str) -> String {
    format!(
        "SELECT pg_cancel_backend(pid)::text FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
  AND query LIKE {}",
        crate::plans::literal(&format!("{}%", command_tag(id)))
    )
}

/// Whether the index a concurrent build names exists invalid: one row (`true`/`false`) when it
/// exists, none when it does not.
pub fn heal_probe(s: &SchemaName, index: &str) -> String {
    format!(
        "SELECT (NOT i.indisvalid)::text FROM pg_class c
JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = {} AND c.relname = {}",
        crate::plans::literal(&s.resolved),
        crate::plans::literal(index)
    )
}

/// Drops what an interrupted concurrent build of `index` left, before it is built again.
pub fn heal_drop(s: &SchemaName, index_token: &str) -> String {
    format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}.{index_token}",
        s.ident
    )
}

/// A command's shape, read from its text.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandShape {
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY ...` or `DROP INDEX CONCURRENTLY ...` (left running
    /// when its client goes, and visible to the liveness check).
    pub concurrent: bool,
    /// For a concurrent build: the name token as written (quotes kept) and the bare name.
    pub built: Option<(String, String)>,
    /// For any `CREATE [UNIQUE] INDEX`: the bare index name.
    pub index: Option<String>,
}

fn name_token(word: &str) -> Option<(String, String)> {
    let bytes = word.as_bytes();
    let mut end = usize::from(bytes.first() == Some(&b'"'));
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b'$')
    {
        end += 1;
    }
    let start = usize::from(bytes.first() == Some(&b'"'));
    if end == start {
        return None;
    }
    let bare = word[start..end].to_string();
    let token_end = if start == 1 && bytes.get(end) == Some(&b'"') {
        end + 1
    } else {
        end
    };
    Some((word[..token_end].to_string(), bare))
}

/// Reads the shape of a bam command.
pub fn command_shape(command: &str) -> CommandShape {
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let up = |i: usize| {
        words
            .get(i)
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default()
    };
    let mut shape = CommandShape {
        concurrent: false,
        built: None,
        index: None,
    };
    let mut i = 0;
    if up(0) == "DROP" && up(1) == "INDEX" && up(2) == "CONCURRENTLY" {
        shape.concurrent = true;
        return shape;
    }
    if up(i) != "CREATE" {
        return shape;
    }
    i += 1;
    if up(i) == "UNIQUE" {
        i += 1;
    }
    if up(i) != "INDEX" {
        return shape;
    }
    i += 1;
    let concurrent = up(i) == "CONCURRENTLY";
    if concurrent {
        i += 1;
    }
    if up(i) == "IF" && up(i + 1) == "NOT" && up(i + 2) == "EXISTS" {
        i += 3;
    }
    let named = words.get(i).and_then(|w| name_token(w));
    shape.concurrent = concurrent;
    shape.index = named.as_ref().map(|(_, bare)| bare.clone());
    if concurrent {
        shape.built = named;
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let s =
            command_shape("CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i7 ON pgboss.job (name)");
        assert!(s.concurrent);
        assert_eq!(s.built, Some(("job_i7".into(), "job_i7".into())));
        let s = command_shape("  create unique index concurrently \"job_i3\" ON x (a)");
        assert_eq!(s.built, Some(("\"job_i3\"".into(), "job_i3".into())));
        let s = command_shape("CREATE INDEX job_i9 ON x (a)");
        assert!(!s.concurrent);
        assert_eq!((s.built, s.index), (None, Some("job_i9".into())));
        assert!(command_shape("DROP INDEX CONCURRENTLY IF EXISTS pgboss.job_i5").concurrent);
        assert_eq!(
            command_shape("SELECT 1"),
            CommandShape {
                concurrent: false,
                built: None,
                index: None
            }
        );
    }
}

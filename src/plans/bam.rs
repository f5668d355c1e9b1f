//! Reads of the `bam` table, where pg-boss records its asynchronous (background) index builds.

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

//! Job index bloat: which leaf indexes of the job tables a rebuild would help, and the stubs an
//! interrupted `REINDEX INDEX CONCURRENTLY` left behind. The same heuristic pg-boss 12.38 uses, so
//! both name the same indexes: an index is bloated when it is bigger than `min_pages`, holds fewer
//! than `max_entries_per_page` live entries per page, and is more than `min_size_ratio` times the
//! size its live entries need (their average key width from `pg_stats`, plus 20 bytes per tuple).
//! Statistics are the planner's (`reltuples`, `relpages`), refreshed by VACUUM and ANALYZE.

use crate::names::SchemaName;
use crate::plans::literal;

/// The thresholds of the bloat test (`IndexBloatOptions`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BloatThresholds {
    pub min_pages: f64,
    pub max_entries_per_page: f64,
    pub min_size_ratio: f64,
}

impl Default for BloatThresholds {
    fn default() -> Self {
        BloatThresholds {
            min_pages: 128.0,
            max_entries_per_page: 5.0,
            min_size_ratio: 4.0,
        }
    }
}

/// Leaf indexes of the job tables: every table a queue names, plus `job` and `job_common`, which
/// the install creates whether or not a queue uses them (and bloat outlives the last queue).
fn job_index_scope(s: &SchemaName) -> String {
    format!(
        "FROM pg_class ix
  JOIN pg_index ind ON ind.indexrelid = ix.oid
  JOIN pg_class tab ON tab.oid = ind.indrelid
  JOIN pg_namespace ns ON ns.oid = ix.relnamespace
  WHERE ns.nspname = {nsp}
    AND ix.relkind = 'i'
    AND tab.relname IN (SELECT table_name FROM {s_}.queue UNION VALUES ('job'), ('job_common'))",
        nsp = literal(&s.resolved),
        s_ = s.ident
    )
}

/// The planner's estimate of the pages an index's live entries need: their average key width
/// from `pg_stats` (the table's column statistics, or the index's own for an expression key) plus
/// 20 bytes of tuple header and line pointer each.
const EXPECTED_PAGES: &str = "GREATEST(ceil((ix.reltuples * ((
      SELECT COALESCE(sum(COALESCE(table_stats.avg_width, index_stats.avg_width, 0)), 0)
      FROM unnest(ind.indkey::int2[]) WITH ORDINALITY AS key (attnum, position)
      LEFT JOIN pg_attribute col ON col.attrelid = ind.indrelid AND col.attnum = key.attnum
      LEFT JOIN pg_stats table_stats ON table_stats.schemaname = ns.nspname
        AND table_stats.tablename = tab.relname AND table_stats.attname = col.attname
      LEFT JOIN pg_attribute index_col ON index_col.attrelid = ix.oid AND index_col.attnum = key.position::int2
      LEFT JOIN pg_stats index_stats ON index_stats.schemaname = ns.nspname
        AND index_stats.tablename = ix.relname AND index_stats.attname = index_col.attname
    ) + 20)) / 8192.0), 1)";

/// The job indexes (valid leaves), largest first, with `IndexBloat`'s columns: `name`, `table`,
/// `pages`, `entries`, `bytes` (floats, so JS reads numbers) and `owned` (whether this role may
/// rebuild it). With `thresholds`, only the bloated ones; without (`force`), every one. A
/// never-analyzed index (`reltuples` -1) is not bloated. Plain columns: this is also the text
/// `getIndexBloatPlans()` hands to an operator for psql.
pub fn job_indexes(s: &SchemaName, thresholds: Option<BloatThresholds>) -> String {
    let bloated = match thresholds {
        None => String::new(),
        Some(t) => format!(
            "
    AND ix.relpages > {min_pages}
    AND ix.reltuples >= 0
    AND ix.reltuples / GREATEST(ix.relpages, 1) < {per_page}
    AND ix.relpages > {ratio} * {EXPECTED_PAGES}",
            min_pages = t.min_pages,
            per_page = t.max_entries_per_page,
            ratio = t.min_size_ratio
        ),
    };
    format!(
        "SELECT ix.relname AS name, tab.relname AS \"table\", ix.relpages AS pages,
    floor(ix.reltuples)::float8 AS entries, pg_relation_size(ix.oid)::float8 AS bytes,
    pg_has_role(current_user, ix.relowner, 'USAGE') AS owned
  {scope}
    AND ind.indisvalid{bloated}
  ORDER BY pg_relation_size(ix.oid) DESC",
        scope = job_index_scope(s)
    )
}

/// `job_indexes` as one JSON document per row, for the engine.
pub fn targets(s: &SchemaName, thresholds: Option<BloatThresholds>) -> String {
    format!(
        "SELECT row_to_json(i)::text FROM ({}) i",
        job_indexes(s, thresholds)
    )
}

/// `targets` limited to the tables named in $1 (a JSON array), for a supervise pass over them.
pub fn targets_in(s: &SchemaName, thresholds: Option<BloatThresholds>) -> String {
    format!(
        "SELECT row_to_json(i)::text FROM ({}) i
  WHERE i.\"table\" IN (SELECT json_array_elements_text($1::text::json))",
        job_indexes(s, thresholds)
    )
}

/// Rebuild one index without blocking writes (DDL: never inside a transaction).
pub fn reindex_index(s: &SchemaName, name: &str) -> String {
    format!("REINDEX INDEX CONCURRENTLY {}.{}", s.ident, quoted(name))
}

/// Drop an invalid stub of an interrupted rebuild.
pub fn drop_index(s: &SchemaName, name: &str) -> String {
    format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}.{}",
        s.ident,
        quoted(name)
    )
}

/// The cluster-wide reindex claim (`reindex_on`, as 12.38 stamps it): a row when this instance
/// won the interval, none when another did.
pub fn claim_reindex(s: &SchemaName, interval_seconds: f64) -> String {
    let s_ = &s.ident;
    format!(
        "UPDATE {s_}.version SET reindex_on = {s_}.job_now()
  WHERE extract(epoch FROM {s_}.job_now() - COALESCE(reindex_on, {s_}.job_now() - interval '1 week')) >= {interval_seconds}
  RETURNING 'claimed'"
    )
}

/// Invalid `_ccnew` stubs of an interrupted concurrent rebuild, one name per row, whoever owns
/// them (the commands are for an operator), but not while a build on their table is in progress.
pub fn leftovers(s: &SchemaName) -> String {
    format!(
        "SELECT ix.relname
  {scope}
    AND NOT ind.indisvalid
    AND ix.relname ~ '_ccnew[0-9]*$'
    AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.relid = ind.indrelid)",
        scope = job_index_scope(s)
    )
}

/// The stubs the background pass may drop itself: `leftovers` it owns.
pub fn owned_leftovers(s: &SchemaName) -> String {
    format!(
        "{} AND pg_has_role(current_user, ix.relowner, 'USAGE')",
        leftovers(s)
    )
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statements an operator runs: every stub dropped first, then the rebuilds.
pub fn commands(s: &SchemaName, leftovers: &[String], targets: &[String]) -> Vec<String> {
    let drops = leftovers.iter().map(|n| drop_index(s, n));
    let rebuilds = targets.iter().map(|n| reindex_index(s, n));
    drops.chain(rebuilds).collect()
}

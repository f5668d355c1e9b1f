//! The install of pg-boss's non-partitioned layout (`noTablePartitioning`: the cockroachdb and
//! yugabytedb backends): a plain `job` table with every index on it, `queue_stats` as one plain
//! table pruned by row, `create_queue`/`delete_queue` for that layout and no `job_table_*`
//! helpers. The tables both layouts share are written once, in `0046_install.sql`; this layout's
//! own blocks are in `0046_install_flat.sql` and take the place of the partitioned ones.

use super::locked;
use super::schema::{install_source, render};
use crate::backend::Profile;
use crate::names::SchemaName;

const FLAT_46: &str = include_str!("../../migrations/0046_install_flat.sql");
const PARTITIONED_BLOCK: &str = "-- partitioned: ";
const PARTITIONED_END: &str = "-- partitioned: end";
const FLAT_BLOCK: &str = "-- flat: ";

/// The `-- flat: <name>` block of the flat source.
fn flat_block(name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for line in FLAT_46.lines() {
        if let Some(block) = line.trim().strip_prefix(FLAT_BLOCK) {
            if out.is_some() {
                break;
            }
            if block == name {
                out = Some(String::new());
            }
            continue;
        }
        if let Some(text) = out.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// The non-partitioned install source: the partitioned one with its layout blocks swapped for
/// the flat blocks, and the backend's variations filled in.
fn source(profile: Profile) -> String {
    let mut sql = String::with_capacity(install_source().len());
    let mut skipping = false;
    for line in install_source().lines() {
        let trimmed = line.trim();
        if skipping {
            skipping = trimmed != PARTITIONED_END;
            continue;
        }
        if let Some(name) = trimmed.strip_prefix(PARTITIONED_BLOCK) {
            // every block the partitioned install marks has its flat counterpart (tested)
            sql.push_str(&flat_block(name).unwrap_or_default());
            skipping = true;
            continue;
        }
        sql.push_str(line);
        sql.push('\n');
    }
    let covering = |include: &str| {
        if profile.no_covering_indexes {
            String::new()
        } else {
            format!(" INCLUDE ({include})")
        }
    };
    let deferrable = if profile.no_deferrable_constraints {
        ""
    } else {
        " DEFERRABLE INITIALLY DEFERRED"
    };
    sql.replace("{{fk_deferrable}}", deferrable)
        .replace("{{include_heads}}", &covering("start_after"))
        .replace(
            "{{include_stats}}",
            &covering("deferred_count, queued_count, ready_count, active_count, failed_count, total_count"),
        )
}

/// The install script for `schema` in the non-partitioned layout, as `profile` shapes it.
pub fn install_script(s: &SchemaName, create_schema: bool, profile: Profile) -> String {
    render(&source(profile), s, create_schema)
}

/// The whole install as one transaction, under pg-boss's install lock where the schema is
/// addressed with advisory locks.
pub fn install(s: &SchemaName, create_schema: bool, profile: Profile) -> String {
    locked(s, "", &[install_script(s, create_schema, profile)])
}

/// The install for `profile`: this layout where the backend has no table partitioning, the
/// partitioned one otherwise.
pub fn install_for(s: &SchemaName, create_schema: bool, profile: Profile) -> String {
    if profile.no_table_partitioning {
        install(s, create_schema, profile)
    } else {
        super::schema::install(s, create_schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(backend: &str) -> String {
        let s = SchemaName::parse("flat").unwrap();
        install_script(&s, true, Profile::of(backend))
    }

    #[test]
    fn the_flat_install_has_no_partitions_and_no_helpers() {
        for backend in ["cockroachdb", "yugabytedb"] {
            let sql = script(backend);
            assert!(!sql.contains("PARTITION"), "{backend}");
            assert!(!sql.contains("flat.job_common"), "{backend}");
            assert!(!sql.contains("FUNCTION flat.job_table_"), "{backend}");
            assert!(!sql.contains("{{"), "{backend}");
            assert!(sql.contains("CREATE TABLE flat.instance"));
            assert!(sql.contains("CREATE TABLE flat.job ("));
            assert!(sql.contains("CREATE TABLE flat.queue_stats ("));
            assert!(sql.contains("CREATE FUNCTION flat.create_queue("));
            assert!(sql.contains("CREATE FUNCTION flat.delete_queue("));
            assert!(
                sql.contains("CREATE INDEX queue_stats_i2 ON flat.queue_stats (captured_on, id)")
            );
            assert!(sql.contains("INSERT INTO flat.version(version) VALUES (46)"));
        }
    }

    #[test]
    fn the_backend_decides_deferrable_keys_and_covering_indexes() {
        let crdb = script("cockroachdb");
        assert!(!crdb.contains("DEFERRABLE") && !crdb.contains("INCLUDE"));
        let yb = script("yugabytedb");
        assert_eq!(
            yb.matches("ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED")
                .count(),
            2
        );
        assert!(yb.contains("created_on, id) INCLUDE (start_after)"));
        assert!(yb.contains("(name, captured_on DESC) INCLUDE (deferred_count,"));
    }

    #[test]
    fn without_advisory_locks_the_install_takes_none() {
        let s = SchemaName::parse("flat").unwrap();
        let locked = install(&s, true, Profile::of("yugabytedb"));
        assert!(locked.contains("pg_advisory_xact_lock"));
        let unlocked = install(&s.without_advisory_locks(), true, Profile::of("yugabytedb"));
        assert!(!unlocked.contains("pg_advisory_xact_lock"));
        assert!(unlocked.starts_with("BEGIN;") && unlocked.ends_with("COMMIT;"));
    }
}

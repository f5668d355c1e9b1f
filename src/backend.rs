//! The backend profiles: which of pg-boss 12.38's compatibility flags a `backend` sets
//! (`attorney.js` BACKEND_PROFILES). Only the flags that change the schema or its locking are
//! here; NOTIFY, reindexing and the vacuum checks read `config.backend` where they are decided.

use crate::config::Config;

/// What a backend leaves out of the PostgreSQL install.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Profile {
    /// A plain `job` table carrying rows and indexes itself (no `job_common`, no per-queue
    /// partitions, no `job_table_*` helpers), and `queue_stats` not partitioned by day.
    pub no_table_partitioning: bool,
    /// Foreign keys of `job` checked per statement rather than at commit.
    pub no_deferrable_constraints: bool,
    /// No `pg_advisory_xact_lock`: pg-boss's locked statements run without the lock.
    pub no_advisory_locks: bool,
    /// Indexes without `INCLUDE` payloads (`job_i10`, `queue_stats_i1`).
    pub no_covering_indexes: bool,
}

impl Profile {
    pub fn of(backend: &str) -> Profile {
        match backend {
            "cockroachdb" => Profile {
                no_table_partitioning: true,
                no_deferrable_constraints: true,
                no_advisory_locks: true,
                no_covering_indexes: true,
            },
            "yugabytedb" => Profile {
                no_table_partitioning: true,
                no_advisory_locks: true,
                ..Profile::default()
            },
            _ => Profile::default(),
        }
    }
}

impl Config {
    /// The profile of the configured backend.
    pub fn profile(&self) -> Profile {
        Profile::of(&self.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_set_the_flags_pg_boss_sets() {
        let crdb = Profile::of("cockroachdb");
        assert!(crdb.no_table_partitioning && crdb.no_deferrable_constraints);
        assert!(crdb.no_advisory_locks && crdb.no_covering_indexes);
        let yb = Profile::of("yugabytedb");
        assert!(yb.no_table_partitioning && yb.no_advisory_locks);
        assert!(!yb.no_deferrable_constraints && !yb.no_covering_indexes);
        for other in ["postgres", "citus", "pglite"] {
            assert_eq!(Profile::of(other), Profile::default());
        }
    }
}

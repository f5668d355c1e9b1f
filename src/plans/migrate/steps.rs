//! The steps: for each schema version from the oldest migrated, its up and down scripts
//! (`migrations/`) and the index builds it queues.

/// An index build a step queues instead of running in its transaction. `command` is written
/// against `{{schema}}.job` and `job_iN`; it is aimed at each job table the way pg-boss's
/// `job_table_format()` aims it (`.job` -> `.<table>`, `job_iN` -> `<table>_iN`).
pub struct AsyncBuild {
    pub name: &'static str,
    pub command: &'static str,
    pub targets: Targets,
    /// Queued as pg-boss 12.22 wrote it, the command on a line of its own (its bam rows keep that
    /// whitespace, and ours match them).
    pub padded: bool,
}

/// The job tables an [`AsyncBuild`] is queued for.
#[derive(Clone, Copy)]
pub enum Targets {
    /// job_common and every partition.
    Every,
    /// job_common (which serves every policy) and the partitions of this policy.
    Policy(&'static str),
    /// job_common alone.
    JobCommon,
}

/// Schema version `to - 1` -> `to` and back.
pub struct Step {
    pub to: i64,
    pub up: &'static str,
    pub down: &'static str,
    pub builds: &'static [AsyncBuild],
}

pub(super) const STEPS: &[Step] = &[
    Step {
        to: 26,
        up: include_str!("../../../migrations/0025_to_0026.sql"),
        down: include_str!("../../../migrations/0026_to_0025.sql"),
        builds: &[],
    },
    Step {
        to: 27,
        up: include_str!("../../../migrations/0026_to_0027.sql"),
        down: include_str!("../../../migrations/0027_to_0026.sql"),
        builds: &[AsyncBuild {
            name: "group_concurency_index", // sic: the name pg-boss 12.6 queued it under
            targets: Targets::Every,
            padded: true,
            command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i7 ON {{schema}}.job (name, group_id) WHERE state = 'active' AND group_id IS NOT NULL",
        }],
    },
    Step {
        to: 28,
        up: include_str!("../../../migrations/0027_to_0028.sql"),
        down: include_str!("../../../migrations/0028_to_0027.sql"),
        builds: &[AsyncBuild {
            name: "key_strict_fifo_index",
            targets: Targets::JobCommon,
            padded: true,
            command: "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS job_i8 ON {{schema}}.job (name, singleton_key) WHERE state IN ('active', 'retry', 'failed') AND policy = 'key_strict_fifo'",
        }],
    },
    Step {
        to: 29,
        up: include_str!("../../../migrations/0028_to_0029.sql"),
        down: include_str!("../../../migrations/0029_to_0028.sql"),
        builds: &[],
    },
    Step {
        to: 30,
        up: include_str!("../../../migrations/0029_to_0030.sql"),
        down: include_str!("../../../migrations/0030_to_0029.sql"),
        builds: &[],
    },
    Step {
        to: 31,
        up: include_str!("../../../migrations/0030_to_0031.sql"),
        down: include_str!("../../../migrations/0031_to_0030.sql"),
        builds: &[],
    },
    Step {
        to: 32,
        up: include_str!("../../../migrations/0031_to_0032.sql"),
        down: include_str!("../../../migrations/0032_to_0031.sql"),
        builds: &[],
    },
    Step {
        to: 33,
        up: include_str!("../../../migrations/0032_to_0033.sql"),
        down: include_str!("../../../migrations/0033_to_0032.sql"),
        // job_i5's drop before its rebuild: the BAM runner keeps a table's rows of one version in order
        builds: &[
            AsyncBuild {
                name: "flow_resolver_index",
                targets: Targets::Every,
                padded: true,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i9 ON {{schema}}.job (name, id) WHERE blocking AND state = 'completed'",
            },
            AsyncBuild {
                name: "fetch_index_drop",
                targets: Targets::Every,
                padded: true,
                command: "DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.job_i5",
            },
            AsyncBuild {
                name: "fetch_index",
                targets: Targets::Every,
                padded: true,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i5 ON {{schema}}.job (name, start_after) WHERE state < 'active' AND NOT blocked",
            },
        ],
    },
    Step {
        to: 34,
        up: include_str!("../../../migrations/0033_to_0034.sql"),
        down: include_str!("../../../migrations/0034_to_0033.sql"),
        builds: &[],
    },
    Step {
        to: 35,
        up: include_str!("../../../migrations/0034_to_0035.sql"),
        down: include_str!("../../../migrations/0035_to_0034.sql"),
        builds: &[],
    },
    Step {
        to: 36,
        up: include_str!("../../../migrations/0035_to_0036.sql"),
        down: include_str!("../../../migrations/0036_to_0035.sql"),
        builds: &[],
    },
    Step {
        to: 37,
        up: include_str!("../../../migrations/0036_to_0037.sql"),
        down: include_str!("../../../migrations/0037_to_0036.sql"),
        builds: &[],
    },
    Step {
        to: 38,
        up: include_str!("../../../migrations/0037_to_0038.sql"),
        down: include_str!("../../../migrations/0038_to_0037.sql"),
        builds: &[AsyncBuild {
            name: "key_strict_fifo_head_index",
            targets: Targets::Policy("key_strict_fifo"),
            padded: false,
            command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i10 ON {{schema}}.job (name, singleton_key, state DESC, created_on, id) INCLUDE (start_after) WHERE state < 'active' AND NOT blocked AND policy = 'key_strict_fifo'",
        }],
    },
    Step {
        to: 39,
        up: include_str!("../../../migrations/0038_to_0039.sql"),
        down: include_str!("../../../migrations/0039_to_0038.sql"),
        builds: &[],
    },
    Step {
        to: 40,
        up: include_str!("../../../migrations/0039_to_0040.sql"),
        down: include_str!("../../../migrations/0040_to_0039.sql"),
        // in this order: the BAM runner holds the retire on a table until the build there is done
        builds: &[
            AsyncBuild {
                name: "fetch_index_priority_build",
                targets: Targets::Every,
                padded: false,
                    command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i11 ON {{schema}}.job (name, priority DESC, created_on, start_after) WHERE state < 'active' AND NOT blocked",
            },
            AsyncBuild {
                name: "fetch_index_retire",
                targets: Targets::Every,
                padded: false,
                command: "DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.job_i5",
            },
        ],
    },
    Step {
        to: 41,
        up: include_str!("../../../migrations/0040_to_0041.sql"),
        down: include_str!("../../../migrations/0041_to_0040.sql"),
        builds: &[],
    },
    Step {
        to: 42,
        up: include_str!("../../../migrations/0041_to_0042.sql"),
        down: include_str!("../../../migrations/0042_to_0041.sql"),
        builds: &[],
    },
    Step {
        to: 43,
        up: include_str!("../../../migrations/0042_to_0043.sql"),
        down: include_str!("../../../migrations/0043_to_0042.sql"),
        builds: &[AsyncBuild {
            name: "source_root_index_build",
            targets: Targets::Every,
            padded: false,
            command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i12 ON {{schema}}.job (source_root_id) WHERE source_root_id IS NOT NULL",
        }],
    },
    Step {
        to: 44,
        up: include_str!("../../../migrations/0043_to_0044.sql"),
        down: include_str!("../../../migrations/0044_to_0043.sql"),
        builds: &[],
    },
    Step {
        to: 45,
        up: include_str!("../../../migrations/0044_to_0045.sql"),
        down: include_str!("../../../migrations/0045_to_0044.sql"),
        builds: &[AsyncBuild {
            name: "upsert_index_build",
            targets: Targets::Every,
            padded: false,
            command: "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS job_i13 ON {{schema}}.job (name, singleton_key) WHERE state = 'created' AND upsert_by_key",
        }],
    },
    Step {
        to: 46,
        up: include_str!("../../../migrations/0045_to_0046.sql"),
        down: include_str!("../../../migrations/0046_to_0045.sql"),
        builds: &[
            AsyncBuild {
                name: "live_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i14 ON {{schema}}.job (name, state, blocked, start_after) WHERE state IN ('created', 'retry', 'active', 'failed')",
            },
            AsyncBuild {
                name: "created_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i15 ON {{schema}}.job (name, created_on)",
            },
            AsyncBuild {
                name: "completed_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i16 ON {{schema}}.job (name, completed_on) WHERE completed_on IS NOT NULL",
            },
            AsyncBuild {
                name: "queued_key_index_build",
                targets: Targets::Every,
                padded: false,
                command: "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_i17 ON {{schema}}.job (name, singleton_key, created_on) WHERE state < 'active' AND singleton_key IS NOT NULL",
            },
        ],
    },
];

//! Job ids. pg-boss's ids are random (v4) UUIDs; ours are time-ordered (v7) UUIDs, still plain
//! `uuid`s to every reader. Why: a job row's primary key entry is rewritten by every update of the
//! job (claim, completion, retry: `state` is indexed, so none is a HOT update), and with random ids
//! each of those lands on a random leaf page of the key index. Ids that follow creation order keep
//! the jobs of one insert, and of one claimed batch, side by side in the index: fewer pages touched
//! and written to the WAL per statement (an `insert()` of 5,000 rows measured ~20% less statement
//! time).

/// A new job id: a version 7 UUID, ordered after every earlier one this process made. Its random
/// bits come from a user-space generator seeded by the OS (uuid's `fast-rng`), not a `getrandom`
/// call per id: that system call was a quarter of the engine thread's time in an `insert()` of
/// 5,000 jobs.
pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// An instance id, made at construction: a random (version 4) UUID, as pg-boss's `randomUUID()`.
/// Random rather than time-ordered because it also names the pool's connections by its first
/// eight characters (`pgboss:<id8>`), which must tell instances started together apart.
pub fn new_instance_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_that_sort_in_creation_order() {
        let ids: Vec<String> = (0..10_000).map(|_| new_job_id()).collect();
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).expect("a uuid");
            assert_eq!(parsed.get_version_num(), 7);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "later ids sort after earlier ones");
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "no id repeats");
    }
}

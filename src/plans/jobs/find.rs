//! Reading jobs: `findJobs()` pages and `getJobById()`.

use super::*;
use crate::names::SchemaName;

/// What `findJobs` filters on; parameters follow $1 = queue in this order.
#[derive(Debug, Clone, Default)]
pub struct FindPlan {
    pub by_id: bool,
    pub by_key: bool,
    pub by_data: bool,
    pub queued: bool,
    pub after: bool,
}

/// `findJobs`: oldest first; `after` pages by the (created_on, id) of the anchor job id.
pub fn find_jobs(s: &SchemaName, t: &str, plan: &FindPlan) -> String {
    let s_ = &s.ident;
    let mut conds = vec!["name = $1::text".to_string()];
    let mut n = 2;
    if plan.by_id {
        conds.push(format!("id = ${n}::text::uuid"));
        n += 1;
    }
    if plan.by_key {
        conds.push(format!("singleton_key = ${n}::text"));
        n += 1;
    }
    if plan.by_data {
        conds.push(format!("data @> ${n}::text::jsonb"));
        n += 1;
    }
    if plan.queued {
        conds.push("state < 'active'".into());
    }
    if plan.after {
        conds.push(format!(
            "(created_on, id) > (SELECT a.created_on, a.id FROM {s_}.{t} a WHERE a.name = $1::text AND a.id = ${n}::text::uuid)"
        ));
        n += 1;
    }
    format!(
        "SELECT row_to_json(r)::text FROM (
  SELECT {fields} FROM {s_}.{t}
  WHERE {where_}
  ORDER BY created_on, id
  LIMIT ${n}::text::int
) r",
        fields = job_fields(),
        where_ = conds.join(" AND ")
    )
}

/// Whether the anchor of a `findJobs` page still exists. $1 = queue, $2 = id.
pub fn job_exists(s: &SchemaName, t: &str) -> String {
    format!(
        "SELECT id::text FROM {}.{} WHERE name = $1::text AND id = $2::text::uuid",
        s.ident, t
    )
}

/// `getJobById`. $1 = queue, $2 = id.
pub fn get_job_by_id(s: &SchemaName, t: &str) -> String {
    format!(
        "SELECT row_to_json(r)::text FROM (SELECT {fields} FROM {s_}.{t} WHERE name = $1::text AND id = $2::text::uuid) r",
        fields = job_fields(),
        s_ = s.ident
    )
}

/// `getBlockedKeys`: the keys of a `key_strict_fifo` queue $1 held by a failed job, in order,
/// `after` ($2) the last key of the previous page; the limit is the last parameter.
pub fn blocked_keys(s: &SchemaName, t: &str, after: bool) -> String {
    let (after_cond, limit) = if after {
        ("\n  AND singleton_key > $2::text", "$3")
    } else {
        ("", "$2")
    };
    format!(
        "SELECT DISTINCT singleton_key FROM {s_}.{t}
WHERE name = $1::text AND state = 'failed' AND policy = 'key_strict_fifo'{after_cond}
ORDER BY singleton_key
LIMIT {limit}::text::int",
        s_ = s.ident
    )
}

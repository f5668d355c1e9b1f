-- pg-boss schema 36 -> 37 (pg-boss 12.26), partitioned layout.

-- job_table_format() anchors its rewrites (`.job` only as a whole word, `job_iN` only as an index
-- name), so a schema whose name contains `job` or `job_i` is no longer mangled.
{{job_table_format}}

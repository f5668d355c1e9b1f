-- pg-boss schema 30 -> 31 (pg-boss 12.19), partitioned layout.

-- Flows: a job may wait for parents (blocked, with a count of the ones still pending) or be one
-- that others wait for (blocking). Constant defaults, so no table is rewritten.
ALTER TABLE {{schema}}.job
  ADD COLUMN blocked boolean NOT NULL DEFAULT false,
  ADD COLUMN blocking boolean NOT NULL DEFAULT false,
  ADD COLUMN pending_dependencies integer NOT NULL DEFAULT 0;

-- Flow edges: a child waits for its parents.
CREATE TABLE IF NOT EXISTS {{schema}}.job_dependency (
  child_name  text NOT NULL,
  child_id    uuid NOT NULL,
  parent_name text NOT NULL,
  parent_id   uuid NOT NULL,
  CONSTRAINT job_dependency_pkey PRIMARY KEY (child_name, child_id, parent_name, parent_id)
);

-- the resolver walks from a completed parent to its children
CREATE INDEX IF NOT EXISTS job_dep_parent_idx ON {{schema}}.job_dependency (parent_name, parent_id);

-- New partitions get a fetch index (job_i5) that skips blocked jobs. The existing tables keep
-- theirs until 33 rebuilds it; in an upgrade past 32 rebuilding it here would be thrown away.
{{create_queue_31}}

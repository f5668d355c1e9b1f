-- pg-boss schema 25 -> 26 (pg-boss 11.0 -> 11.1), partitioned layout.

-- The exclusive policy: at most one job per singleton key queued or active. A new partition gets
-- its own index (job_i6) from create_queue; job_common, which serves the unpartitioned queues,
-- gets it here. 11.0's create_queue built every policy's index on every partition; 26's builds
-- the one for the queue's policy, and the partitions 11.0 made keep what they have.
{{create_queue_26}}

CREATE UNIQUE INDEX job_i6 ON {{schema}}.job_common (name, COALESCE(singleton_key, '')) WHERE state <= 'active' AND policy = 'exclusive';

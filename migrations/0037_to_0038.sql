-- pg-boss schema 37 -> 38 (pg-boss 12.28), partitioned layout.

-- New key_strict_fifo partitions get the head-of-key index (job_i10). job_common and the
-- existing key_strict_fifo partitions get it from the build queued after this script.
{{create_queue_38}}

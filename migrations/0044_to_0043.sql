-- Rollback of pg-boss schema 44 -> 43, partitioned layout.

DROP TABLE {{schema}}.instance;

ALTER TABLE {{schema}}.queue
  DROP COLUMN blocked_count,
  DROP COLUMN wait_bins,
  DROP COLUMN run_bins,
  DROP COLUMN ready_oldest_seconds;

ALTER TABLE {{schema}}.queue_stats
  DROP COLUMN wait_bins,
  DROP COLUMN run_bins,
  DROP COLUMN ready_oldest_seconds;

ALTER TABLE {{schema}}.job DROP COLUMN trace_context;

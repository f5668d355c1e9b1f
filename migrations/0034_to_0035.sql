-- pg-boss schema 34 -> 35 (pg-boss 12.24.0), partitioned layout.

-- Monitor snapshots, one range partition per UTC day (retention drops whole days). Later
-- versions add columns to it; this is its first shape.
CREATE TABLE {{schema}}.queue_stats (
  id             uuid        NOT NULL DEFAULT gen_random_uuid(),
  name           text        NOT NULL,
  deferred_count integer     NOT NULL DEFAULT 0,
  queued_count   integer     NOT NULL DEFAULT 0,
  ready_count    integer     NOT NULL DEFAULT 0,
  active_count   integer     NOT NULL DEFAULT 0,
  failed_count   integer     NOT NULL DEFAULT 0,
  total_count    integer     NOT NULL DEFAULT 0,
  captured_on    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT queue_stats_pkey PRIMARY KEY (id, captured_on)
) PARTITION BY RANGE (captured_on);

CREATE INDEX queue_stats_i1 ON {{schema}}.queue_stats (name, captured_on DESC)
  INCLUDE (deferred_count, queued_count, ready_count, active_count, failed_count, total_count);

-- Today's and tomorrow's partitions, bounded by explicit UTC midnights (maintenance adds the
-- later ones).
DO $upgrade$
DECLARE
  d date;
BEGIN
  FOR n IN 0..1 LOOP
    d := (now() AT TIME ZONE 'UTC')::date + n;
    EXECUTE format(
      'CREATE TABLE IF NOT EXISTS {{schema}}.%I PARTITION OF {{schema}}.queue_stats FOR VALUES FROM (%L) TO (%L)',
      'queue_stats_' || to_char(d, 'YYYYMMDD'),
      to_char(d, 'YYYY-MM-DD') || ' 00:00:00+00',
      to_char(d + 1, 'YYYY-MM-DD') || ' 00:00:00+00'
    );
  END LOOP;
END
$upgrade$;

-- The ready counts of the last monitor passes; starts empty and fills over the next passes.
ALTER TABLE {{schema}}.queue ADD COLUMN ready_history integer[] NOT NULL DEFAULT '{}';

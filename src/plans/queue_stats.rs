//! Queue stats history (`persistQueueStats`): the daily partitions of `queue_stats`, the snapshot
//! each monitor pass records, retention, and the reads behind `getQueueStats(name, options)`.
//! Partitions are named `queue_stats_YYYYMMDD` after their UTC day and bounded by explicit `+00`
//! literals, as the install creates them, so no session TimeZone moves a day boundary.

use super::literal;
use crate::names::SchemaName;

/// Create today's and tomorrow's partitions (UTC, by `job_now()`) where missing.
pub fn ensure_partitions(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        "DO $stats$
DECLARE
  day date;
BEGIN
  FOR n IN 0..1 LOOP
    day := ({s_}.job_now() AT TIME ZONE 'UTC')::date + n;
    IF to_regclass({qualified_prefix} || quote_ident('queue_stats_' || to_char(day, 'YYYYMMDD'))) IS NULL THEN
      EXECUTE format('CREATE TABLE IF NOT EXISTS {s_}.%I PARTITION OF {s_}.queue_stats FOR VALUES FROM (%L) TO (%L)',
        'queue_stats_' || to_char(day, 'YYYYMMDD'),
        to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
        to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
    END IF;
  END LOOP;
END
$stats$",
        qualified_prefix = literal(&format!("{s_}."))
    )
}

/// Drop the daily partitions of days before today minus `days` (`queueStatRetentionDays`).
pub fn drop_old_partitions(s: &SchemaName, days: i64) -> String {
    let s_ = &s.ident;
    format!(
        "DO $stats$
DECLARE
  oldest_kept date := ({s_}.job_now() AT TIME ZONE 'UTC')::date - {days};
  part record;
BEGIN
  FOR part IN
    SELECT child.relname
    FROM pg_inherits inh
    JOIN pg_class parent ON parent.oid = inh.inhparent
    JOIN pg_class child ON child.oid = inh.inhrelid
    JOIN pg_namespace ns ON ns.oid = parent.relnamespace
    WHERE ns.nspname = {nsp} AND parent.relname = 'queue_stats'
      AND child.relname ~ '^queue_stats_[0-9]{{8}}$'
  LOOP
    IF to_date(substr(part.relname, 13), 'YYYYMMDD') < oldest_kept THEN
      EXECUTE format('DROP TABLE IF EXISTS {s_}.%I', part.relname);
    END IF;
  END LOOP;
END
$stats$",
        nsp = literal(&s.resolved)
    )
}

/// Retention where `queue_stats` is one plain table (`noTablePartitioning`): delete up to `batch`
/// rows captured before `days` ago, oldest first (through `queue_stats_i2`). $1 = the last
/// `[captured_on, id]` a previous batch deleted, as JSON, or NULL: the next batch starts past it
/// rather than stepping over what was just removed. One JSON row `{ deleted, cursor }`, `cursor`
/// null once a batch is not full.
pub fn delete_old_rows(s: &SchemaName, days: i64, batch: i64) -> String {
    let s_ = &s.ident;
    format!(
        "WITH after AS (SELECT $1::text::json AS c),
batch AS (
  SELECT captured_on, id FROM {s_}.queue_stats
  WHERE captured_on < {s_}.job_now() - interval '{days} days'
    AND ((SELECT c FROM after) IS NULL
      OR (captured_on, id) > (((SELECT c FROM after)->>0)::timestamptz, ((SELECT c FROM after)->>1)::uuid))
  ORDER BY captured_on, id
  LIMIT {batch}
),
removed AS (DELETE FROM {s_}.queue_stats WHERE id IN (SELECT id FROM batch) RETURNING 1)
SELECT json_build_object(
  'deleted', (SELECT count(*) FROM removed),
  -- the instant as UTC text, so another connection's TimeZone reads it back the same
  'cursor', CASE WHEN (SELECT count(*) FROM batch) = {batch} THEN
    (SELECT json_build_array(to_char(captured_on AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), id)
     FROM batch ORDER BY captured_on DESC, id DESC LIMIT 1) END)::text"
    )
}

/// Record a snapshot of the queues in $1 (a JSON array) from their rows, as the monitor just
/// wrote them (gauges, deltas and histograms alike), under the `queue-stats-insert` lock pg-boss
/// takes for the same write. Returns how many.
pub fn insert(s: &SchemaName) -> String {
    let s_ = &s.ident;
    format!(
        "WITH lock AS MATERIALIZED (SELECT {key} AS held),
recorded AS (
  INSERT INTO {s_}.queue_stats
    (name, deferred_count, queued_count, ready_count, active_count, failed_count, total_count,
     created_delta, completed_delta, failed_delta, delta_seconds, delta_on,
     wait_bins, run_bins, ready_oldest_seconds, captured_on)
  SELECT q.name, q.deferred_count, q.queued_count, q.ready_count, q.active_count, q.failed_count,
    q.total_count, q.created_delta, q.completed_delta, q.failed_delta, q.delta_seconds, q.delta_on,
    q.wait_bins, q.run_bins, q.ready_oldest_seconds, {s_}.job_now()
  FROM {s_}.queue q CROSS JOIN lock
  WHERE q.name IN (SELECT json_array_elements_text($1::text::json))
  RETURNING 1
)
SELECT count(*)::text FROM recorded",
        key = s.lock_sql("queue-stats-insert")
    )
}

/// The columns of a snapshot as `QueueStats` names them.
const SNAPSHOT_COLUMNS: &str = r#"deferred_count AS "deferredCount", queued_count AS "queuedCount",
    ready_count AS "readyCount", active_count AS "activeCount", failed_count AS "failedCount",
    total_count AS "totalCount", created_delta AS "createdDelta", completed_delta AS "completedDelta",
    failed_delta AS "failedDelta", delta_seconds AS "deltaSeconds", delta_on AS "deltaOn",
    wait_bins AS "waitBins", run_bins AS "runBins", ready_oldest_seconds AS "readyOldestSeconds""#;

/// The recorded snapshots of queue $1 captured from $2 to $3 (either may be null), newest first,
/// at most $4. One JSON document per row.
pub fn history(s: &SchemaName) -> String {
    format!(
        r#"SELECT row_to_json(r)::text FROM (
  SELECT {SNAPSHOT_COLUMNS}, captured_on AS "capturedOn"
  FROM {s_}.queue_stats
  WHERE name = $1::text
    AND ($2::text IS NULL OR captured_on >= $2::text::timestamptz)
    AND ($3::text IS NULL OR captured_on <= $3::text::timestamptz)
  ORDER BY captured_on DESC
  LIMIT $4::text::int
) r"#,
        s_ = s.ident
    )
}

/// How a bucketed read sets its bucket width ($5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketWidth {
    /// `bucketSeconds`: $5 is the width.
    Seconds,
    /// `maxDataPoints`: the width fits the recorded range (within from/to) into $5 buckets, and
    /// at most $5 are returned.
    Points,
}

/// How a bucket collapses its gauges (`aggregate`); each stays an int.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Max,
    Min,
    Avg,
}

impl Aggregate {
    fn of(self, column: &str) -> String {
        match self {
            Aggregate::Max => format!("max({column})::int"),
            Aggregate::Min => format!("min({column})::int"),
            Aggregate::Avg => format!("round(avg({column}))::int"),
        }
    }
}

/// The history of queue $1 from $2 to $3 in epoch-aligned buckets, newest first, at most $4.
///
/// Gauges (the counts) are read at `captured_on` and collapsed with `aggregate`. Counters (the
/// deltas) describe the interval ending at `delta_on`, so they are bucketed by that time and
/// summed, never averaged; a counter bucket without a capture joins the newest gauge bucket at or
/// before it (the first one when none precedes), so every bucket returned has counts behind it.
/// The wait and run histograms of the passes a bucket's counters came from are added slot by
/// slot. Buckets use `extract(epoch)` arithmetic (no `date_bin`), which PostgreSQL 13 has.
pub fn bucketed(s: &SchemaName, aggregate: Aggregate, width: BucketWidth) -> String {
    let s_ = &s.ident;
    let width_sql = match width {
        BucketWidth::Seconds => "SELECT greatest($5::text::int, 1)::float8 AS secs".to_string(),
        BucketWidth::Points => format!(
            "SELECT greatest(1, ceil(extract(epoch FROM
      least(coalesce($3::text::timestamptz, max(captured_on)), max(captured_on))
      - greatest(coalesce($2::text::timestamptz, min(captured_on)), min(captured_on)))::float8
      / greatest($5::text::int, 1)))::float8 AS secs
    FROM {s_}.queue_stats WHERE name = $1::text"
        ),
    };
    let limit = match width {
        BucketWidth::Seconds => "$4::text::int",
        BucketWidth::Points => "least($4::text::int, $5::text::int)",
    };
    let bucket = |column: &str| {
        format!("to_timestamp(floor(extract(epoch FROM {column})::float8 / w.secs) * w.secs)")
    };
    let within = |column: &str| {
        format!(
            "({column} >= $2::text::timestamptz OR $2::text IS NULL) AND ({column} <= $3::text::timestamptz OR $3::text IS NULL)"
        )
    };
    let agg = |column: &str| aggregate.of(column);
    format!(
        r#"WITH w AS ({width_sql}),
gauges AS (
  SELECT {captured_bucket} AS bucket,
    {deferred} AS "deferredCount", {queued} AS "queuedCount", {ready} AS "readyCount",
    {active} AS "activeCount", {failed} AS "failedCount", {total} AS "totalCount"
  FROM {s_}.queue_stats, w
  WHERE name = $1::text AND {captured_within}
  GROUP BY 1
),
passes AS (
  SELECT {delta_bucket} AS counter_bucket, created_delta, completed_delta, failed_delta,
    delta_seconds, delta_on, ready_oldest_seconds, wait_bins, run_bins
  FROM {s_}.queue_stats, w
  WHERE name = $1::text AND delta_on IS NOT NULL AND {delta_within}
),
placement AS (
  SELECT c.counter_bucket,
    coalesce((SELECT max(g.bucket) FROM gauges g WHERE g.bucket <= c.counter_bucket),
             (SELECT min(g.bucket) FROM gauges g)) AS bucket
  FROM (SELECT DISTINCT counter_bucket FROM passes) c
),
counters AS (
  SELECT pl.bucket,
    sum(p.created_delta)::int AS "createdDelta", sum(p.completed_delta)::int AS "completedDelta",
    sum(p.failed_delta)::int AS "failedDelta", sum(p.delta_seconds)::int AS "deltaSeconds",
    max(p.delta_on) AS "deltaOn", max(p.ready_oldest_seconds)::int AS "readyOldestSeconds"
  FROM passes p JOIN placement pl USING (counter_bucket)
  GROUP BY 1
),
slots AS (
  SELECT pl.bucket, slot.n, coalesce(sum(slot.wait), 0)::int AS wait, coalesce(sum(slot.run), 0)::int AS run
  FROM passes p
  JOIN placement pl USING (counter_bucket)
  CROSS JOIN LATERAL unnest(p.wait_bins, p.run_bins) WITH ORDINALITY AS slot (wait, run, n)
  WHERE p.wait_bins IS NOT NULL
  GROUP BY 1, 2
),
histograms AS (
  SELECT bucket, array_agg(wait ORDER BY n) AS "waitBins", array_agg(run ORDER BY n) AS "runBins"
  FROM slots GROUP BY 1
)
SELECT row_to_json(r)::text FROM (
  SELECT g."deferredCount", g."queuedCount", g."readyCount", g."activeCount", g."failedCount",
    g."totalCount", c."createdDelta", c."completedDelta", c."failedDelta", c."deltaSeconds",
    c."deltaOn", h."waitBins", h."runBins", c."readyOldestSeconds", g.bucket AS "capturedOn"
  FROM gauges g
  LEFT JOIN counters c ON c.bucket = g.bucket
  LEFT JOIN histograms h ON h.bucket = g.bucket
  WHERE g.bucket IS NOT NULL
  ORDER BY g.bucket DESC
  LIMIT {limit}
) r"#,
        captured_bucket = bucket("captured_on"),
        delta_bucket = bucket("delta_on"),
        captured_within = within("captured_on"),
        delta_within = within("delta_on"),
        deferred = agg("deferred_count"),
        queued = agg("queued_count"),
        ready = agg("ready_count"),
        active = agg("active_count"),
        failed = agg("failed_count"),
        total = agg("total_count"),
    )
}

//! The monitor's throughput counters and latency histograms (with `persistQueueStats`), as pg-boss
//! 12.38 counts them, and the true-up that revises recorded snapshots for jobs that committed
//! after the pass that counted their window.
//!
//! A counting pass covers the window from the queue's `delta_on` (where the last counting pass,
//! of any instance, ended) to `job_now()` minus `DELTA_LAG_SECONDS`, and moves `delta_on` to that
//! end. So a fleet sharing the monitor claim counts every job once, and a pass that did not count
//! (another instance without `persistQueueStats`, a forced refresh) leaves the window open for the
//! next one. The lag is fixed, not configured: every instance must end windows alike, or an
//! interval is counted twice or skipped. A window that would reach back more than the reset
//! horizon starts afresh (null start: nothing counted, null seconds).
//!
//! - `createdDelta`: jobs whose `created_on` is in the window; `completedDelta` / `failedDelta`:
//!   jobs now completed / failed whose `completed_on` is in it.
//! - `waitBins` / `runBins`: the wait (`started_on` minus the later of `created_on` and
//!   `start_after`) and run (`completed_on` minus `started_on`) times of those finished jobs that
//!   started, in `LATENCY_SLOTS` log-spaced slots (slot 0 under 10 ms, slot k from
//!   10 ms·√2^(k-1) to 10 ms·√2^k, the last everything beyond), null where no job landed.
//! - `readyOldestSeconds`: how long the oldest ready job has waited (0 when none).

use crate::names::SchemaName;

/// How far behind the pass a counting window ends (pg-boss 12.38's `DELTA_LAG_SECONDS`).
pub const DELTA_LAG_SECONDS: i64 = 10;
/// A window reaching back further than this starts afresh, unless passes are further apart.
const RESET_MAX_SECONDS: f64 = 7200.0;
/// How far back the true-up revises snapshots (its anchor is the newest window end before this).
const TRUE_UP_MAX: &str = "interval '1 hour'";
/// Histogram slots: under 10 ms, 46 bins growing by √2, and beyond.
pub const LATENCY_SLOTS: usize = 48;
const LATENCY_MIN_SECONDS: f64 = 0.01;

/// The reset horizon (seconds) for an instance whose counting passes run every `pass_seconds`:
/// two hours, or two passes when those are longer (else every window would start afresh).
pub fn reset_max_seconds(pass_seconds: f64) -> f64 {
    if pass_seconds * 2.0 > RESET_MAX_SECONDS {
        pass_seconds * 2.0
    } else {
        RESET_MAX_SECONDS
    }
}

fn window_end(s: &SchemaName) -> String {
    format!(
        "({}.job_now() - interval '{DELTA_LAG_SECONDS} seconds')",
        s.ident
    )
}

/// The slot of a duration in seconds (float8). The constants are written out as the same doubles
/// pg-boss 12.38 writes (ln 0.01 and ln √2), so both place a job in the same slot to the last bit.
fn latency_slot(seconds: &str) -> String {
    let lo = LATENCY_MIN_SECONDS.ln();
    let width = std::f64::consts::LN_2 / 2.0;
    let last = LATENCY_SLOTS - 1;
    format!(
        "least(greatest(floor((ln(greatest(({seconds})::float8, 0.001::float8)) - ({lo})::float8) / ({width})::float8)::int + 1, 0), {last})"
    )
}

/// One histogram of the `finished` CTE's column `slot` for queue `name`: every slot in order,
/// null where none landed (so a pass in which nothing finished writes 48 nulls, not a null).
fn histogram(slot: &str) -> String {
    let last = LATENCY_SLOTS - 1;
    format!(
        "(SELECT array_agg(c.n ORDER BY g.slot)
     FROM generate_series(0, {last}) AS g(slot)
     LEFT JOIN (SELECT f.{slot} AS slot, count(*)::int AS n FROM finished f
                WHERE f.name = b.name AND f.{slot} IS NOT NULL GROUP BY 1) c ON c.slot = g.slot)"
    )
}

/// The per-queue retention a true-up must stay inside: finished jobs go after
/// `deleteAfterSeconds`, queued ones after `retentionSeconds`, whichever is sooner.
fn retention_floor(s: &SchemaName, delta_on: &str, q: &str) -> String {
    format!(
        "{delta_on} >= {s_}.job_now() - (CASE WHEN {q}.deletion_seconds > 0 AND {q}.deletion_seconds < {q}.retention_seconds
      THEN {q}.deletion_seconds ELSE {q}.retention_seconds END) * interval '1 second'",
        s_ = s.ident
    )
}

/// The snapshots a true-up may look at: captured within twice its horizon, with a window end.
fn reach(s: &SchemaName, alias: &str) -> String {
    format!(
        "{alias}.captured_on >= {s_}.job_now() - 2 * {TRUE_UP_MAX} AND {alias}.delta_on IS NOT NULL",
        s_ = s.ident
    )
}

/// The anchor of a queue's revisable windows from its snapshots in reach (`s`, grouped): the
/// newest window end at least the horizon old, or one that started afresh (null seconds: it
/// counted nothing before its end on purpose), else the oldest; never before the first window end
/// inside the queue's retention (the recount sees only rows retention has not deleted), and null
/// when no window ends inside it.
fn anchor(s: &SchemaName, q: &str) -> String {
    let s_ = &s.ident;
    let floor = retention_floor(s, "s.delta_on", q);
    format!(
        "CASE WHEN x.f IS NULL OR x.f > x.b THEN x.f ELSE x.b END AS h FROM (
      SELECT coalesce(max(s.delta_on) FILTER (WHERE s.delta_on <= {s_}.job_now() - {TRUE_UP_MAX} OR s.delta_seconds IS NULL),
          min(s.delta_on)) AS b,
        min(s.delta_on) FILTER (WHERE {floor}) AS f"
    )
}

/// CTEs (each ending with a comma) computing, for the queues of CTE `names` when `gate` holds,
/// the window, counters, histograms and oldest ready wait of this pass, and whether the recorded
/// windows since the true-up anchor hold fewer jobs than a recount finds (`true_up`). One row per
/// queue in CTE `throughput`.
pub fn counting_ctes(s: &SchemaName, t: &str, gate: &str, reset_max_seconds: f64) -> String {
    let s_ = &s.ident;
    let end = window_end(s);
    let wait =
        latency_slot("date_part('epoch', j.started_on - greatest(j.created_on, j.start_after))");
    let run = latency_slot("date_part('epoch', j.completed_on - j.started_on)");
    let reach_s = reach(s, "s");
    let anchor_q = anchor(s, "q");
    format!(
        r#"bounds AS (
  SELECT q.name, {end} AS w_end,
    CASE WHEN q.delta_on > {end} - make_interval(secs => {reset_max_seconds}) THEN q.delta_on END AS w_start,
    a.h
  FROM {s_}.queue q
  -- the true-up anchor from the recorded snapshots
  LEFT JOIN LATERAL (SELECT {anchor_q}
    FROM {s_}.queue_stats s WHERE s.name = q.name AND {reach_s}) x) a ON true
  WHERE q.name IN (SELECT name FROM names) AND {gate}
),
finished AS MATERIALIZED (
  SELECT b.name, j.state,
    CASE WHEN j.started_on IS NOT NULL THEN {wait} END AS wait_slot,
    CASE WHEN j.started_on IS NOT NULL THEN {run} END AS run_slot
  FROM bounds b JOIN {s_}.{t} j ON j.name = b.name
  WHERE j.completed_on >= b.w_start AND j.completed_on < b.w_end AND j.state IN ('completed', 'failed')
),
throughput AS (
  SELECT b.name, b.w_start, b.w_end,
    (SELECT count(*)::int FROM {s_}.{t} j
      WHERE j.name = b.name AND j.created_on >= b.w_start AND j.created_on < b.w_end) AS created,
    (SELECT count(*)::int FROM finished f WHERE f.name = b.name AND f.state = 'completed') AS completed,
    (SELECT count(*)::int FROM finished f WHERE f.name = b.name AND f.state = 'failed') AS failed,
    {wait_bins} AS wait_bins,
    {run_bins} AS run_bins,
    (SELECT round(extract(epoch FROM {s_}.job_now() - min(greatest(j.created_on, j.start_after))))::int
      FROM {s_}.{t} j
      WHERE j.name = b.name AND j.state < 'active' AND NOT j.blocked AND j.start_after <= {s_}.job_now()) AS ready_oldest,
    -- the true-up check: the recorded windows after the anchor against a recount of their jobs
    coalesce(
      (SELECT count(*) FROM {s_}.{t} j WHERE j.name = b.name AND j.created_on >= b.h AND j.created_on < r.top)
      + (SELECT count(*) FROM {s_}.{t} j WHERE j.name = b.name AND j.completed_on >= b.h AND j.completed_on < r.top
           AND j.state IN ('completed', 'failed'))
      > r.settled, false) AS true_up
  FROM bounds b
  LEFT JOIN LATERAL (
    SELECT max(s.delta_on) AS top, sum(s.created_delta + s.completed_delta + s.failed_delta) AS settled
    FROM {s_}.queue_stats s WHERE s.name = b.name AND {reach_s} AND s.delta_on > b.h
  ) r ON true
),"#,
        wait_bins = histogram("wait_slot"),
        run_bins = histogram("run_slot"),
    )
}

/// The SET assignments (each ending with a comma) of a counting pass from `throughput` row `d` on
/// queue row `q` (read as it was before the update). A queue absent from `d` cannot occur (every
/// counted queue has a row), but would record zeros. The window never moves backwards.
pub fn counting_assignments(s: &SchemaName) -> String {
    let end = window_end(s);
    let empty = vec!["NULL"; LATENCY_SLOTS].join(",");
    let seconds = "round(extract(epoch FROM d.w_end - d.w_start))::int";
    format!(
        "
    created_delta = coalesce(d.created, 0), completed_delta = coalesce(d.completed, 0),
    failed_delta = coalesce(d.failed, 0),
    delta_seconds = CASE WHEN {seconds} < 0 THEN 0 ELSE {seconds} END,
    delta_on = greatest(q.delta_on, {end}),
    wait_bins = coalesce(d.wait_bins, '{{{empty}}}'::int[]),
    run_bins = coalesce(d.run_bins, '{{{empty}}}'::int[]),
    ready_oldest_seconds = coalesce(d.ready_oldest, 0),"
    )
}

/// Raise the counters of the recent snapshots of the queues in $1 (a JSON array) in `t` to a
/// recount of their windows, for jobs that committed after the pass that counted them. Each job
/// is placed in its window by `width_bucket` over the window ends after the anchor; counters only
/// rise (retention removes rows a window counted). Under the `queue-stats` try-lock, so two
/// instances don't both scan: one JSON row `{ raised, pinSeconds }` when it ran, none when
/// another instance held the lock.
pub fn true_up(s: &SchemaName, t: &str) -> String {
    let s_ = &s.ident;
    let reach_s = reach(s, "s");
    let floor = retention_floor(s, "r.delta_on", "r");
    format!(
        r#"WITH lock AS MATERIALIZED (SELECT {key} AS got),
reached AS (
  SELECT s.id, s.captured_on, s.name, s.delta_on, s.delta_seconds, s.created_delta, s.completed_delta,
    s.failed_delta, q.deletion_seconds, q.retention_seconds
  FROM {s_}.queue_stats s JOIN {s_}.queue q ON q.name = s.name
  WHERE s.name IN (SELECT json_array_elements_text($1::text::json)) AND {reach_s} AND (SELECT got FROM lock)
),
anchors AS (
  SELECT x.name, CASE WHEN x.f IS NULL OR x.f > x.b THEN x.f ELSE x.b END AS h
  FROM (
    SELECT r.name,
      coalesce(max(r.delta_on) FILTER (WHERE r.delta_on <= {s_}.job_now() - {TRUE_UP_MAX} OR r.delta_seconds IS NULL),
        min(r.delta_on)) AS b,
      min(r.delta_on) FILTER (WHERE {floor}) AS f
    FROM reached r GROUP BY r.name
  ) x
),
windows AS (
  SELECT r.*, a.h, row_number() OVER (PARTITION BY r.name ORDER BY r.delta_on, r.captured_on) AS i
  FROM reached r JOIN anchors a ON a.name = r.name
  WHERE r.delta_on > a.h
),
edges AS (
  SELECT w.name, w.h, array_prepend(w.h, array_agg(w.delta_on ORDER BY w.i)) AS ends
  FROM windows w GROUP BY w.name, w.h
),
placed AS (
  SELECT e.name, width_bucket(j.created_on, e.ends) AS i, 1 AS created, 0 AS completed, 0 AS failed
  FROM edges e JOIN {s_}.{t} j ON j.name = e.name AND j.created_on >= e.h
  UNION ALL
  SELECT e.name, width_bucket(j.completed_on, e.ends), 0, (j.state = 'completed')::int, (j.state = 'failed')::int
  FROM edges e JOIN {s_}.{t} j ON j.name = e.name AND j.completed_on >= e.h
  WHERE j.state IN ('completed', 'failed')
),
recount AS (
  SELECT p.name, p.i, sum(p.created)::int AS created, sum(p.completed)::int AS completed,
    sum(p.failed)::int AS failed
  FROM placed p GROUP BY 1, 2
),
raised AS (
  UPDATE {s_}.queue_stats s SET
    created_delta = greatest(s.created_delta, c.created),
    completed_delta = greatest(s.completed_delta, c.completed),
    failed_delta = greatest(s.failed_delta, c.failed)
  FROM windows w JOIN recount c ON c.name = w.name AND c.i = w.i
  WHERE s.id = w.id AND s.captured_on = w.captured_on
    AND (c.created > s.created_delta OR c.completed > s.completed_delta OR c.failed > s.failed_delta)
  RETURNING 1
)
SELECT json_build_object('raised', (SELECT count(*) FROM raised),
  'pinSeconds', extract(epoch FROM clock_timestamp() - transaction_timestamp())::float8)::text
WHERE (SELECT got FROM lock)"#,
        key = s.try_lock_sql("queue-stats")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_horizon_is_two_hours_or_two_passes() {
        assert_eq!(reset_max_seconds(60.0), 7200.0);
        assert_eq!(reset_max_seconds(3600.0), 7200.0);
        assert_eq!(reset_max_seconds(5000.0), 10000.0);
    }

    #[test]
    fn the_slot_constants_are_the_doubles_pg_boss_writes() {
        // Math.log(0.01) and Math.log(2) / 2 as JavaScript prints them
        let slot = latency_slot("x");
        assert!(slot.contains("(-4.605170185988091)::float8"), "{slot}");
        assert!(slot.contains("(0.34657359027997264)::float8"), "{slot}");
    }
}

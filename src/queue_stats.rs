//! Queue stats history (`persistQueueStats`, `queueStatRetentionDays`): every monitor pass that
//! counts a queue records a snapshot of its row in `queue_stats`, retention drops whole UTC days,
//! and `getQueueStats(name, { from, to, limit, bucketSeconds | maxDataPoints, aggregate })` reads
//! the series back, newest first, as pg-boss 12.38 shapes it. `percentiles` is checked here and
//! listed on each snapshot as `{ p }`; lib/latency.js reads the times from its histograms.

use crate::engine::Engine;
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::plans::queue_stats::{self as sql, Aggregate, BucketWidth};
use serde_json::{json, Map, Value};

const MAX_LIMIT: f64 = 100_000.0;

/// The gauges every snapshot carries (0 when unknown).
const COUNT_FIELDS: [&str; 6] = [
    "deferredCount",
    "queuedCount",
    "readyCount",
    "activeCount",
    "failedCount",
    "totalCount",
];
/// The counters only a recorded snapshot carries (null until a pass counted them).
const DELTA_FIELDS: [&str; 4] = [
    "completedDelta",
    "failedDelta",
    "createdDelta",
    "deltaSeconds",
];

/// The `percentiles` option: each percent once, in the order first asked for.
pub fn percentiles_option(options: &Object) -> Result<Option<Vec<f64>>> {
    let Some(given) = options
        .get("percentiles")
        .filter(|v| !js::is_undefined(Some(v)))
    else {
        return Ok(None);
    };
    let valid = match given {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|p| p.as_f64().filter(|p| (1.0..=100.0).contains(p)))
            .collect::<Option<Vec<f64>>>(),
        _ => None,
    };
    ensure(
        valid.is_some(),
        "getQueueStats: percentiles must be a non-empty array of percents from 1 to 100, such as [50, 95]",
    )?;
    let mut distinct: Vec<f64> = Vec::new();
    for p in valid.unwrap_or_default() {
        if !distinct.contains(&p) {
            distinct.push(p);
        }
    }
    Ok(Some(distinct))
}

/// A histogram as handed out: the slots stored as null read 0; `None` when none was recorded.
fn bins(value: Option<&Value>) -> Option<Vec<f64>> {
    match value {
        Some(Value::Array(slots)) => {
            Some(slots.iter().map(|n| n.as_f64().unwrap_or(0.0)).collect())
        }
        _ => None,
    }
}

fn bins_json(bins: &Option<Vec<f64>>) -> Value {
    match bins {
        None => Value::Null,
        Some(slots) => Value::Array(slots.iter().map(|n| json!(*n as i64)).collect()),
    }
}

/// The asked-for percentiles, as `{ p }` entries JavaScript fills from the snapshot's histograms.
pub fn add_percentiles(
    snapshot: &mut Map<String, Value>,
    percentiles: &Option<Vec<f64>>,
) -> Result<()> {
    if let Some(percentiles) = percentiles {
        let entries = percentiles.iter().map(|p| json!({ "p": p })).collect();
        snapshot.insert("percentiles".into(), Value::Array(entries));
    }
    Ok(())
}

/// A recorded snapshot (or bucket) in `QueueStats` shape.
fn recorded_snapshot(name: &str, row: &Value) -> Map<String, Value> {
    let mut snapshot = Map::new();
    snapshot.insert("name".into(), json!(name));
    let present = |k: &str| row.get(k).filter(|v| !v.is_null()).cloned();
    for field in COUNT_FIELDS {
        snapshot.insert(field.into(), present(field).unwrap_or(json!(0)));
    }
    for field in DELTA_FIELDS {
        snapshot.insert(field.into(), present(field).unwrap_or(Value::Null));
    }
    snapshot.insert("deltaOn".into(), present("deltaOn").unwrap_or(Value::Null));
    snapshot.insert("waitBins".into(), bins_json(&bins(row.get("waitBins"))));
    snapshot.insert("runBins".into(), bins_json(&bins(row.get("runBins"))));
    snapshot.insert(
        "readyOldestSeconds".into(),
        present("readyOldestSeconds").unwrap_or(Value::Null),
    );
    snapshot.insert(
        "capturedOn".into(),
        present("capturedOn").unwrap_or(Value::Null),
    );
    snapshot
}

/// An integer option in `min..=max` (`Number.isInteger`), else `message`.
fn integer_between(value: Option<&Value>, min: f64, max: f64, message: &str) -> Result<f64> {
    let n = value
        .and_then(Value::as_f64)
        .filter(|_| js::is_integer(value));
    ensure(n.is_some_and(|n| n >= min && n <= max), message)?;
    Ok(n.unwrap_or(min))
}

/// The `from` / `to` bound as node-postgres would send it (a Date arrives as its ISO text).
fn bound(options: &Object, key: &str) -> Option<String> {
    js::pg_text(options.get(key))
}

/// Rows one retention batch deletes where `queue_stats` is not partitioned (pg-boss's
/// DELETION_BATCH_SIZE).
const STATS_DELETION_BATCH: i64 = 10_000;

impl Engine {
    /// Today's and tomorrow's daily partitions; nothing where the backend has no partitioning.
    pub(crate) async fn ensure_queue_stats_partitions(&self) -> Result<()> {
        if self.config.profile().no_table_partitioning {
            return Ok(());
        }
        let db = self.instance_db()?;
        db.batch(&sql::ensure_partitions(&self.config.schema)).await
    }

    /// Snapshot the queues a monitor pass just counted.
    pub(crate) async fn insert_queue_stats(&self, names: &[String]) -> Result<()> {
        let names = Some(json!(names).to_string());
        self.timed(&sql::insert(&self.config.schema), &[names])
            .await
            .map(|_| ())
    }

    /// After a counting pass recorded its snapshots: the queues whose recorded windows hold
    /// fewer jobs than the pass's recount found (`trueUp` on the rows `cache_queue_stats` wrote)
    /// have those snapshots raised. A second scan, paid only when the check fires; it holds the
    /// horizon like the counts do.
    pub(crate) async fn true_up_queue_stats(&self, table: &str, written: &[String]) -> Result<()> {
        let mut late = Vec::new();
        for row in written {
            let v: Value = serde_json::from_str(row)?;
            if v.get("trueUp") == Some(&Value::Bool(true)) {
                if let Some(name) = v.get("name").and_then(Value::as_str) {
                    late.push(name.to_string());
                }
            }
        }
        if late.is_empty() {
            return Ok(());
        }
        let rows = self
            .timed(
                &crate::plans::throughput::true_up(&self.config.schema, table),
                &[Some(json!(late).to_string())],
            )
            .await?;
        if let Some(row) = rows.first() {
            let v: Value = serde_json::from_str(row)?;
            let pinned = v.get("pinSeconds").and_then(Value::as_f64).unwrap_or(0.0);
            self.vacuum.add_pinned(pinned);
        }
        Ok(())
    }

    /// Drop the days past `queueStatRetentionDays` (with `persistQueueStats`); where the backend
    /// has no table partitioning, delete those rows a batch at a time, as pg-boss 12.38 does.
    pub(crate) async fn maintain_queue_stats(&self) -> Result<()> {
        if !self.config.persist_queue_stats {
            return Ok(());
        }
        let db = self.instance_db()?;
        if self.config.profile().no_table_partitioning {
            let days = self.config.queue_stat_retention_days;
            let sql = sql::delete_old_rows(&self.config.schema, days, STATS_DELETION_BATCH);
            let mut cursor: Option<String> = None;
            loop {
                let rows = self.query(&db, &sql, &[cursor.take()]).await?;
                let v: Value = match rows.first() {
                    Some(text) => serde_json::from_str(text)?,
                    None => break,
                };
                match v.get("cursor") {
                    Some(c) if !c.is_null() => cursor = Some(c.to_string()),
                    _ => break,
                }
            }
            return Ok(());
        }
        db.batch(&sql::drop_old_partitions(
            &self.config.schema,
            self.config.queue_stat_retention_days,
        ))
        .await
    }

    /// `getQueueStats` with `persistQueueStats`: the recorded series, as a JSON array text.
    pub(crate) async fn queue_stats_history(
        &self,
        name: &str,
        options: &Object,
        percentiles: &Option<Vec<f64>>,
    ) -> Result<String> {
        // an unknown queue fails as in the cache path, not with an empty series
        self.queue_info(name).await?;
        let given = |k: &str| options.get(k).filter(|v| !js::is_undefined(Some(v)));
        let limit = match given("limit") {
            None => 1000.0,
            v => integer_between(
                v,
                1.0,
                MAX_LIMIT,
                "getQueueStats: limit must be an integer between 1 and 100000",
            )?,
        };
        let mut params = vec![
            Some(name.to_string()),
            bound(options, "from"),
            bound(options, "to"),
            Some(format!("{limit}")),
        ];
        let bucketing = match (given("bucketSeconds"), given("maxDataPoints")) {
            (None, None) => None,
            (seconds, points) => {
                let aggregate = match given("aggregate").and_then(Value::as_str) {
                    None if given("aggregate").is_none() => Aggregate::Max,
                    Some("max") => Aggregate::Max,
                    Some("min") => Aggregate::Min,
                    Some("avg") => Aggregate::Avg,
                    _ => {
                        return Err(crate::error::BossError::assertion(
                            "getQueueStats: aggregate must be 'max', 'min', or 'avg'",
                        ))
                    }
                };
                let (mode, value, key) = match seconds {
                    Some(v) => (BucketWidth::Seconds, Some(v), "bucketSeconds"),
                    None => (BucketWidth::Points, points, "maxDataPoints"),
                };
                let width = integer_between(
                    value,
                    1.0,
                    f64::MAX,
                    &format!("getQueueStats: {key} must be a positive integer"),
                )?;
                params.push(Some(format!("{width}")));
                Some((aggregate, mode))
            }
        };
        let s = &self.config.schema;
        let statement = match bucketing {
            None => sql::history(s),
            Some((aggregate, mode)) => sql::bucketed(s, aggregate, mode),
        };
        let db = self.instance_db()?;
        let rows = self.query(&db, &statement, &params).await?;
        let mut series = Vec::with_capacity(rows.len());
        for row in rows {
            let row: Value = serde_json::from_str(&row)?;
            let mut snapshot = recorded_snapshot(name, &row);
            add_percentiles(&mut snapshot, percentiles)?;
            series.push(Value::Object(snapshot));
        }
        Ok(Value::Array(series).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(v: Value) -> Object {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn percentiles_are_checked_and_kept_once_in_order() {
        assert_eq!(percentiles_option(&o(json!({}))).unwrap(), None);
        assert_eq!(
            percentiles_option(&o(json!({ "percentiles": [95, 50, 95] }))).unwrap(),
            Some(vec![95.0, 50.0])
        );
        for bad in [
            json!([]),
            json!([0]),
            json!([101]),
            json!(["50"]),
            json!(50),
        ] {
            let err = percentiles_option(&o(json!({ "percentiles": bad }))).unwrap_err();
            assert_eq!(
                err.message,
                "getQueueStats: percentiles must be a non-empty array of percents from 1 to 100, such as [50, 95]"
            );
        }
    }

    #[test]
    fn a_recorded_snapshot_keeps_nulls_where_nothing_was_counted() {
        let row = json!({ "queuedCount": 3, "completedDelta": null, "waitBins": [null, 2],
                          "capturedOn": "2026-01-01T00:00:00Z" });
        let mut s = recorded_snapshot("q", &row);
        assert_eq!(s["queuedCount"], json!(3));
        assert_eq!(s["activeCount"], json!(0));
        assert_eq!(s["completedDelta"], Value::Null);
        assert_eq!(s["waitBins"], json!([0, 2]));
        assert_eq!(s["runBins"], Value::Null);
        add_percentiles(&mut s, &Some(vec![50.0])).unwrap();
        assert_eq!(s["percentiles"], json!([{ "p": 50.0 }]));
    }
}

//! Batch metrics per queue and per worker: counters and latency summaries, readable at run time
//! as JSON or in the Prometheus text format.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Log-scale latency histogram: bucket `i` holds samples below `BASE^i` microseconds, so
/// quantiles are exact to within ~5% at any scale, in constant memory.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum_us: u128,
    max_us: u64,
}

const BASE: f64 = 1.1;
const BUCKETS: usize = 250; // 1.1^250 µs ≈ 2.2e10 µs ≈ 6 hours

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum_us: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = if us <= 1 {
            0
        } else {
            ((us as f64).ln() / BASE.ln()).ceil() as usize
        };
        self.buckets[i.min(BUCKETS - 1)] += 1;
        self.count += 1;
        self.sum_us += us as u128;
        self.max_us = self.max_us.max(us);
    }

    /// The `q` quantile in milliseconds (upper bound of its bucket, capped at the max seen).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let upper = BASE.powi(i as i32);
                return (upper.min(self.max_us as f64)) / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }

    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count,
            "p50": round3(self.quantile_ms(0.5)),
            "p95": round3(self.quantile_ms(0.95)),
            "p99": round3(self.quantile_ms(0.99)),
            "max": round3(self.max_us as f64 / 1000.0),
        })
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub fetched: u64,
    pub completed: u64,
    pub failed: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub batches: u64,
    pub in_flight: i64,
    pub fetch: Histogram,
    pub handler: Histogram,
    pub settle: Histogram,
}

impl Counters {
    fn to_json(&self) -> Value {
        json!({
            "fetched": self.fetched,
            "completed": self.completed,
            "failed": self.failed,
            "retried": self.retried,
            "deadLettered": self.dead_lettered,
            "batches": self.batches,
            "inFlight": self.in_flight,
            "fetchLatencyMs": self.fetch.to_json(),
            "handlerLatencyMs": self.handler.to_json(),
            "settleLatencyMs": self.settle.to_json(),
        })
    }
}

/// What one settle statement did.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettleCounts {
    pub completed: u64,
    pub retried: u64,
    pub failed: u64,
    pub dead_lettered: u64,
}

#[derive(Default)]
struct QueueMetrics {
    totals: Counters,
    workers: BTreeMap<String, Counters>,
}

/// A counter or gauge column of the Prometheus output: name, help, how to read it.
type CounterColumn = (&'static str, &'static str, fn(&Counters) -> f64);
/// A latency summary of the Prometheus output: name, help, which histogram.
type SummaryColumn = (&'static str, &'static str, fn(&Counters) -> &Histogram);

/// All metrics of one instance.
#[derive(Default)]
pub struct Metrics {
    queues: Mutex<BTreeMap<String, QueueMetrics>>,
}

impl Metrics {
    fn update(&self, queue: &str, worker: &str, f: impl Fn(&mut Counters)) {
        if let Ok(mut queues) = self.queues.lock() {
            let q = queues.entry(queue.to_string()).or_default();
            f(&mut q.totals);
            f(q.workers.entry(worker.to_string()).or_default());
        }
    }

    pub fn fetched(&self, queue: &str, worker: &str, jobs: usize, took: Duration) {
        self.update(queue, worker, |c| {
            c.fetched += jobs as u64;
            c.fetch.record(took);
            if jobs > 0 {
                c.batches += 1;
            }
            c.in_flight += jobs as i64;
        });
    }

    pub fn handled(&self, queue: &str, worker: &str, took: Duration) {
        self.update(queue, worker, |c| c.handler.record(took));
    }

    /// `released` jobs left this worker's hands (settled, or abandoned at shutdown).
    pub fn settled(
        &self,
        queue: &str,
        worker: &str,
        counts: SettleCounts,
        released: usize,
        took: Duration,
    ) {
        self.update(queue, worker, |c| {
            c.completed += counts.completed;
            c.retried += counts.retried;
            c.failed += counts.failed;
            c.dead_lettered += counts.dead_lettered;
            c.in_flight -= released as i64;
            c.settle.record(took);
        });
    }

    /// `n` claimed jobs went back to the queue unstarted (no settle happened).
    pub fn handed_back(&self, queue: &str, worker: &str, n: usize) {
        self.update(queue, worker, |c| c.in_flight -= n as i64);
    }

    pub fn to_json(&self) -> Value {
        let queues = match self.queues.lock() {
            Ok(q) => q,
            Err(_) => return json!({ "queues": {} }),
        };
        let mut out = serde_json::Map::new();
        for (name, q) in queues.iter() {
            let mut entry = q.totals.to_json();
            let workers: serde_json::Map<String, Value> = q
                .workers
                .iter()
                .map(|(id, c)| (id.clone(), c.to_json()))
                .collect();
            entry["workers"] = Value::Object(workers);
            out.insert(name.clone(), entry);
        }
        json!({ "queues": out })
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let queues = match self.queues.lock() {
            Ok(q) => q,
            Err(_) => return String::new(),
        };
        let mut out = String::new();
        let esc = |v: &str| {
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let counters: [CounterColumn; 7] = [
            (
                "pgboss_jobs_fetched_total",
                "Jobs claimed by workers",
                |c| c.fetched as f64,
            ),
            (
                "pgboss_jobs_completed_total",
                "Jobs completed by workers",
                |c| c.completed as f64,
            ),
            (
                "pgboss_jobs_failed_total",
                "Jobs failed terminally by workers",
                |c| c.failed as f64,
            ),
            (
                "pgboss_jobs_retried_total",
                "Jobs failed with attempts left, queued for retry",
                |c| c.retried as f64,
            ),
            (
                "pgboss_jobs_dead_lettered_total",
                "Copies written to a dead letter queue",
                |c| c.dead_lettered as f64,
            ),
            ("pgboss_batches_total", "Non-empty fetches", |c| {
                c.batches as f64
            }),
            ("pgboss_jobs_in_flight", "Jobs held by workers now", |c| {
                c.in_flight as f64
            }),
        ];
        for (metric, help, get) in counters {
            let kind = if metric.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} {kind}\n"));
            for (queue, q) in queues.iter() {
                for (worker, c) in &q.workers {
                    out.push_str(&format!(
                        "{metric}{{queue=\"{}\",worker=\"{}\"}} {}\n",
                        esc(queue),
                        esc(worker),
                        get(c)
                    ));
                }
            }
        }
        let summaries: [SummaryColumn; 3] = [
            (
                "pgboss_fetch_latency_seconds",
                "Time to claim a batch",
                |c| &c.fetch,
            ),
            (
                "pgboss_handler_latency_seconds",
                "Time in the handler per batch or job",
                |c| &c.handler,
            ),
            (
                "pgboss_settle_latency_seconds",
                "Time to settle a batch",
                |c| &c.settle,
            ),
        ];
        for (metric, help, get) in summaries {
            out.push_str(&format!(
                "# HELP {metric} {help}\n# TYPE {metric} summary\n"
            ));
            for (queue, q) in queues.iter() {
                for (worker, c) in &q.workers {
                    let h = get(c);
                    let labels = format!("queue=\"{}\",worker=\"{}\"", esc(queue), esc(worker));
                    for q in [0.5, 0.95, 0.99] {
                        out.push_str(&format!(
                            "{metric}{{{labels},quantile=\"{q}\"}} {}\n",
                            h.quantile_ms(q) / 1000.0
                        ));
                    }
                    out.push_str(&format!(
                        "{metric}_sum{{{labels}}} {}\n",
                        h.sum_us as f64 / 1e6
                    ));
                    out.push_str(&format!("{metric}_count{{{labels}}} {}\n", h.count));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_close_to_exact() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile_ms(0.5);
        assert!((45.0..=56.0).contains(&p50), "p50 {p50}");
        assert!(h.quantile_ms(0.99) <= 100.0);
        assert_eq!(h.to_json()["count"], 100);
    }

    #[test]
    fn counters_roll_up_to_queue_and_worker() {
        let m = Metrics::default();
        m.fetched("q", "w1", 3, Duration::from_millis(2));
        m.settled(
            "q",
            "w1",
            SettleCounts {
                completed: 2,
                failed: 1,
                ..Default::default()
            },
            3,
            Duration::from_millis(1),
        );
        let j = m.to_json();
        assert_eq!(j["queues"]["q"]["completed"], 2);
        assert_eq!(j["queues"]["q"]["workers"]["w1"]["failed"], 1);
        assert_eq!(j["queues"]["q"]["inFlight"], 0);
        assert!(m
            .to_prometheus()
            .contains("pgboss_jobs_completed_total{queue=\"q\",worker=\"w1\"} 2"));
    }
}

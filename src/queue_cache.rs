//! The per-instance queue cache pg-boss keeps: physical table, policy and notify flag of each
//! queue, so a send or fetch costs one statement. Refreshed wholesale on an interval and evicted
//! by this instance's own queue changes.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub name: String,
    pub table: String,
    pub policy: String,
    pub partition: bool,
    pub notify: bool,
    pub dead_letter: Option<String>,
    /// The monitor's last ready count (burst decisions read it, as pg-boss does).
    pub ready_count: i64,
}

impl QueueInfo {
    pub fn from_json(v: &Value) -> Option<QueueInfo> {
        let o = v.as_object()?;
        let s = |k: &str| o.get(k).and_then(|x| x.as_str()).map(str::to_string);
        Some(QueueInfo {
            name: s("name")?,
            table: s("table")?,
            policy: s("policy").unwrap_or_else(|| "standard".into()),
            partition: o.get("partition").and_then(Value::as_bool).unwrap_or(false),
            notify: o.get("notify").and_then(Value::as_bool).unwrap_or(false),
            dead_letter: s("deadLetter"),
            ready_count: o.get("readyCount").and_then(Value::as_i64).unwrap_or(0),
        })
    }
}

#[derive(Default)]
pub struct QueueCache {
    /// `None` until the instance starts (pg-boss: "Queue cache is not initialized").
    queues: RwLock<Option<HashMap<String, QueueInfo>>>,
}

impl QueueCache {
    pub fn get(&self, name: &str) -> Option<QueueInfo> {
        self.queues.read().ok()?.as_ref()?.get(name).cloned()
    }
    pub fn is_initialized(&self) -> bool {
        self.queues.read().map(|q| q.is_some()).unwrap_or(false)
    }
    pub fn insert(&self, info: QueueInfo) {
        if let Ok(mut q) = self.queues.write() {
            q.get_or_insert_with(HashMap::new)
                .insert(info.name.clone(), info);
        }
    }
    pub fn evict(&self, name: &str) {
        if let Ok(mut q) = self.queues.write() {
            if let Some(map) = q.as_mut() {
                map.remove(name);
            }
        }
    }
    pub fn replace_all(&self, infos: Vec<QueueInfo>) {
        if let Ok(mut q) = self.queues.write() {
            *q = Some(infos.into_iter().map(|i| (i.name.clone(), i)).collect());
        }
    }
    pub fn clear(&self) {
        if let Ok(mut q) = self.queues.write() {
            *q = None;
        }
    }
}

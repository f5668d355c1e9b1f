//! Process vitals for the registry's `metrics` column, as pg-boss 12.38 samples them each
//! heartbeat: CPU used against the cores the process may use (its cgroup's quota, else the CPUs it
//! may run on) and how often that quota throttled it, resident and container memory against the
//! container's limit (else the host's memory), and, from the JavaScript side (`VitalsSource`), the
//! V8 heap and the event loop's delay and utilization. Everything is read from `/proc` and the
//! cgroup file system (v1 and v2, nested hierarchies: the tightest limit on the way up wins), and
//! anything unreadable is null, never an error.

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Instant;

/// What only JavaScript can read: `{ heapUsed, heapLimit, loopDelay, loopDelayMax,
/// loopUtilization }`, the loop values null on the first sample after `reset`.
pub trait VitalsSource: Send + Sync {
    fn sample(&self) -> BoxFuture<'static, Value>;
}

/// cgroup v1 reports "no limit" as a huge number near 2^63.
const V1_UNLIMITED: f64 = 1_152_921_504_606_846_976.0; // 2^60

fn round(n: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (n * f).round() / f
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `key <n>` in a `*.stat` file.
fn stat_field(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The directories of one controller's hierarchy from this process's cgroup up to the mount,
/// innermost first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cgroup {
    pub version: u8,
    pub cpu: Option<Hierarchy>,
    pub memory: Option<Hierarchy>,
}

struct Mount {
    root: String,
    point: String,
    fs: String,
    options: Vec<String>,
}

/// Octal escapes (`\040` for a space) of mountinfo paths.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("x");
            if let Ok(n) = u8::from_str_radix(digits, 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let pre: Vec<&str> = before.split(' ').collect();
            let post: Vec<&str> = after.split(' ').collect();
            if pre.len() < 5 || post.len() < 3 {
                return None;
            }
            Some(Mount {
                root: unescape(pre[3]),
                point: unescape(pre[4]),
                fs: post[0].to_string(),
                options: post[2].split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

fn hierarchy(prefix: &str, mount: &Mount, path: &str) -> Hierarchy {
    let relative = if mount.root == "/" {
        path.to_string()
    } else if path == mount.root || path.starts_with(&format!("{}/", mount.root)) {
        path[mount.root.len()..].to_string()
    } else {
        String::new()
    };
    let base = format!("{prefix}{}", mount.point);
    let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
    let dirs = (0..=parts.len())
        .rev()
        .map(|n| {
            std::iter::once(base.as_str())
                .chain(parts[..n].iter().copied())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    Hierarchy { dirs }
}

/// This process's cgroup under `prefix` (empty for the real file system), or none.
pub fn find_cgroup(prefix: &str) -> Option<Cgroup> {
    let own = std::fs::read_to_string(format!("{prefix}/proc/self/cgroup")).ok()?;
    let entries: Vec<(String, Vec<String>, String)> = own
        .lines()
        .filter(|l| !l.is_empty())
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?.to_string();
            let controllers = parts.next()?;
            let path = parts.next().unwrap_or("").to_string();
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((id, controllers, path))
        })
        .collect();
    let mounts = match std::fs::read_to_string(format!("{prefix}/proc/self/mountinfo")) {
        Ok(text) => mounts(&text),
        // without mountinfo, the conventional layout
        Err(_) => entries
            .iter()
            .map(|(_, controllers, _)| {
                if controllers.is_empty() {
                    Mount {
                        root: "/".into(),
                        point: "/sys/fs/cgroup".into(),
                        fs: "cgroup2".into(),
                        options: vec![],
                    }
                } else {
                    Mount {
                        root: "/".into(),
                        point: format!("/sys/fs/cgroup/{}", controllers.join(",")),
                        fs: "cgroup".into(),
                        options: controllers.clone(),
                    }
                }
            })
            .collect(),
    };
    let v1 = |controller: &str| {
        let (_, _, path) = entries
            .iter()
            .find(|(_, c, _)| c.iter().any(|c| c == controller))?;
        let mount = mounts
            .iter()
            .find(|m| m.fs == "cgroup" && m.options.iter().any(|o| o == controller))?;
        Some(hierarchy(prefix, mount, path))
    };
    let (cpu, memory) = (v1("cpu"), v1("memory"));
    if cpu.is_some() || memory.is_some() {
        return Some(Cgroup {
            version: 1,
            cpu,
            memory,
        });
    }
    let (_, _, path) = entries
        .iter()
        .find(|(id, c, _)| id == "0" && c.is_empty())?;
    let mount = mounts.iter().find(|m| m.fs == "cgroup2")?;
    let h = hierarchy(prefix, mount, path);
    Some(Cgroup {
        version: 2,
        cpu: Some(h.clone()),
        memory: Some(h),
    })
}

/// The tightest CPU quota on the way up, in cores, and the directory that sets it.
fn cpu_quota(cg: &Cgroup) -> Option<(f64, String)> {
    let mut best: Option<(f64, String)> = None;
    for dir in &cg.cpu.as_ref()?.dirs {
        let cores = if cg.version == 2 {
            read(&format!("{dir}/cpu.max")).and_then(|text| {
                let (quota, period) = text.split_once(' ')?;
                let (quota, period) = (quota.parse::<f64>().ok()?, period.parse::<f64>().ok()?);
                (period > 0.0).then_some(quota / period)
            })
        } else {
            let quota =
                read(&format!("{dir}/cpu.cfs_quota_us")).and_then(|q| q.parse::<f64>().ok());
            let period =
                read(&format!("{dir}/cpu.cfs_period_us")).and_then(|p| p.parse::<f64>().ok());
            match (quota, period) {
                (Some(q), Some(p)) if q > 0.0 && p > 0.0 => Some(q / p),
                _ => None,
            }
        };
        if let Some(cores) = cores.filter(|c| *c > 0.0) {
            if best.as_ref().is_none_or(|(b, _)| cores < *b) {
                best = Some((cores, dir.clone()));
            }
        }
    }
    best
}

/// The tightest memory limit on the way up, in bytes, and the directory that sets it.
fn memory_limit(cg: &Cgroup) -> Option<(f64, String)> {
    let file = if cg.version == 2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    let mut best: Option<(f64, String)> = None;
    for dir in &cg.memory.as_ref()?.dirs {
        let Some(bytes) = read(&format!("{dir}/{file}")).and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        if bytes > 0.0 && bytes < V1_UNLIMITED && best.as_ref().is_none_or(|(b, _)| bytes < *b) {
            best = Some((bytes, dir.clone()));
        }
    }
    best
}

/// The container's working set: its usage less the page cache it could drop.
fn working_set(cg: &Cgroup, dir: &str) -> Option<f64> {
    let (usage_file, inactive_key) = if cg.version == 2 {
        ("memory.current", "inactive_file")
    } else {
        ("memory.usage_in_bytes", "total_inactive_file")
    };
    let usage: f64 = read(&format!("{dir}/{usage_file}"))?
        .parse()
        .ok()
        .filter(|u: &f64| *u >= 0.0)?;
    let inactive = read(&format!("{dir}/memory.stat"))
        .and_then(|t| stat_field(&t, inactive_key))
        .unwrap_or(0.0);
    Some((usage - inactive).max(0.0))
}

/// How many CPUs a `Cpus_allowed_list` (`0-3,8`) names.
pub fn count_cpu_list(list: &str) -> Option<u32> {
    let mut n = 0;
    for part in list.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let a = part.parse::<u32>().ok()?;
                (a, a)
            }
        };
        n += b.checked_sub(a)? + 1;
    }
    (n > 0).then_some(n)
}

fn allowed_cpus(prefix: &str) -> f64 {
    read(&format!("{prefix}/proc/self/status"))
        .and_then(|status| {
            let line = status
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))?;
            count_cpu_list(line.split(':').nth(1)?.trim())
        })
        .map(f64::from)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as f64)
                .unwrap_or(1.0)
        })
}

fn total_memory() -> Option<f64> {
    let text = read("/proc/meminfo")?;
    let kb: f64 = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

fn resident_bytes() -> Option<f64> {
    let pages: f64 = read("/proc/self/statm")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (page > 0).then_some(pages * page as f64)
}

/// User plus system CPU time of the whole process, in microseconds.
fn cpu_micros() -> Option<f64> {
    // SAFETY: getrusage writes into the zeroed struct it is given
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    Some(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// The sampler's memory between heartbeats (CPU time and throttle counters are differences).
#[derive(Default)]
pub struct Vitals {
    state: Mutex<SamplerState>,
    source: Mutex<Option<std::sync::Arc<dyn VitalsSource>>>,
}

#[derive(Default)]
struct SamplerState {
    cgroup: Option<Option<Cgroup>>,
    cpu: Option<(f64, Instant)>,
    throttle: Option<(String, f64, f64)>,
}

impl Vitals {
    /// A new life (start): the next sample is a first one again.
    pub fn reset(&self) {
        if let Ok(mut s) = self.state.lock() {
            *s = SamplerState::default();
        }
    }

    pub fn set_source(&self, source: std::sync::Arc<dyn VitalsSource>) {
        if let Ok(mut s) = self.source.lock() {
            *s = Some(source);
        }
    }

    /// One sample as the `metrics` column's JSON text.
    pub async fn sample_json(&self) -> String {
        let source = self.source.lock().ok().and_then(|s| s.clone());
        let script = match source {
            Some(source) => source.sample().await,
            None => Value::Null,
        };
        self.sample(script).to_string()
    }

    /// The Rust half of a sample, and where the JavaScript half goes, in pg-boss's key order.
    pub fn sample(&self, script: Value) -> Value {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let state = &mut *guard;
        let cgroup = state.cgroup.get_or_insert_with(|| find_cgroup("")).clone();
        let now = Instant::now();
        let cpu_now = cpu_micros();
        let cpu = match (state.cpu, cpu_now) {
            (Some((before, at)), Some(now_micros)) => {
                let elapsed = now.duration_since(at).as_secs_f64() * 1e6;
                (elapsed > 0.0).then(|| round((now_micros - before) / elapsed, 3))
            }
            _ => None,
        };
        state.cpu = cpu_now.map(|c| (c, now));
        let quota = cgroup.as_ref().and_then(cpu_quota);
        let memory = cgroup.as_ref().and_then(memory_limit);
        let cpus = allowed_cpus("");
        let throttled = match (&cgroup, &quota) {
            (Some(_), Some((_, dir))) => self.throttled(state, dir),
            _ => None,
        };
        let field = |key: &str| script.get(key).cloned().unwrap_or(Value::Null);
        json!({
            "cgroup": cgroup.as_ref().map(|c| c.version),
            "cpu": cpu,
            "cpuLimit": round(quota.as_ref().map_or(cpus, |(q, _)| q.min(cpus)), 3),
            "cpuThrottled": throttled,
            "rss": resident_bytes(),
            "heapUsed": field("heapUsed"),
            "heapLimit": field("heapLimit"),
            "memoryUsed": match (&cgroup, &memory) {
                (Some(cg), Some((_, dir))) => working_set(cg, dir),
                _ => None,
            },
            "memoryLimit": memory.map(|(m, _)| m).or_else(total_memory),
            "loopDelay": field("loopDelay"),
            "loopDelayMax": field("loopDelayMax"),
            "loopUtilization": field("loopUtilization"),
        })
    }

    /// The share of CPU periods throttled since the last sample (null on the first, or when the
    /// quota moved to another directory).
    fn throttled(&self, state: &mut SamplerState, dir: &str) -> Option<f64> {
        let text = read(&format!("{dir}/cpu.stat"))?;
        let periods = stat_field(&text, "nr_periods")?;
        let throttled = stat_field(&text, "nr_throttled")?;
        let previous = state
            .throttle
            .replace((dir.to_string(), periods, throttled));
        let (prev_dir, prev_periods, prev_throttled) = previous?;
        if prev_dir != dir {
            return None;
        }
        let elapsed = periods - prev_periods;
        Some(if elapsed > 0.0 {
            round((throttled - prev_throttled) / elapsed, 3)
        } else {
            0.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> String {
        let root = std::env::temp_dir().join(format!(
            "pgbn-vitals-{}-{}",
            std::process::id(),
            files.len()
        ));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let full = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        root.to_string_lossy().into_owned()
    }

    #[test]
    fn a_v2_container_reads_its_tightest_limits_up_the_hierarchy() {
        let prefix = tree(&[
            ("/proc/self/cgroup", "0::/kubepods/pod1/c1\n"),
            (
                "/proc/self/mountinfo",
                "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
            ),
            ("/sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "max 100000\n"),
            ("/sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n"),
            ("/sys/fs/cgroup/kubepods/cpu.max", "400000 100000\n"),
            ("/sys/fs/cgroup/kubepods/pod1/c1/memory.max", "536870912\n"),
            ("/sys/fs/cgroup/kubepods/pod1/memory.max", "max\n"),
            (
                "/sys/fs/cgroup/kubepods/pod1/c1/memory.current",
                "300000000\n",
            ),
            (
                "/sys/fs/cgroup/kubepods/pod1/c1/memory.stat",
                "anon 1\ninactive_file 100000000\n",
            ),
        ]);
        let cg = find_cgroup(&prefix).expect("a cgroup");
        assert_eq!(cg.version, 2);
        assert_eq!(
            cg.cpu.as_ref().unwrap().dirs[0],
            format!("{prefix}/sys/fs/cgroup/kubepods/pod1/c1")
        );
        assert_eq!(
            cg.cpu.as_ref().unwrap().dirs.last().unwrap(),
            &format!("{prefix}/sys/fs/cgroup")
        );
        let (cores, dir) = cpu_quota(&cg).unwrap();
        assert_eq!(
            (cores, dir),
            (1.5, format!("{prefix}/sys/fs/cgroup/kubepods/pod1"))
        );
        let (bytes, dir) = memory_limit(&cg).unwrap();
        assert_eq!(bytes, 536870912.0);
        assert_eq!(working_set(&cg, &dir), Some(200000000.0));
    }

    #[test]
    fn a_v1_hierarchy_is_found_through_a_mount_with_a_root() {
        let prefix = tree(&[
            ("/proc/self/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n"),
            (
                "/proc/self/mountinfo",
                "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                 33 31 0:30 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
            ),
            ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n"),
            ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"),
        ]);
        let cg = find_cgroup(&prefix).expect("a cgroup");
        assert_eq!(cg.version, 1);
        assert_eq!(
            cg.cpu.as_ref().unwrap().dirs,
            vec![format!("{prefix}/sys/fs/cgroup/cpu,cpuacct")]
        );
        assert_eq!(cpu_quota(&cg).map(|q| q.0), Some(0.5));
        assert_eq!(memory_limit(&cg), None, "v1's no-limit value is no limit");
    }

    #[test]
    fn cpu_lists_and_escapes() {
        assert_eq!(count_cpu_list("0-3,8"), Some(5));
        assert_eq!(count_cpu_list("2"), Some(1));
        assert_eq!(count_cpu_list("x"), None);
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(
            stat_field("nr_periods 10\nnr_throttled 2\n", "nr_throttled"),
            Some(2.0)
        );
    }

    #[test]
    fn a_sample_has_pg_boss_s_keys_in_order_and_cpu_from_the_second() {
        let v = Vitals::default();
        let first = v.sample(json!({ "heapUsed": 1, "heapLimit": 2, "loopDelay": null }));
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "cgroup",
                "cpu",
                "cpuLimit",
                "cpuThrottled",
                "rss",
                "heapUsed",
                "heapLimit",
                "memoryUsed",
                "memoryLimit",
                "loopDelay",
                "loopDelayMax",
                "loopUtilization"
            ]
        );
        assert_eq!(first["cpu"], Value::Null);
        assert_eq!(first["heapLimit"], json!(2));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(v.sample(Value::Null)["cpu"].is_number());
        assert!(first["rss"].as_f64().unwrap() > 0.0);
        assert!(first["memoryLimit"].as_f64().unwrap() > 0.0);
    }
}

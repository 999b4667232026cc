//! Usage counters in the shape runc's `events --stats` prints.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{CgroupPath, Layout};

/// A container's resource usage.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
}

/// CPU time in nanoseconds.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Memory {
    pub usage: MemoryEntry,
    pub raw: BTreeMap<String, u64>,
}

/// Bytes used, the highest use seen, the limit, and how often the limit was hit.
#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    pub current: u64,
    pub limit: u64,
}

fn read_u64(path: PathBuf) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            let s = s.trim();
            if s == "max" {
                Some(u64::MAX)
            } else {
                s.parse().ok()
            }
        })
        .unwrap_or(0)
}

fn read_keyed(path: PathBuf) -> BTreeMap<String, u64> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Reads what is available; a missing controller leaves its section zero.
pub fn read(cgroup: &CgroupPath) -> Stats {
    match &cgroup.layout {
        Layout::V2 { root } => read_v2(&root.join(&cgroup.path)),
        Layout::V1 { .. } => read_v1(cgroup),
    }
}

fn read_v1(cgroup: &CgroupPath) -> Stats {
    let dir = |controller: &str| {
        cgroup
            .layout
            .v1_mount(controller)
            .map(|m| m.join(&cgroup.path))
    };
    let mut stats = Stats::default();
    if let Some(d) = dir("cpuacct") {
        stats.cpu.usage.total = read_u64(d.join("cpuacct.usage"));
        stats.cpu.usage.percpu = fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let ticks = read_keyed(d.join("cpuacct.stat"));
        let ns_per_tick = 1_000_000_000 / clock_ticks();
        stats.cpu.usage.user = ticks.get("user").copied().unwrap_or(0) * ns_per_tick;
        stats.cpu.usage.kernel = ticks.get("system").copied().unwrap_or(0) * ns_per_tick;
    }
    if let Some(d) = dir("memory") {
        stats.memory.usage = MemoryEntry {
            limit: read_u64(d.join("memory.limit_in_bytes")),
            usage: read_u64(d.join("memory.usage_in_bytes")),
            max: read_u64(d.join("memory.max_usage_in_bytes")),
            failcnt: read_u64(d.join("memory.failcnt")),
        };
        stats.memory.raw = read_keyed(d.join("memory.stat"));
    }
    if let Some(d) = dir("pids") {
        stats.pids = Pids {
            current: read_u64(d.join("pids.current")),
            limit: read_u64(d.join("pids.max")),
        };
    }
    stats
}

fn read_v2(dir: &Path) -> Stats {
    let mut stats = Stats::default();
    let cpu = read_keyed(dir.join("cpu.stat"));
    let usec = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    stats.cpu.usage.total = usec("usage_usec");
    stats.cpu.usage.user = usec("user_usec");
    stats.cpu.usage.kernel = usec("system_usec");
    let events = read_keyed(dir.join("memory.events"));
    stats.memory.usage = MemoryEntry {
        limit: read_u64(dir.join("memory.max")),
        usage: read_u64(dir.join("memory.current")),
        max: read_u64(dir.join("memory.peak")),
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    stats.memory.raw = read_keyed(dir.join("memory.stat"));
    stats.pids = Pids {
        current: read_u64(dir.join("pids.current")),
        limit: read_u64(dir.join("pids.max")),
    };
    stats
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

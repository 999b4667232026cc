//! Translating OCI `linux.resources` into cgroup v1 and v2 files.

use std::fs;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::{write, CgroupPath, Layout};
use crate::error::{Error, Result};

/// Gives a new v1 cpuset cgroup (and any new parents) the parent's cpus and mems: the kernel
/// refuses to add a task to a cpuset whose lists are empty.
pub fn inherit_cpuset(mount: &Path, path: &Path) -> Result<()> {
    let mut dir = mount.to_path_buf();
    for component in path.components() {
        let parent = dir.clone();
        dir.push(component);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let current = fs::read_to_string(dir.join(file)).unwrap_or_default();
            if current.trim().is_empty() {
                let inherited = fs::read_to_string(parent.join(file)).unwrap_or_default();
                write(&dir.join(file), inherited.trim())?;
            }
        }
    }
    Ok(())
}

/// Turns on every available controller along `path` so the leaf can use them (cgroup v2 only
/// delegates what the parent's `cgroup.subtree_control` lists).
pub fn enable_v2_controllers(root: &Path, path: &Path) -> Result<()> {
    let mut dir = root.to_path_buf();
    for component in path.components() {
        let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
        for controller in available.split_whitespace() {
            if !enabled.split_whitespace().any(|e| e == controller) {
                // Some controllers cannot be enabled (e.g. processes in the parent); the limit
                // that needs one then fails with a clear error when it is written.
                let _ = fs::write(dir.join("cgroup.subtree_control"), format!("+{controller}"));
            }
        }
        dir.push(component);
        super::create_dir(&dir)?;
    }
    Ok(())
}

/// Applies every limit in `resources` to the container's cgroup.
pub fn apply(cgroup: &CgroupPath, resources: &LinuxResources) -> Result<()> {
    match &cgroup.layout {
        Layout::V2 { root } => {
            let dir = root.join(&cgroup.path);
            if let Some(devices) = resources.devices() {
                super::devices::apply(&dir, devices)?;
            }
            apply_v2(&dir, resources)
        }
        Layout::V1 { unified, .. } => {
            apply_v1(cgroup, resources)?;
            if let Some(unified) = unified {
                let dir = unified.join(&cgroup.path);
                if cgroup.layout.v1_mount("hugetlb").is_none() {
                    apply_v2_hugetlb(&dir, resources)?;
                }
                apply_unified(&dir, resources)?;
            }
            Ok(())
        }
    }
}

fn missing(controller: &str) -> Error {
    Error::Cgroup {
        path: controller.into(),
        reason: format!("the {controller} controller is not available on this host"),
    }
}

/// A helper that writes files in the v1 hierarchy of one controller.
struct V1<'a> {
    cgroup: &'a CgroupPath,
}

impl V1<'_> {
    fn set(&self, controller: &str, file: &str, value: impl ToString) -> Result<()> {
        let mount = self
            .cgroup
            .layout
            .v1_mount(controller)
            .ok_or_else(|| missing(controller))?;
        write(
            &mount.join(&self.cgroup.path).join(file),
            &value.to_string(),
        )
    }

    fn exists(&self, controller: &str, file: &str) -> bool {
        self.cgroup
            .layout
            .v1_mount(controller)
            .is_some_and(|m| m.join(&self.cgroup.path).join(file).exists())
    }
}

fn apply_v1(cgroup: &CgroupPath, r: &LinuxResources) -> Result<()> {
    let v1 = V1 { cgroup };
    if let Some(memory) = r.memory() {
        if let Some(reservation) = set_i(memory.reservation()) {
            v1.set("memory", "memory.soft_limit_in_bytes", reservation)?;
        }
        let limit = set_i(memory.limit());
        let swap = set_i(memory.swap());
        let has_memsw = v1.exists("memory", "memory.memsw.limit_in_bytes");
        match (limit, swap.filter(|_| has_memsw)) {
            (Some(limit), Some(swap)) => {
                // memory+swap may never be below memory: which goes first depends on whether
                // the limits grow or shrink, so try the memory limit first and swap on refusal.
                if v1.set("memory", "memory.limit_in_bytes", limit).is_err() {
                    v1.set("memory", "memory.memsw.limit_in_bytes", swap)?;
                    v1.set("memory", "memory.limit_in_bytes", limit)?;
                } else {
                    v1.set("memory", "memory.memsw.limit_in_bytes", swap)?;
                }
            }
            (Some(limit), None) => v1.set("memory", "memory.limit_in_bytes", limit)?,
            (None, Some(swap)) => v1.set("memory", "memory.memsw.limit_in_bytes", swap)?,
            (None, None) => {}
        }
        if let Some(tcp) = set_i(memory.kernel_tcp()) {
            v1.set("memory", "memory.kmem.tcp.limit_in_bytes", tcp)?;
        }
        if let Some(swappiness) = memory.swappiness() {
            if swappiness > 100 {
                return Err(Error::InvalidSpec(format!(
                    "memory.swappiness {swappiness} is above 100"
                )));
            }
            v1.set("memory", "memory.swappiness", swappiness)?;
        }
        if memory.disable_oom_killer() == Some(true) {
            v1.set("memory", "memory.oom_control", 1)?;
        }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(shares) = set_u(cpu.shares()) {
            v1.set("cpu", "cpu.shares", shares)?;
        }
        if let Some(period) = set_u(cpu.period()) {
            v1.set("cpu", "cpu.cfs_period_us", period)?;
        }
        if let Some(quota) = set_i(cpu.quota()) {
            v1.set("cpu", "cpu.cfs_quota_us", quota)?;
        }
        if let Some(period) = set_u(cpu.realtime_period()) {
            v1.set("cpu", "cpu.rt_period_us", period)?;
        }
        if let Some(runtime) = set_i(cpu.realtime_runtime()) {
            v1.set("cpu", "cpu.rt_runtime_us", runtime)?;
        }
        if let Some(cpus) = cpu.cpus().as_ref().filter(|c| !c.is_empty()) {
            v1.set("cpuset", "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = cpu.mems().as_ref().filter(|m| !m.is_empty()) {
            v1.set("cpuset", "cpuset.mems", mems)?;
        }
    }
    if let Some(pids) = r.pids() {
        v1.set("pids", "pids.max", pids_value(pids.limit()))?;
    }
    if let Some(blkio) = r.block_io() {
        if let Some(weight) = blkio.weight().filter(|w| *w != 0) {
            v1.set("blkio", "blkio.weight", weight)?;
        }
        if let Some(weight) = blkio.leaf_weight().filter(|w| *w != 0) {
            v1.set("blkio", "blkio.leaf_weight", weight)?;
        }
        for device in blkio.weight_device().iter().flatten() {
            if let Some(weight) = device.weight() {
                let line = format!("{}:{} {weight}", device.major(), device.minor());
                v1.set("blkio", "blkio.weight_device", line)?;
            }
        }
        let throttles = [
            (
                blkio.throttle_read_bps_device(),
                "blkio.throttle.read_bps_device",
            ),
            (
                blkio.throttle_write_bps_device(),
                "blkio.throttle.write_bps_device",
            ),
            (
                blkio.throttle_read_iops_device(),
                "blkio.throttle.read_iops_device",
            ),
            (
                blkio.throttle_write_iops_device(),
                "blkio.throttle.write_iops_device",
            ),
        ];
        for (devices, file) in throttles {
            for d in devices.iter().flatten() {
                v1.set(
                    "blkio",
                    file,
                    format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                )?;
            }
        }
    }
    for limit in r.hugepage_limits().iter().flatten() {
        if cgroup.layout.v1_mount("hugetlb").is_some() {
            let file = format!("hugetlb.{}.limit_in_bytes", limit.page_size());
            v1.set("hugetlb", &file, limit.limit())?;
        }
    }
    if let Some(network) = r.network() {
        if let Some(class_id) = network.class_id() {
            v1.set("net_cls", "net_cls.classid", class_id)?;
        }
        for p in network.priorities().iter().flatten() {
            v1.set(
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    if let Some(devices) = r.devices() {
        if cgroup.layout.v1_mount("devices").is_some() {
            for rule in devices {
                let file = if rule.allow() {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                v1.set("devices", file, device_rule(rule))?;
            }
        }
    }
    Ok(())
}

/// Formats a device rule as the v1 devices controller reads it: `c 1:3 rwm`.
fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let kind = match rule.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let number = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
    format!(
        "{kind} {}:{} {access}",
        number(rule.major()),
        number(rule.minor())
    )
}

/// Zero means "not set" in the values engines send (dockerd sends `shares: 0`), as in runc.
fn set_u(value: Option<u64>) -> Option<u64> {
    value.filter(|v| *v != 0)
}

fn set_i(value: Option<i64>) -> Option<i64> {
    value.filter(|v| *v != 0)
}

fn pids_value(limit: i64) -> String {
    if limit <= 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

fn apply_v2(dir: &Path, r: &LinuxResources) -> Result<()> {
    let set = |file: &str, value: String| write(&dir.join(file), &value);
    if let Some(memory) = r.memory() {
        if let Some(reservation) = set_i(memory.reservation()) {
            set("memory.low", limit_value(reservation))?;
        }
        if let Some(limit) = set_i(memory.limit()) {
            set("memory.max", limit_value(limit))?;
        }
        if let Some(swap) = set_i(memory.swap()) {
            // OCI's swap is memory+swap; v2's memory.swap.max is swap alone.
            let value = match (swap, memory.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            set("memory.swap.max", value)?;
        }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(shares) = set_u(cpu.shares()) {
            set("cpu.weight", shares_to_weight(shares).to_string())?;
        }
        if set_i(cpu.quota()).is_some() || set_u(cpu.period()).is_some() {
            let quota = match cpu.quota() {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            let period = set_u(cpu.period()).unwrap_or(100_000);
            set("cpu.max", format!("{quota} {period}"))?;
        }
        if let Some(cpus) = cpu.cpus().as_ref().filter(|c| !c.is_empty()) {
            set("cpuset.cpus", cpus.clone())?;
        }
        if let Some(mems) = cpu.mems().as_ref().filter(|m| !m.is_empty()) {
            set("cpuset.mems", mems.clone())?;
        }
        if let Some(idle) = cpu.idle() {
            set("cpu.idle", idle.to_string())?;
        }
    }
    if let Some(pids) = r.pids() {
        set("pids.max", pids_value(pids.limit()))?;
    }
    if let Some(blkio) = r.block_io() {
        if let Some(weight) = blkio.weight().filter(|w| *w != 0) {
            set("io.weight", blkio_weight_to_io(weight).to_string())?;
        }
        let throttles = [
            (blkio.throttle_read_bps_device(), "rbps"),
            (blkio.throttle_write_bps_device(), "wbps"),
            (blkio.throttle_read_iops_device(), "riops"),
            (blkio.throttle_write_iops_device(), "wiops"),
        ];
        for (devices, key) in throttles {
            for d in devices.iter().flatten() {
                set(
                    "io.max",
                    format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
                )?;
            }
        }
    }
    apply_v2_hugetlb(dir, r)?;
    apply_unified(dir, r)
}

fn apply_v2_hugetlb(dir: &Path, r: &LinuxResources) -> Result<()> {
    for limit in r.hugepage_limits().iter().flatten() {
        let file = format!("hugetlb.{}.max", limit.page_size());
        write(&dir.join(file), &limit.limit().to_string())?;
    }
    Ok(())
}

fn apply_unified(dir: &Path, r: &LinuxResources) -> Result<()> {
    for (key, value) in r.unified().iter().flatten() {
        if key.contains('/') || key.starts_with('.') {
            return Err(Error::InvalidSpec(format!(
                "unified key {key:?} is not a file name"
            )));
        }
        write(&dir.join(key), value)?;
    }
    Ok(())
}

fn limit_value(limit: i64) -> String {
    if limit < 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

/// Converts cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc does.
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// Converts blkio.weight (10..1000) to io.weight (1..10000).
fn blkio_weight_to_io(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_convert_like_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
    }

    #[test]
    fn device_rules_use_wildcards() {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(false);
        rule.set_access(Some("rwm".into()));
        assert_eq!(device_rule(&rule), "a *:* rwm");
        rule.set_typ(Some(LinuxDeviceType::C));
        rule.set_major(Some(1));
        rule.set_minor(Some(3));
        assert_eq!(device_rule(&rule), "c 1:3 rwm");
    }
}

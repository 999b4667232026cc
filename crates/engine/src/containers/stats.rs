//! Resource views and changes of running containers: `top` (the host's `ps`, filtered to the
//! container's cgroup), `stats` (from the cgroup's counters, in Docker's shape) and `update`.

use std::time::SystemTime;

use berth_api::containers::{ContainerUpdateRequest, StatsResponse, TopResponse};
use berth_api::stats::{CpuStats, CpuUsage, MemoryStats, PidsStats, ThrottlingData};

use std::path::Path;

use berth_runtime::cgroups::CgroupPath;
use oci_spec::runtime::LinuxResources;

use super::{spec_input, ContainerService, Runtime};
use crate::error::{Error, Result};

/// Clock ticks per second of /proc/stat (USER_HZ is 100 on Linux).
const USER_HZ: u64 = 100;

impl ContainerService {
    /// The container's cgroup, from the `cgroupsPath` its spec gives every runtime.
    fn cgroup(&self, entry: &super::table::Entry) -> Result<CgroupPath> {
        let parent = entry.record().host_config.resources.cgroup_parent.clone();
        let path = spec_input::cgroups_path(&parent, &entry.id);
        Ok(CgroupPath::resolve(
            Some(Path::new(&path)),
            &entry.id,
            false,
        )?)
    }

    fn running(&self, key: &str) -> Result<std::sync::Arc<super::table::Entry>> {
        let entry = self.find(key)?;
        if !entry.record().state.status.is_live() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                entry.id
            )));
        }
        Ok(entry)
    }

    /// `GET /containers/{id}/top?ps_args=`.
    pub async fn top(&self, key: &str, ps_args: &str) -> Result<TopResponse> {
        let entry = self.running(key)?;
        let pids = self.cgroup(&entry)?.pids()?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.split_whitespace().map(String::from).collect()
        };
        let output = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| super::io("run ps".into(), e))?;
        if !output.status.success() {
            return Err(Error::InvalidParameter {
                what: "ps_args".into(),
                reason: format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        parse_ps(&String::from_utf8_lossy(&output.stdout), &pids)
    }

    /// One stats sample of a running container; `previous` supplies the `precpu_stats`.
    pub async fn stats(
        &self,
        key: &str,
        previous: Option<&StatsResponse>,
    ) -> Result<StatsResponse> {
        let entry = self.find(key)?;
        let name = format!("/{}", entry.record().name);
        if !entry.record().state.status.is_live() {
            // As dockerd: a stopped container's stats are zeros, not an error.
            return Ok(StatsResponse {
                name,
                id: entry.id.clone(),
                read: super::record::ZERO_TIME.into(),
                preread: super::record::ZERO_TIME.into(),
                ..StatsResponse::default()
            });
        }
        let cgroup = self.cgroup(&entry)?;
        let sample = super::blocking("stats", move || cgroup.stats()).await?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let mut stats = StatsResponse {
            name,
            id: entry.id.clone(),
            read: berth_shim::time::format(SystemTime::now()),
            num_procs: 0,
            pids_stats: PidsStats {
                current: Some(sample.pids.current),
                limit: (sample.pids.limit > 0).then_some(sample.pids.limit),
            },
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: sample.cpu.usage.total,
                    percpu_usage: (!sample.cpu.usage.percpu.is_empty())
                        .then(|| sample.cpu.usage.percpu.clone()),
                    usage_in_kernelmode: sample.cpu.usage.kernel,
                    usage_in_usermode: sample.cpu.usage.user,
                },
                system_cpu_usage: system_cpu_usage(),
                online_cpus: Some(cpus),
                throttling_data: ThrottlingData::default(),
            },
            memory_stats: MemoryStats {
                usage: Some(sample.memory.usage.usage),
                max_usage: (sample.memory.usage.max > 0).then_some(sample.memory.usage.max),
                stats: sample.memory.raw.clone(),
                failcnt: Some(sample.memory.usage.failcnt),
                limit: Some(effective_limit(sample.memory.usage.limit)),
            },
            ..StatsResponse::default()
        };
        match previous {
            Some(previous) => {
                stats.preread = previous.read.clone();
                stats.precpu_stats = previous.cpu_stats.clone();
            }
            None => stats.preread = "0001-01-01T00:00:00Z".into(),
        }
        Ok(stats)
    }

    /// `POST /containers/{id}/update`: new resource limits (applied at once to a running
    /// container) and restart policy.
    pub async fn update(&self, key: &str, update: ContainerUpdateRequest) -> Result<Vec<String>> {
        let entry = self.find(key)?;
        let _op = entry.op.lock().await;
        let record = {
            let mut record = entry.record();
            let resources = &mut record.host_config.resources;
            let asked = &update.resources;
            if asked.memory != 0 {
                resources.memory = asked.memory;
            }
            if asked.memory_swap != 0 {
                resources.memory_swap = asked.memory_swap;
            }
            if asked.memory_reservation != 0 {
                resources.memory_reservation = asked.memory_reservation;
            }
            if asked.nano_cpus != 0 {
                resources.nano_cpus = asked.nano_cpus;
            }
            if asked.cpu_shares != 0 {
                resources.cpu_shares = asked.cpu_shares;
            }
            if asked.cpu_quota != 0 {
                resources.cpu_quota = asked.cpu_quota;
            }
            if asked.cpu_period != 0 {
                resources.cpu_period = asked.cpu_period;
            }
            if !asked.cpuset_cpus.is_empty() {
                resources.cpuset_cpus = asked.cpuset_cpus.clone();
            }
            if asked.pids_limit.is_some() {
                resources.pids_limit = asked.pids_limit;
            }
            if let Some(policy) = &update.restart_policy {
                if !policy.name.is_empty() {
                    record.host_config.restart_policy = policy.clone();
                }
            }
            record.clone()
        };
        if record.state.status.is_live() {
            // Only the resources are read: the mounts need not be made.
            let input = spec_input::for_record(&record, &record.rootfs, Vec::new())?;
            let resources = crate::spec::build(&input)?
                .linux()
                .as_ref()
                .and_then(|l| l.resources().clone())
                .unwrap_or_default();
            self.apply_resources(&entry, resources).await?;
        }
        record.save(&self.data_dir(&entry.id))?;
        self.publish("update", &entry.id);
        Ok(Vec::new())
    }
}

impl ContainerService {
    /// Gives a running container new limits through its runtime.
    async fn apply_resources(
        &self,
        entry: &super::table::Entry,
        resources: LinuxResources,
    ) -> Result<()> {
        let runtime = self.runtime_of(entry)?;
        let root = self.runtime_root(&runtime);
        let id = entry.id.clone();
        let Runtime::External { path, .. } = runtime else {
            return Ok(super::blocking("update", move || {
                let root = berth_runtime::StateRoot::open(&root)?;
                berth_runtime::ops::update(&root, &id, &resources)
            })
            .await??);
        };
        let file = self.run_dir(&id).join("update.json");
        let data = serde_json::to_vec(&resources).expect("resources serialise");
        crate::durable::replace(&file, &data)
            .map_err(|e| super::io(format!("write {}", file.display()), e))?;
        let file_arg = file.to_string_lossy().into_owned();
        let updated =
            super::external::run(&path, &root, &["update", "--resources", &file_arg, &id]).await;
        let _ = std::fs::remove_file(&file);
        updated
    }
}

/// A cgroup v1 "no limit" is a huge number; Docker shows the host's memory then.
fn effective_limit(limit: u64) -> u64 {
    let host = host_memory();
    if limit == 0 || (host > 0 && limit > host) {
        host
    } else {
        limit
    }
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// The host's total CPU time in nanoseconds (the `cpu` line of /proc/stat).
fn system_cpu_usage() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Some(ticks * (1_000_000_000 / USER_HZ))
}

/// Keeps the header and the rows of `ps` output whose PID is one of `pids`.
fn parse_ps(output: &str, pids: &[i32]) -> Result<TopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
    let pid_column =
        titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| Error::InvalidParameter {
                what: "ps_args".into(),
                reason: "Couldn't find PID field in ps output".into(),
            })?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_column).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let mut row: Vec<String> = fields
            .iter()
            .take(titles.len() - 1)
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(TopResponse { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid_and_keep_the_command_whole() {
        let output = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\n";
        let top = parse_ps(output, &[42]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "42");
        assert_eq!(top.processes[0][7], "sleep 100");
        assert!(parse_ps("UID CMD\n", &[1]).is_err());
    }
}

//! Limits as Docker maps them: memory, CPU, pids into `linux.resources`, `--ulimit` into
//! `process.rlimits`, and `--sysctl` checked to be namespaced.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType,
};

use super::error::{Error, Result};
use super::{Namespace, SpecInput};

/// A `--ulimit NAME=SOFT[:HARD]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// The limit's name without `RLIMIT_` (`nofile`, `nproc`, `core`…).
    pub name: String,
    /// The soft limit.
    pub soft: u64,
    /// The hard limit (at least `soft`).
    pub hard: u64,
}

/// The CFS period Docker uses for `--cpus`.
const NANO_CPU_PERIOD: u64 = 100_000;

/// Whether the host accounts swap (Docker doubles `--memory` into the swap limit only then).
fn swap_accounting() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// `linux.resources` for the request (the device rules are added by the caller).
pub fn resources(input: &SpecInput) -> Result<LinuxResources> {
    let mut resources = LinuxResources::default();
    let mut memory = LinuxMemory::default();
    let mut any_memory = false;
    if let Some(limit) = input.memory.filter(|m| *m > 0) {
        if limit < 6 << 20 {
            return Err(Error::invalid(
                "memory",
                "minimum memory limit allowed is 6MB",
            ));
        }
        memory.set_limit(Some(limit));
        any_memory = true;
        let swap = match input.memory_swap {
            Some(0) | None if swap_accounting() => Some(limit * 2),
            Some(0) | None => None,
            Some(-1) => Some(-1),
            Some(swap) if swap < limit => {
                return Err(Error::invalid(
                    "memory-swap",
                    format!("{swap} is below the memory limit {limit}"),
                ));
            }
            Some(swap) => Some(swap),
        };
        memory.set_swap(swap);
    } else if input.memory_swap.is_some_and(|s| s > 0) {
        return Err(Error::invalid(
            "memory-swap",
            "a swap limit needs a memory limit (--memory)",
        ));
    }
    if let Some(reservation) = input.memory_reservation.filter(|r| *r > 0) {
        memory.set_reservation(Some(reservation));
        any_memory = true;
    }
    if input.oom_kill_disable {
        memory.set_disable_oom_killer(Some(true));
        any_memory = true;
    }
    if any_memory {
        resources.set_memory(Some(memory));
    }

    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if let Some(nano) = input.nano_cpus.filter(|n| *n > 0) {
        if input.cpu_quota.is_some_and(|q| q > 0) || input.cpu_period.is_some_and(|p| p > 0) {
            return Err(Error::invalid(
                "cpus",
                "Conflicting options: Nano CPUs cannot be set with CPU period or quota",
            ));
        }
        cpu.set_period(Some(NANO_CPU_PERIOD));
        cpu.set_quota(Some(nano * NANO_CPU_PERIOD as i64 / 1_000_000_000));
        any_cpu = true;
    }
    if let Some(quota) = input.cpu_quota.filter(|q| *q > 0) {
        cpu.set_quota(Some(quota));
        any_cpu = true;
    }
    if let Some(period) = input.cpu_period.filter(|p| *p > 0) {
        cpu.set_period(Some(period));
        any_cpu = true;
    }
    if let Some(shares) = input.cpu_shares.filter(|s| *s > 0) {
        cpu.set_shares(Some(shares));
        any_cpu = true;
    }
    if let Some(cpus) = input.cpuset_cpus.as_ref().filter(|c| !c.is_empty()) {
        cpu.set_cpus(Some(cpus.clone()));
        any_cpu = true;
    }
    if any_cpu {
        resources.set_cpu(Some(cpu));
    }
    if let Some(limit) = input.pids_limit.filter(|l| *l > 0) {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        resources.set_pids(Some(pids));
    }
    Ok(resources)
}

/// `process.rlimits` for `--ulimit`; nothing when none is asked.
pub fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<PosixRlimit>> {
    ulimits
        .iter()
        .map(|u| {
            let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
            let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(name))
                .map_err(|_| {
                    Error::invalid("ulimit", format!("unknown ulimit name {:?}", u.name))
                })?;
            if u.soft > u.hard {
                return Err(Error::invalid(
                    "ulimit",
                    format!(
                        "{}: soft limit {} is above the hard limit {}",
                        u.name, u.soft, u.hard
                    ),
                ));
            }
            Ok(PosixRlimitBuilder::default()
                .typ(typ)
                .soft(u.soft)
                .hard(u.hard)
                .build()?)
        })
        .collect()
}

const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Checks that every `--sysctl` belongs to a namespace the container has of its own, as
/// Docker does: IPC ones (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`) need a
/// private IPC namespace, `net.*` a private network namespace, `kernel.domainname` and
/// `kernel.hostname` a private UTS namespace; anything else is refused.
pub fn check_sysctls(sysctls: &BTreeMap<String, String>, input: &SpecInput) -> Result<()> {
    for key in sysctls.keys() {
        let (namespace, ns_name) =
            if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
                (&input.ipc, "IPC")
            } else if key.starts_with("net.") {
                (&input.network, "network")
            } else if key == "kernel.domainname" || key == "kernel.hostname" {
                (&input.uts, "UTS")
            } else {
                return Err(Error::invalid(
                    "sysctl",
                    format!("sysctl {key:?} is not in a separate kernel namespace"),
                ));
            };
        if *namespace == Namespace::Host {
            return Err(Error::invalid(
                "sysctl",
                format!("sysctl {key:?} is not allowed in the host {ns_name} namespace"),
            ));
        }
    }
    Ok(())
}

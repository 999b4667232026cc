//! A container record in the terms of the spec builder: Docker's request fields mapped onto
//! [`crate::spec::SpecInput`].

use std::path::{Path, PathBuf};

use berth_api::containers::HostConfig;

use super::record::ContainerRecord;
use crate::error::{Error, Result};
use crate::spec::{Bind, Device, Namespace, SeccompChoice, SpecInput, Ulimit};

/// The spec input for running `record` on `rootfs`, with `binds` its volumes and host paths
/// as mounted for this start.
pub fn for_record(record: &ContainerRecord, rootfs: &Path, binds: Vec<Bind>) -> Result<SpecInput> {
    let config = &record.config;
    let host = &record.host_config;
    let resources = &host.resources;
    let mut args = vec![record.path.clone()];
    args.extend(record.args.iter().cloned());
    let security = security_options(&host.security_opt)?;
    let positive = |v: i64| (v > 0).then_some(v);
    Ok(SpecInput {
        rootfs: rootfs.to_path_buf(),
        args,
        env: config.env.clone(),
        cwd: config.working_dir.clone(),
        user: config.user.clone(),
        group_add: host.group_add.clone(),
        hostname: config.hostname.clone(),
        domainname: config.domainname.clone(),
        tty: config.tty,
        stdin: config.open_stdin,
        privileged: host.privileged,
        cap_add: host.cap_add.clone(),
        cap_drop: host.cap_drop.clone(),
        read_only: host.readonly_rootfs,
        seccomp: security.seccomp,
        no_new_privileges: security.no_new_privileges,
        apparmor: security.apparmor,
        masked_paths: host.masked_paths.clone(),
        readonly_paths: host.readonly_paths.clone(),
        tmpfs: tmpfs(host),
        binds,
        devices: resources
            .devices
            .iter()
            .map(|d| Device {
                host_path: PathBuf::from(&d.path_on_host),
                container_path: d.path_in_container.clone(),
                permissions: d.cgroup_permissions.clone(),
            })
            .collect(),
        sysctls: host.sysctls.clone(),
        ulimits: resources
            .ulimits
            .iter()
            .map(|u| Ulimit {
                name: u.name.clone(),
                soft: u.soft.max(0) as u64,
                hard: u.hard.max(0) as u64,
            })
            .collect(),
        memory: positive(resources.memory),
        memory_swap: (resources.memory_swap != 0).then_some(resources.memory_swap),
        memory_reservation: positive(resources.memory_reservation),
        nano_cpus: positive(resources.nano_cpus),
        cpu_shares: positive(resources.cpu_shares).map(|v| v as u64),
        cpu_quota: positive(resources.cpu_quota),
        cpu_period: positive(resources.cpu_period).map(|v| v as u64),
        cpuset_cpus: (!resources.cpuset_cpus.is_empty()).then(|| resources.cpuset_cpus.clone()),
        pids_limit: resources.pids_limit.filter(|v| *v > 0),
        oom_kill_disable: resources.oom_kill_disable.unwrap_or(false),
        shm_size: (host.shm_size > 0).then_some(host.shm_size as u64),
        // The namespace the network service made, else the host's or another container's.
        network: match &record.network.netns {
            Some(path) => Namespace::Path(path.clone()),
            None => namespace("network", &host.network_mode, &[])?,
        },
        ipc: namespace("ipc", &host.ipc_mode, &["", "private", "shareable"])?,
        pid: namespace("pid", &host.pid_mode, &[""])?,
        uts: namespace("uts", &host.uts_mode, &[""])?,
        cgroups_path: cgroups_path(&resources.cgroup_parent, &record.id),
        etc_files: vec![
            (record.hostname_path.clone(), "/etc/hostname".into()),
            (record.hosts_path.clone(), "/etc/hosts".into()),
            (record.resolv_conf_path.clone(), "/etc/resolv.conf".into()),
        ],
        init: host
            .init
            .unwrap_or(false)
            .then(|| super::sibling_binary("berth-init")),
        labels: config.labels.clone(),
    })
}

/// Checks at create what would otherwise fail at the first start: security options (as
/// dockerd refuses them at create; mounts are checked as they are planned).
pub fn check(host: &HostConfig) -> Result<()> {
    security_options(&host.security_opt)?;
    Ok(())
}

/// The cgroup a container runs in: under `--cgroup-parent` or `/berth`.
pub(super) fn cgroups_path(parent: &str, id: &str) -> String {
    let parent = parent.trim_end_matches('/');
    if parent.is_empty() {
        format!("/berth/{id}")
    } else if parent.starts_with('/') {
        format!("{parent}/{id}")
    } else {
        format!("/{parent}/{id}")
    }
}

struct Security {
    seccomp: SeccompChoice,
    no_new_privileges: bool,
    apparmor: Option<String>,
}

/// `--security-opt`: `seccomp=unconfined|PROFILE-JSON`, `no-new-privileges[=true|false]`,
/// `apparmor=…`, `label=…` (accepted: there is no SELinux here).
fn security_options(options: &[String]) -> Result<Security> {
    let mut out = Security {
        seccomp: SeccompChoice::Default,
        no_new_privileges: false,
        apparmor: None,
    };
    for option in options {
        let (key, value) = option
            .split_once(['=', ':'])
            .map_or((option.as_str(), ""), |(k, v)| (k, v));
        match key {
            "seccomp" if value == "unconfined" => out.seccomp = SeccompChoice::Unconfined,
            // The docker CLI reads seccomp=FILE and sends the profile's JSON.
            "seccomp" if !value.is_empty() => out.seccomp = SeccompChoice::Profile(value.into()),
            "no-new-privileges" => {
                out.no_new_privileges = match value {
                    "" | "true" => true,
                    "false" => false,
                    other => {
                        return Err(invalid(
                            "security-opt",
                            format!("no-new-privileges={other} is not true or false"),
                        ))
                    }
                }
            }
            "apparmor" => out.apparmor = Some(value.to_string()),
            "label" => {}
            _ => {
                return Err(invalid(
                    "security-opt",
                    format!("{option:?} is not a known option"),
                ))
            }
        }
    }
    Ok(out)
}

/// `NetworkMode`, `IpcMode`, …: a new namespace, the host's, or another container's (by the
/// path under /proc of its init — the daemon rewrites `container:NAME` to `container:PID`).
fn namespace(what: &str, mode: &str, new: &[&str]) -> Result<Namespace> {
    if new.contains(&mode) || mode == "private" {
        return Ok(Namespace::New);
    }
    if mode == "host" {
        return Ok(Namespace::Host);
    }
    if let Some(pid) = mode.strip_prefix("container-pid:") {
        let kind = match what {
            "network" => "net",
            other => other,
        };
        return Ok(Namespace::Path(PathBuf::from(format!(
            "/proc/{pid}/ns/{kind}"
        ))));
    }
    Err(invalid(what, format!("mode {mode:?} is not supported")))
}

fn tmpfs(host: &HostConfig) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = host
        .tmpfs
        .iter()
        .map(|(path, options)| (path.clone(), options.clone()))
        .collect();
    for mount in host.mounts.iter().filter(|m| m.r#type == "tmpfs") {
        let mut options = Vec::new();
        if let Some(tmpfs) = &mount.tmpfs_options {
            if tmpfs.size_bytes > 0 {
                options.push(format!("size={}", tmpfs.size_bytes));
            }
            if tmpfs.mode > 0 {
                options.push(format!("mode={:o}", tmpfs.mode));
            }
        }
        out.push((mount.target.clone(), options.join(",")));
    }
    out
}

fn invalid(what: &str, reason: String) -> Error {
    Error::InvalidParameter {
        what: what.into(),
        reason,
    }
}

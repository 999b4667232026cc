//! A container's mounts: Docker's defaults (/proc, /dev, /dev/pts, /sys, cgroups, mqueue,
//! /dev/shm), then `--tmpfs`, `-v` binds, the /etc files and the init binary, with the
//! masked and read-only paths of moby's `oci/defaults.go`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::error::{Error, Result};

/// Where `--init`'s binary appears in the container.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// /dev/shm's size when none is asked: 64 MiB, as Docker.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Paths hidden from unprivileged containers (moby `oci/defaults.go`).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths mounted read-only in unprivileged containers (moby `oci/defaults.go`).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A `-v`/`--mount type=bind` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The host path.
    pub source: PathBuf,
    /// The absolute path in the container.
    pub destination: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// `private`, `rprivate` (the default when empty), `shared`, `rshared`, `slave`, `rslave`.
    pub propagation: String,
}

fn mount(destination: &str, typ: &str, source: &Path, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.to_path_buf()));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

/// Docker's default mounts; `/sys` and the cgroup file system are writable only when
/// privileged.
pub fn defaults(privileged: bool, shm_size: u64) -> Vec<Mount> {
    let sys_mode = if privileged { "rw" } else { "ro" };
    let shm_size = format!("size={shm_size}");
    vec![
        mount(
            "/proc",
            "proc",
            Path::new("proc"),
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev",
            "tmpfs",
            Path::new("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            Path::new("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            Path::new("sysfs"),
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            Path::new("cgroup"),
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            Path::new("mqueue"),
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            Path::new("shm"),
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ]
}

fn absolute(what: &str, path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::invalid(
            what,
            format!("{path:?} is not an absolute path"),
        ));
    }
    if Path::new(path)
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(Error::invalid(what, format!("{path:?} contains \"..\"")));
    }
    Ok(())
}

/// A `--tmpfs PATH:OPTIONS` mount: `noexec,nosuid,nodev` unless the options say `exec`,
/// `suid` or `dev`, as Docker merges them.
pub fn tmpfs(path: &str, options: &str) -> Result<Mount> {
    absolute("tmpfs", path)?;
    let user: Vec<&str> = options.split(',').filter(|o| !o.is_empty()).collect();
    let mut all: Vec<&str> = Vec::new();
    for (default, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
        if !user.contains(&opposite) && !user.contains(&default) {
            all.push(default);
        }
    }
    all.extend(user);
    Ok(mount(path, "tmpfs", Path::new("tmpfs"), &all))
}

/// A bind mount of a host path (recursive, as Docker's binds are).
pub fn bind(bind: &Bind) -> Result<Mount> {
    absolute("bind destination", &bind.destination)?;
    if !bind.source.is_absolute() {
        return Err(Error::invalid(
            "bind source",
            format!("{} is not an absolute path", bind.source.display()),
        ));
    }
    let propagation = match bind.propagation.as_str() {
        "" => "rprivate",
        p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave") => p,
        other => {
            return Err(Error::invalid(
                "bind propagation",
                format!("{other:?} for {}", bind.destination),
            ))
        }
    };
    // Docker marks only read-only binds; a bind is read-write by default.
    let options: &[&str] = if bind.read_only {
        &["rbind", "ro", propagation]
    } else {
        &["rbind", propagation]
    };
    Ok(mount(&bind.destination, "bind", &bind.source, options))
}

/// The root's propagation a container's binds need, as Docker sets it: shared when a bind
/// shares mounts with the host, a slave when one receives them; else the runtime's default.
pub fn rootfs_propagation(binds: &[Bind]) -> Option<&'static str> {
    let any = |modes: &[&str]| {
        binds
            .iter()
            .any(|b| modes.contains(&b.propagation.as_str()))
    };
    if any(&["shared", "rshared"]) {
        Some("rshared")
    } else if any(&["slave", "rslave"]) {
        Some("rslave")
    } else {
        None
    }
}

/// Puts the mounts in the order they must be made: a parent before what is mounted below it
/// (fewer path components first, keeping the given order otherwise), and a later mount at the
/// same destination replaces an earlier one (so `--tmpfs /dev/shm` wins over the default).
pub fn ordered(mounts: Vec<Mount>) -> Vec<Mount> {
    let mut kept: Vec<Mount> = Vec::new();
    for m in mounts {
        kept.retain(|k| k.destination() != m.destination());
        kept.push(m);
    }
    kept.sort_by_key(|m| m.destination().components().count());
    kept
}

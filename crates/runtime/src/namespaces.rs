//! Which namespaces a container creates, which it joins, and how.

use std::os::fd::OwnedFd;

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, Result};
use crate::spec;

/// The clone flag of a namespace type.
pub fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The plan for a container's namespaces.
#[derive(Debug)]
pub struct Plan {
    /// Created by clone3 itself.
    pub clone: CloneFlags,
    /// Created by the child with unshare after it joined the cgroup (and any user namespace).
    pub unshare: CloneFlags,
    /// Joined by the parent before cloning (pid: affects the child only).
    pub join_pid: Option<OwnedFd>,
    /// Joined by the child, user namespace first.
    pub join: Vec<(CloneFlags, OwnedFd)>,
    /// A new time namespace, created by the parent before cloning.
    pub new_time: bool,
    pub new_user: bool,
    pub new_mount: bool,
    pub new_cgroup: bool,
}

impl Plan {
    pub fn empty() -> Self {
        Plan {
            clone: CloneFlags::empty(),
            unshare: CloneFlags::empty(),
            join_pid: None,
            join: Vec::new(),
            new_time: false,
            new_user: false,
            new_mount: false,
            new_cgroup: false,
        }
    }
}

/// Opens the namespaces to join and sorts the rest into clone and unshare flags.
pub fn plan(spec: &Spec) -> Result<Plan> {
    let mut plan = Plan::empty();
    let namespaces = spec::namespaces(spec);
    let joins_user = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    for ns in &namespaces {
        let f = flag(ns.typ());
        if let Some(path) = ns.path() {
            let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .context(|| format!("open {:?} namespace {}", ns.typ(), path.display()))?;
            match ns.typ() {
                LinuxNamespaceType::Pid => plan.join_pid = Some(fd),
                LinuxNamespaceType::User => plan.join.insert(0, (f, fd)),
                _ => plan.join.push((f, fd)),
            }
            continue;
        }
        match ns.typ() {
            LinuxNamespaceType::Time => plan.new_time = true,
            LinuxNamespaceType::Cgroup => {
                plan.new_cgroup = true;
                plan.unshare |= f;
            }
            // Namespaces owned by a joined user namespace must be created after joining it.
            LinuxNamespaceType::Pid => plan.clone |= f,
            _ if joins_user => plan.unshare |= f,
            _ => plan.clone |= f,
        }
        plan.new_user |= ns.typ() == LinuxNamespaceType::User;
        plan.new_mount |= ns.typ() == LinuxNamespaceType::Mount;
    }
    Ok(plan)
}

/// Writes `/proc/self/timens_offsets` for a time namespace just unshared.
pub fn write_time_offsets(spec: &Spec) -> Result<()> {
    let offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    let mut text = String::new();
    for (clock, offset) in offsets {
        let id = match clock.as_str() {
            "monotonic" => libc::CLOCK_MONOTONIC,
            "boottime" => libc::CLOCK_BOOTTIME,
            other => {
                return Err(crate::error::Error::InvalidSpec(format!(
                    "time offset clock {other:?} is not monotonic or boottime"
                )))
            }
        };
        text.push_str(&format!(
            "{id} {} {}\n",
            offset.secs().unwrap_or(0),
            offset.nanosecs().unwrap_or(0)
        ));
    }
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", text)
            .context(|| "write time namespace offsets")?;
    }
    Ok(())
}

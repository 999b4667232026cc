//! Device nodes and the device cgroup: Docker's default allow list, `--device`, and every host
//! device for `--privileged`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{major, minor};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::error::{Error, Result};

/// A `--device HOST[:CONTAINER[:PERMISSIONS]]` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device node (or a directory of them) on the host.
    pub host_path: PathBuf,
    /// Where it appears in the container ("" = the host path).
    pub container_path: String,
    /// Any of `r`, `w`, `m` ("" = `rwm`).
    pub permissions: String,
}

fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Docker's device cgroup for an unprivileged container: deny everything, then allow mknod
/// of any node and use of the standard character devices (null, zero, full, random,
/// urandom, tty, console, ptmx, the pts slaves) and of /dev/net/tun.
pub fn default_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    let mut rules = vec![
        rule(false, A, None, None, "rwm"),
        rule(true, C, None, None, "m"),
        rule(true, B, None, None, "m"),
    ];
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(rule(true, C, Some(maj), Some(min), "rwm"));
    }
    rules.push(rule(true, C, Some(136), None, "rwm"));
    rules
}

/// The device cgroup of a privileged container: everything allowed.
pub fn allow_all() -> Vec<LinuxDeviceCgroup> {
    vec![rule(true, LinuxDeviceType::A, None, None, "rwm")]
}

/// The node at `path` as an OCI device placed at `target`; `None` if it is not a device.
fn node(path: &Path, target: &Path) -> Result<Option<LinuxDevice>> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io("stat device", path, e))?;
    let typ = if meta.file_type().is_char_device() {
        LinuxDeviceType::C
    } else if meta.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    let mut dev = LinuxDevice::default();
    dev.set_path(target.to_path_buf());
    dev.set_typ(typ);
    dev.set_major(major(meta.rdev()) as i64);
    dev.set_minor(minor(meta.rdev()) as i64);
    dev.set_file_mode(Some(meta.mode() & 0o777));
    dev.set_uid(Some(meta.uid()));
    dev.set_gid(Some(meta.gid()));
    Ok(Some(dev))
}

/// Device nodes under `dir` (recursively, symlinks not followed), each at the same path
/// below `target`; pseudo-terminals and /dev's own mounts are left out.
fn walk(dir: &Path, target: &Path, out: &mut Vec<LinuxDevice>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list devices in", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list devices in", dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .map_err(|e| Error::io("stat device", &path, e))?;
        if file_type.is_dir() {
            if !matches!(name.to_str(), Some("pts" | "shm" | "mqueue" | "fd")) {
                walk(&path, &target.join(&name), out)?;
            }
        } else if name != "console" && name != "ptmx" && name != "tty" {
            if let Some(dev) = node(&path, &target.join(&name))? {
                out.push(dev);
            }
        }
    }
    Ok(())
}

/// Every device node of the host's /dev, for `--privileged`.
pub fn host_devices() -> Result<Vec<LinuxDevice>> {
    let mut out = Vec::new();
    walk(Path::new("/dev"), Path::new("/dev"), &mut out)?;
    Ok(out)
}

/// The nodes and cgroup rules of one `--device`: a device node, or a directory of them.
pub fn requested(device: &Device) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>)> {
    let permissions = if device.permissions.is_empty() {
        "rwm"
    } else {
        device.permissions.as_str()
    };
    if permissions.is_empty() || !permissions.chars().all(|c| "rwm".contains(c)) {
        return Err(Error::invalid(
            "device permissions",
            format!(
                "{permissions:?} for {}: use r, w and m",
                device.host_path.display()
            ),
        ));
    }
    let target = if device.container_path.is_empty() {
        device.host_path.clone()
    } else {
        PathBuf::from(&device.container_path)
    };
    if !target.is_absolute() {
        return Err(Error::invalid(
            "device",
            format!("container path {} is not absolute", target.display()),
        ));
    }
    let meta = fs::metadata(&device.host_path)
        .map_err(|e| Error::io("stat device", &device.host_path, e))?;
    let mut nodes = Vec::new();
    if meta.is_dir() {
        walk(&device.host_path, &target, &mut nodes)?;
    } else {
        let resolved = fs::canonicalize(&device.host_path)
            .map_err(|e| Error::io("resolve device", &device.host_path, e))?;
        nodes.extend(node(&resolved, &target)?);
    }
    if nodes.is_empty() {
        return Err(Error::invalid(
            "device",
            format!("{} is not a device node", device.host_path.display()),
        ));
    }
    let rules = nodes
        .iter()
        .map(|d| rule(true, d.typ(), Some(d.major()), Some(d.minor()), permissions))
        .collect();
    Ok((nodes, rules))
}

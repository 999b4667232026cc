//! The `local` driver's options (`-o type=…,device=…,o=…`), checked as Docker checks them, and
//! the mount they ask for: made on a volume's `_data` at its first use, taken down when its last
//! user goes.

use std::collections::BTreeMap;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

/// The option keys the local driver takes (`size` is Docker's XFS quota, not supported here).
const KEYS: [&str; 3] = ["type", "device", "o"];

/// What a volume's options ask to be mounted on its `_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMount {
    /// The filesystem type (`tmpfs`, `none` for a bind mount, `ext4`, …).
    pub fstype: String,
    /// The source: a device, a host directory for binds, or the type again for tmpfs.
    pub device: String,
    /// Flags from `o` (`ro`, `nosuid`, `bind`, …).
    pub flags: MsFlags,
    /// The rest of `o`, for the filesystem (`size=64m`, `mode=1777`).
    pub data: String,
}

fn invalid(reason: String) -> Error {
    Error::InvalidParameter {
        what: "volume option".into(),
        reason,
    }
}

/// Checks `options` and says what they mount: `None` for a plain directory volume.
pub fn parse(options: &BTreeMap<String, String>) -> Result<Option<LocalMount>> {
    if let Some(key) = options.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("invalid option: {key:?}")));
    }
    let Some(fstype) = options.get("type").filter(|t| !t.is_empty()) else {
        if options.contains_key("device") || options.contains_key("o") {
            return Err(invalid("missing required option: \"type\"".into()));
        }
        return Ok(None);
    };
    let device = options.get("device").cloned().unwrap_or_default();
    let (flags, data) = split_o(options.get("o").map(String::as_str).unwrap_or(""))?;
    if flags.contains(MsFlags::MS_BIND) {
        if device.is_empty() {
            return Err(invalid("missing required option: \"device\"".into()));
        }
        if !Path::new(&device).is_absolute() {
            return Err(invalid(format!(
                "bind device {device:?} must be an absolute path"
            )));
        }
    }
    let device = if device.is_empty() && fstype == "tmpfs" {
        "tmpfs".to_string()
    } else if device.is_empty() {
        return Err(invalid("missing required option: \"device\"".into()));
    } else {
        device
    };
    Ok(Some(LocalMount {
        fstype: fstype.clone(),
        device,
        flags,
        data,
    }))
}

fn split_o(o: &str) -> Result<(MsFlags, String)> {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for option in o.split(',').filter(|s| !s.is_empty()) {
        let flag = match option {
            "ro" => MsFlags::MS_RDONLY,
            "rw" => MsFlags::empty(),
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            "noexec" => MsFlags::MS_NOEXEC,
            "noatime" => MsFlags::MS_NOATIME,
            "bind" => MsFlags::MS_BIND,
            "rbind" => MsFlags::MS_BIND | MsFlags::MS_REC,
            other if other.contains(['\0', '\n']) => {
                return Err(invalid(format!("invalid mount option {other:?}")))
            }
            other => {
                data.push(other);
                MsFlags::empty()
            }
        };
        flags |= flag;
    }
    Ok((flags, data.join(",")))
}

impl LocalMount {
    /// Mounts this on `target` (a volume's `_data`).
    pub fn mount(&self, target: &Path) -> Result<()> {
        let data = (!self.data.is_empty()).then_some(self.data.as_str());
        let fail = |e: nix::Error| Error::Io {
            context: format!(
                "mount {} ({}) on {}",
                self.device,
                self.fstype,
                target.display()
            ),
            source: e.into(),
        };
        if self.flags.contains(MsFlags::MS_BIND) {
            let bind = self.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
            mount(
                Some(self.device.as_str()),
                target,
                None::<&str>,
                bind,
                None::<&str>,
            )
            .map_err(fail)?;
            let rest = self.flags - bind;
            if !rest.is_empty() {
                let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest;
                if let Err(e) = mount(None::<&str>, target, None::<&str>, remount, None::<&str>) {
                    let _ = umount2(target, MntFlags::MNT_DETACH);
                    return Err(fail(e));
                }
            }
            return Ok(());
        }
        mount(
            Some(self.device.as_str()),
            target,
            Some(self.fstype.as_str()),
            self.flags,
            data,
        )
        .map_err(fail)
    }
}

/// Unmounts `target` if something is mounted there (a volume's `_data`).
pub fn unmount(target: &Path) -> Result<()> {
    if !is_mountpoint(target) {
        return Ok(());
    }
    umount2(target, MntFlags::MNT_DETACH).map_err(|e| Error::Io {
        context: format!("unmount {}", target.display()),
        source: e.into(),
    })
}

/// Whether something is mounted on `path`, by /proc/self/mountinfo (a bind mount from the
/// same filesystem keeps the device number, so comparing devices would miss it).
pub fn is_mountpoint(path: &Path) -> bool {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    berth_runtime::mountinfo::read()
        .unwrap_or_default()
        .iter()
        .any(|mount| mount.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_options_is_a_plain_directory() {
        assert_eq!(parse(&BTreeMap::new()).unwrap(), None);
    }

    #[test]
    fn tmpfs_keeps_its_size_as_data() {
        let mount = parse(&opts(&[
            ("type", "tmpfs"),
            ("o", "size=1m,nosuid,uid=1000"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(mount.device, "tmpfs");
        assert_eq!(mount.flags, MsFlags::MS_NOSUID);
        assert_eq!(mount.data, "size=1m,uid=1000");
    }

    #[test]
    fn a_bind_needs_an_absolute_device() {
        let mount = parse(&opts(&[
            ("type", "none"),
            ("o", "bind"),
            ("device", "/srv"),
        ]))
        .unwrap()
        .unwrap();
        assert!(mount.flags.contains(MsFlags::MS_BIND));
        let err = parse(&opts(&[("type", "none"), ("o", "bind"), ("device", "srv")])).unwrap_err();
        assert!(err.to_string().contains("\"srv\""), "{err}");
        let err = parse(&opts(&[("type", "none"), ("o", "bind")])).unwrap_err();
        assert!(err.to_string().contains("\"device\""), "{err}");
    }

    #[test]
    fn unknown_keys_and_a_missing_type_are_refused() {
        let err = parse(&opts(&[("colour", "red")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid volume option: invalid option: \"colour\""
        );
        let err = parse(&opts(&[("device", "/dev/sda1")])).unwrap_err();
        assert!(err.to_string().contains("\"type\""), "{err}");
    }
}

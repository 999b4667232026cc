//! Parsing OCI mount options into mount(2) flags, propagation changes and filesystem data.

use nix::mount::MsFlags;

use crate::error::{Error, Result};

/// A mount entry's options, split by how the kernel takes them.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call (and for the read-only/nosuid/… remount of bind mounts).
    pub flags: MsFlags,
    /// Propagation changes applied after the mount (`rprivate`, `shared`, …).
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options, comma-joined (`mode=755,size=65536k`).
    pub data: String,
}

impl MountOptions {
    /// Whether this is a bind mount (`bind` or `rbind`).
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The flags a bind mount needs in its remount to apply `ro`, `nosuid` etc.
    pub fn remount_flags(&self) -> MsFlags {
        self.flags
            & (MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC
                | MsFlags::MS_NOATIME
                | MsFlags::MS_NODIRATIME
                | MsFlags::MS_RELATIME
                | MsFlags::MS_STRICTATIME)
    }
}

/// Parses the option strings of one mount.
pub fn parse(options: &[String]) -> Result<MountOptions> {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        propagation: Vec::new(),
        data: String::new(),
    };
    let mut data = Vec::new();
    for option in options {
        let (set, clear, propagation) = match option.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty(), None),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty(), None),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY, None),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID, None),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty(), None),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV, None),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty(), None),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC, None),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty(), None),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty(), None),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS, None),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty(), None),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty(), None),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty(), None),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK, None),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME, None),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty(), None),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME, None),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty(), None),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty(), None),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME, None),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty(), None),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME, None),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty(), None),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME, None),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty(), None),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT, None),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty(), None),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION, None),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty(), None),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty(), None),
            "private" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_PRIVATE),
            ),
            "rprivate" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            ),
            "shared" => (MsFlags::empty(), MsFlags::empty(), Some(MsFlags::MS_SHARED)),
            "rshared" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            ),
            "slave" => (MsFlags::empty(), MsFlags::empty(), Some(MsFlags::MS_SLAVE)),
            "rslave" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            ),
            "unbindable" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_UNBINDABLE),
            ),
            "runbindable" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            ),
            // Handled by image tooling, not the kernel.
            "tmpcopyup" => (MsFlags::empty(), MsFlags::empty(), None),
            "idmap" | "ridmap" => {
                return Err(Error::InvalidSpec(format!(
                    "mount option {option:?} (id-mapped mounts) is not supported"
                )))
            }
            other => {
                data.push(other.to_string());
                (MsFlags::empty(), MsFlags::empty(), None)
            }
        };
        out.flags = (out.flags | set) & !clear;
        if let Some(p) = propagation {
            out.propagation.push(p);
        }
    }
    out.data = data.join(",");
    Ok(out)
}

/// Parses a `rootfsPropagation` value.
pub fn propagation(value: &str) -> Result<MsFlags> {
    match parse(&[value.to_string()])?.propagation.as_slice() {
        [p] => Ok(*p),
        _ => Err(Error::InvalidSpec(format!(
            "rootfsPropagation {value:?} is not a propagation mode"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = parse(&strings(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rprivate",
        ]))
        .unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse(&strings(&["ro", "rw", "rbind"])).unwrap();
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.is_bind() && o.flags.contains(MsFlags::MS_REC));
    }

    #[test]
    fn bad_propagation_is_refused() {
        assert!(propagation("sideways").is_err());
        assert_eq!(
            propagation("rslave").unwrap(),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
    }
}

//! `GET|HEAD|PUT /containers/{id}/archive` (`docker cp`): the stat of a path in a container,
//! sent base64-encoded JSON in the `X-Docker-Container-Path-Stat` header, with its mode in Go's
//! `os.FileMode` bits, as the docker CLI reads it.

use serde::{Deserialize, Serialize};

/// The header that carries the [`ContainerPathStat`] of a `GET` or `HEAD`.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// What `stat` says about a path in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContainerPathStat {
    /// The base name of the path asked for (`.` for `dir/.`).
    pub name: String,
    pub size: i64,
    /// Go `os.FileMode` bits: permissions plus the type bits in [`file_mode`].
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    /// For a symlink: the path inside the container it resolves to, links followed.
    #[serde(rename = "linkTarget", default)]
    pub link_target: String,
}

/// Go's `os.FileMode` type bits.
pub mod file_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;

    /// The Go mode of a Unix `st_mode`.
    pub fn from_unix(st_mode: u32) -> u32 {
        let mut mode = st_mode & 0o777;
        mode |= match st_mode & 0o170000 {
            0o040000 => DIR,
            0o120000 => SYMLINK,
            0o060000 => DEVICE,
            0o020000 => DEVICE | CHAR_DEVICE,
            0o010000 => NAMED_PIPE,
            0o140000 => SOCKET,
            _ => 0,
        };
        for (unix, go) in [(0o4000, SETUID), (0o2000, SETGID), (0o1000, STICKY)] {
            if st_mode & unix != 0 {
                mode |= go;
            }
        }
        mode
    }

    /// Whether the Go mode is a directory's.
    pub fn is_dir(mode: u32) -> bool {
        mode & DIR != 0
    }

    /// Whether the Go mode is a symlink's.
    pub fn is_symlink(mode: u32) -> bool {
        mode & SYMLINK != 0
    }

    /// Whether the Go mode is a regular file's (no type bit set).
    pub fn is_regular(mode: u32) -> bool {
        mode & (DIR | SYMLINK | DEVICE | NAMED_PIPE | SOCKET | CHAR_DEVICE) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_modes_become_go_modes() {
        assert_eq!(file_mode::from_unix(0o040755), file_mode::DIR | 0o755);
        assert_eq!(file_mode::from_unix(0o100644), 0o644);
        assert_eq!(file_mode::from_unix(0o120777), file_mode::SYMLINK | 0o777);
        assert_eq!(
            file_mode::from_unix(0o104755),
            file_mode::SETUID | 0o755,
            "setuid"
        );
        assert_eq!(
            file_mode::from_unix(0o020666),
            file_mode::DEVICE | file_mode::CHAR_DEVICE | 0o666
        );
        let json = serde_json::to_string(&ContainerPathStat {
            name: "a".into(),
            link_target: "/b".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(json.contains("\"linkTarget\":\"/b\""), "{json}");
    }
}

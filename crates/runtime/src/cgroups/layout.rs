//! Which cgroup hierarchies the host has mounted.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};

/// The host's cgroup layout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Layout {
    /// Pure cgroup v2: one unified hierarchy.
    V2 { root: PathBuf },
    /// cgroup v1 controllers, each (or a few together) in its own hierarchy, optionally with a
    /// cgroup2 hierarchy beside them (the "hybrid" layout).
    V1 {
        hierarchies: Vec<(PathBuf, Vec<String>)>,
        unified: Option<PathBuf>,
    },
}

impl Layout {
    /// Reads the cgroup mounts of this mount namespace from `/proc/self/mountinfo`.
    pub fn detect() -> Result<Self> {
        let info =
            fs::read_to_string("/proc/self/mountinfo").context(|| "read /proc/self/mountinfo")?;
        Ok(Self::parse(&info))
    }

    fn parse(mountinfo: &str) -> Self {
        let mut hierarchies: Vec<(PathBuf, Vec<String>)> = Vec::new();
        let mut unified = None;
        for mount in crate::mountinfo::parse(mountinfo) {
            match mount.fs_type.as_str() {
                "cgroup2" if unified.is_none() => unified = Some(mount.mount_point),
                "cgroup" => {
                    let controllers: Vec<String> = mount
                        .super_options
                        .split(',')
                        .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
                        .filter(|o| !o.starts_with("clone_children") && *o != "noprefix")
                        .map(str::to_string)
                        .collect();
                    if !hierarchies.iter().any(|(_, c)| c == &controllers) {
                        hierarchies.push((mount.mount_point, controllers));
                    }
                }
                _ => {}
            }
        }
        match (hierarchies.is_empty(), unified) {
            (true, Some(root)) => Layout::V2 { root },
            (_, unified) => Layout::V1 {
                hierarchies,
                unified,
            },
        }
    }

    /// Every hierarchy's mount point, the unified one last.
    pub fn mount_points(&self) -> impl Iterator<Item = &Path> {
        let (v1, unified): (&[(PathBuf, Vec<String>)], Option<&PathBuf>) = match self {
            Layout::V2 { root } => (&[], Some(root)),
            Layout::V1 {
                hierarchies,
                unified,
            } => (hierarchies, unified.as_ref()),
        };
        v1.iter()
            .map(|(m, _)| m.as_path())
            .chain(unified.map(|u| u.as_path()))
    }

    /// The v1 hierarchies with their controllers.
    pub fn v1_hierarchies(&self) -> &[(PathBuf, Vec<String>)] {
        match self {
            Layout::V2 { .. } => &[],
            Layout::V1 { hierarchies, .. } => hierarchies,
        }
    }

    /// The mount point of the v1 hierarchy holding `controller`.
    pub fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1_hierarchies()
            .iter()
            .find(|(_, c)| c.iter().any(|c| c == controller))
            .map(|(m, _)| m.as_path())
    }

    /// The cgroup2 hierarchy, pure or hybrid.
    pub fn unified(&self) -> Option<&Path> {
        match self {
            Layout::V2 { root } => Some(root),
            Layout::V1 { unified, .. } => unified.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout_keeps_v1_and_unified() {
        let layout = Layout::parse(HYBRID);
        assert_eq!(
            layout.v1_mount("memory"),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(layout.unified(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(layout.mount_points().count(), 4);
    }

    #[test]
    fn pure_v2_layout() {
        let layout =
            Layout::parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(
            layout,
            Layout::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
    }
}

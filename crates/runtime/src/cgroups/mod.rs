//! Control groups: finding the hierarchies (v1, v2 or hybrid), creating a container's cgroup,
//! moving processes in, applying limits, freezing, and reading usage.

pub mod devices;
mod layout;
mod resources;
mod stats;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use layout::Layout;
pub use stats::Stats;

/// A container's cgroup: the host's hierarchies and the container's path inside each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupPath {
    pub layout: Layout,
    /// Path below each hierarchy's root, without a leading slash.
    pub path: PathBuf,
}

impl CgroupPath {
    /// Resolves the OCI `cgroupsPath` for container `id`. With `systemd`, a `slice:prefix:name`
    /// path is mapped to the directory systemd would use (`slice/prefix-name.scope`).
    pub fn resolve(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Result<Self> {
        let layout = Layout::detect()?;
        let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
        let path = match raw.as_deref() {
            None | Some("") if systemd => PathBuf::from(format!("system.slice/berth-{id}.scope")),
            None | Some("") => PathBuf::from(id),
            Some(p) if systemd && !p.starts_with('/') => systemd_path(p, id)?,
            Some(p) => PathBuf::from(p.trim_start_matches('/')),
        };
        if path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(Error::InvalidSpec(format!(
                "cgroupsPath {raw:?} must not contain '..' or '.'"
            )));
        }
        Ok(CgroupPath { layout, path })
    }

    /// The container's directory in every mounted hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.layout
            .mount_points()
            .map(|m| m.join(&self.path))
            .collect()
    }

    /// Creates the directories and applies `resources` before any process joins.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        for (mount, controllers) in self.layout.v1_hierarchies() {
            let dir = mount.join(&self.path);
            create_dir(&dir)?;
            if controllers.iter().any(|c| c == "cpuset") {
                resources::inherit_cpuset(mount, &self.path)?;
            }
        }
        if let Some(unified) = self.layout.unified() {
            resources::enable_v2_controllers(unified, &self.path)?;
            create_dir(&unified.join(&self.path))?;
        }
        if let Some(resources) = resources {
            self.apply(resources)?;
        }
        Ok(())
    }

    /// Writes limits; used at creation and by `update`.
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        resources::apply(self, resources)
    }

    /// The cgroup v2 directory to clone straight into (pure v2 hosts only).
    pub fn clone_target(&self) -> Option<PathBuf> {
        match &self.layout {
            Layout::V2 { root } => Some(root.join(&self.path)),
            _ => None,
        }
    }

    /// Opens the directory to clone straight into (pure v2 only); `None` elsewhere.
    pub fn open_clone_target(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        use nix::fcntl::OFlag;
        let Some(dir) = self.clone_target() else {
            return Ok(None);
        };
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        nix::fcntl::open(&dir, flags, nix::sys::stat::Mode::empty())
            .map(Some)
            .map_err(|e| cgroup_error(&dir, e.into()))
    }

    /// Moves `pid` into the container's cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The pids of every process in the container's cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.process_dir() else {
            return Ok(Vec::new());
        };
        let procs = dir.join("cgroup.procs");
        match fs::read_to_string(&procs) {
            Ok(text) => Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(cgroup_error(&procs, e)),
        }
    }

    /// The hierarchy used to list processes: the unified one on v2, else freezer, pids or any.
    fn process_dir(&self) -> Option<PathBuf> {
        if let Layout::V2 { root } = &self.layout {
            return Some(root.join(&self.path));
        }
        let v1 = self.layout.v1_hierarchies();
        let pick = v1
            .iter()
            .find(|(_, c)| c.iter().any(|c| c == "freezer" || c == "pids"))
            .or_else(|| v1.first());
        pick.map(|(m, _)| m.join(&self.path))
    }

    fn freezer_file(&self) -> Option<(PathBuf, bool)> {
        match &self.layout {
            Layout::V2 { root } => Some((root.join(&self.path).join("cgroup.freeze"), true)),
            Layout::V1 { .. } => self
                .layout
                .v1_mount("freezer")
                .map(|m| (m.join(&self.path).join("freezer.state"), false)),
        }
    }

    /// Whether the cgroup is frozen (paused).
    pub fn is_frozen(&self) -> bool {
        match self.freezer_file() {
            Some((file, true)) => fs::read_to_string(file).is_ok_and(|s| s.trim() == "1"),
            Some((file, false)) => fs::read_to_string(file).is_ok_and(|s| s.trim() != "THAWED"),
            None => false,
        }
    }

    /// Freezes (`true`) or thaws every process, waiting until the kernel reports it done.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        let (file, v2) = self.freezer_file().ok_or_else(|| Error::Cgroup {
            path: self.path.clone(),
            reason: "the freezer controller is not available".into(),
        })?;
        let value = match (v2, frozen) {
            (true, true) => "1",
            (true, false) => "0",
            (false, true) => "FROZEN",
            (false, false) => "THAWED",
        };
        write(&file, value)?;
        if !frozen {
            return Ok(());
        }
        for attempt in 0..2000u32 {
            let done = if v2 {
                let events = fs::read_to_string(file.with_file_name("cgroup.events"))
                    .map_err(|e| cgroup_error(&file, e))?;
                events.lines().any(|l| l == "frozen 1")
            } else {
                fs::read_to_string(&file)
                    .map_err(|e| cgroup_error(&file, e))?
                    .trim()
                    == "FROZEN"
            };
            if done {
                return Ok(());
            }
            if !v2 && attempt % 10 == 9 {
                // A v1 freeze can stall in FREEZING; writing again retries it.
                write(&file, "FROZEN")?;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        Err(Error::Cgroup {
            path: file,
            reason: "timed out waiting for the freeze to complete".into(),
        })
    }

    /// Sends `signal` to every process in the cgroup, thawing it so they can act on it.
    pub fn signal_all(&self, signal: nix::sys::signal::Signal) -> Result<()> {
        for pid in self.pids()? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
        if self.is_frozen() {
            self.set_frozen(false)?;
        }
        Ok(())
    }

    /// Removes the container's directories, waiting briefly for exiting processes to leave.
    pub fn destroy(&self) -> Result<()> {
        let mut errors = Vec::new();
        for dir in self.dirs() {
            if let Err(e) = remove_dir(&dir) {
                errors.push(e);
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Current usage, as reported by `events --stats`.
    pub fn stats(&self) -> Stats {
        stats::read(self)
    }
}

fn systemd_path(raw: &str, id: &str) -> Result<PathBuf> {
    let parts: Vec<&str> = raw.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(Error::InvalidSpec(format!(
            "cgroupsPath {raw:?} is not slice:prefix:name as the systemd driver needs"
        )));
    };
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let name = if name.is_empty() { id } else { name };
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    // systemd nests a slice "a-b-c.slice" as a.slice/a-b.slice/a-b-c.slice.
    let mut path = PathBuf::new();
    let stem = slice.trim_end_matches(".slice");
    if stem != "-" {
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            path.push(format!("{acc}.slice"));
        }
    }
    path.push(unit);
    Ok(path)
}

fn cgroup_error(path: &Path, e: io::Error) -> Error {
    Error::Cgroup {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| cgroup_error(dir, e))
}

/// Writes one value to a cgroup file.
fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| Error::Cgroup {
        path: path.to_path_buf(),
        reason: if path.exists() {
            format!("write {value:?}: {e}")
        } else {
            "this kernel does not provide this file (controller or feature missing)".to_string()
        },
    })
}

fn remove_dir(dir: &Path) -> Result<()> {
    let mut delay = Duration::from_micros(200);
    for _ in 0..40 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(cgroup_error(dir, e)),
        }
    }
    Err(Error::Cgroup {
        path: dir.to_path_buf(),
        reason: "still busy: processes remain in it".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_map_to_nested_slices() {
        assert_eq!(
            systemd_path("system.slice:docker:abc", "x").unwrap(),
            PathBuf::from("system.slice/docker-abc.scope")
        );
        assert_eq!(
            systemd_path("a-b.slice:pre:n", "x").unwrap(),
            PathBuf::from("a.slice/a-b.slice/pre-n.scope")
        );
        assert!(systemd_path("only-one-part", "x").is_err());
    }
}

//! Where a container's record lives (`<root>/<id>/state.json`) and how its status is derived.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::cgroups::CgroupPath;
use crate::error::{Context, Error, Result};
use crate::fsutil::write_atomic;

/// The default state directory, like runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";

/// The name of the FIFO that holds a created container's init until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";

/// What the runtime remembers about one container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// The init process as seen from the runtime's pid namespace.
    pub pid: i32,
    /// The init's start time in clock ticks since boot, to tell it from a reused pid.
    pub pid_start_time: u64,
    pub created: String,
    pub owner: String,
    pub cgroup: CgroupPath,
    pub spec: Spec,
}

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// The status as the OCI state document spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The OCI state document printed by `state` and given to hooks on stdin.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDocument<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl ContainerRecord {
    /// The state document for this container in the given status.
    pub fn document(&self, status: Status) -> StateDocument<'_> {
        StateDocument {
            oci_version: crate::spec::OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: self.spec.annotations().clone().unwrap_or_default(),
        }
    }
}

/// The state directory that holds every container's record.
#[derive(Debug, Clone)]
pub struct StateRoot {
    root: PathBuf,
}

impl StateRoot {
    /// Opens (creating if needed, mode 0700) the state directory.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            fs::create_dir_all(root).context(|| format!("create state root {}", root.display()))?;
            set_mode(root, 0o700)?;
        }
        Ok(StateRoot {
            root: root.to_path_buf(),
        })
    }

    /// Where compiled seccomp programs are kept (see [`crate::seccomp::prepare`]). Its name
    /// starts with a dot, which no container id may.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.root.join(".seccomp")
    }

    /// The directory of one container.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Reserves `id`: creates its directory, failing if it exists.
    pub fn reserve(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        let dir = self.dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => {
                set_mode(&dir, 0o700)?;
                Ok(dir)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists(id.to_string()))
            }
            Err(e) => Err(e).context(|| format!("create {}", dir.display())),
        }
    }

    /// Saves a record atomically.
    pub fn save(&self, record: &ContainerRecord) -> Result<()> {
        let json = serde_json::to_vec(record)
            .map_err(|e| Error::InvalidSpec(format!("cannot serialise state: {e}")))?;
        // The state root lives in /run: a reboot ends every container it describes.
        write_atomic(&self.dir(&record.id).join("state.json"), &json)
    }

    /// Loads the record of `id`.
    pub fn load(&self, id: &str) -> Result<ContainerRecord> {
        validate_id(id)?;
        let path = self.dir(id).join("state.json");
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).context(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&data).map_err(|e| Error::Config {
            path,
            reason: e.to_string(),
        })
    }

    /// Removes the container's directory and everything in it.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).context(|| format!("remove {}", dir.display()))
            }
            _ => Ok(()),
        }
    }

    /// The ids of every container with a record, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(&self.root)
            .context(|| format!("read {}", self.root.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("state.json").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Derives the current status of a container from its init process, FIFO and freezer.
    pub fn status(&self, record: &ContainerRecord) -> Status {
        if !process_is_alive(record.pid, record.pid_start_time) {
            return Status::Stopped;
        }
        if self.dir(&record.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if record.cgroup.is_frozen() {
            return Status::Paused;
        }
        Status::Running
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .context(|| format!("chmod {}", path.display()))
}

/// Checks that an id is usable as a single path component and in cgroup names.
pub fn validate_id(id: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return invalid("it is empty");
    }
    if id.len() > 1024 {
        return invalid("it is longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return invalid("it is a relative path component");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
    {
        return invalid("only letters, digits and _ - . + are allowed");
    }
    Ok(())
}

/// Reads a process's start time (field 22 of /proc/PID/stat) and whether it is a zombie.
pub fn process_start_time(pid: i32) -> Option<(u64, bool)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

/// Whether the process `pid` still runs and is the one that started at `start_time`.
pub fn process_is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0
        && matches!(process_start_time(pid), Some((start, zombie)) if start == start_time && !zombie)
}

/// The current time in the RFC 3339 form used by state documents and logs.
pub fn now_rfc3339() -> String {
    crate::time::format(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_not_single_safe_components_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "a\0b",
            &"x".repeat(1025),
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?} must be refused");
        }
        for good in ["a", "my-container_1.2+3", "0123456789abcdef"] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let (start, zombie) = process_start_time(pid).unwrap();
        assert!(!zombie);
        assert!(process_is_alive(pid, start));
        assert!(!process_is_alive(pid, start + 1));
    }
}

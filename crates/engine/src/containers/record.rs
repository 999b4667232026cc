//! What berthd keeps of a container across restarts: `<data-root>/containers/<id>/config.v2.json`,
//! rewritten atomically on every change of configuration or state.

use std::fs;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use berth_api::container_inspect::EndpointSettings;
use berth_api::containers::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::error::{Error, Result};

/// The record's file name inside the container's directory.
const FILE: &str = "config.v2.json";

/// A container's life-cycle state, as Docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether a process of the container is alive (running or paused).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

/// One healthcheck probe's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// A container's health as the healthcheck last judged it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u64,
    /// The last five probes, oldest first.
    pub log: Vec<Probe>,
}

/// The run state of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    /// The container's init on the host (0 when not running).
    pub pid: u32,
    /// The pid of the shim that owns the running container.
    pub shim_pid: u32,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// Why the last start failed, if it did.
    pub error: String,
    /// RFC 3339 with nanoseconds; Docker's zero time until it happens.
    pub started_at: String,
    pub finished_at: String,
    /// Set by an explicit stop or kill: restart policies then leave the container stopped.
    pub stopped_by_user: bool,
    pub health: Option<Health>,
}

/// Docker's zero time, shown for times that have not happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Where a container's json-file log goes and how it rotates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    pub path: PathBuf,
    /// Bytes per file (0: unbounded).
    pub max_size: u64,
    /// Files kept, the current one included.
    pub max_files: u32,
}

/// Everything berthd keeps about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's id (`sha256:…`).
    pub image_id: String,
    /// The merged configuration: the request over the image's defaults.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The program and its arguments (entrypoint and cmd combined).
    pub path: String,
    pub args: Vec<String>,
    pub state: RunState,
    pub restart_count: u64,
    pub log: LogSettings,
    /// The container's /etc/hostname, /etc/hosts and /etc/resolv.conf on the host.
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// Its root file system on the host (mounted while it runs).
    pub rootfs: PathBuf,
    /// What it asked of each network it joins (network name → aliases, addresses, MAC).
    #[serde(default)]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
    /// Its networking while it runs: namespace, endpoints, published ports.
    #[serde(default)]
    pub network: crate::networks::NetworkState,
    /// Its volumes and host paths, decided at create.
    #[serde(default)]
    pub mount_points: Vec<super::mount_plan::MountPoint>,
}

impl ContainerRecord {
    /// Writes the record into `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let data = serde_json::to_vec(self).expect("container records serialise");
        durable::write(&dir.join(FILE), &data).map_err(|e| Error::Io {
            context: format!("save container {}", self.id),
            source: e,
        })
    }

    /// Writes the record into `dir` atomically after a change of run state only (start, exit,
    /// pause, health): not flushed to disk, since a power loss ends every container anyway.
    pub fn save_state(&self, dir: &Path) -> Result<()> {
        let data = serde_json::to_vec(self).expect("container records serialise");
        durable::replace(&dir.join(FILE), &data).map_err(|e| Error::Io {
            context: format!("save container {}", self.id),
            source: e,
        })
    }

    /// Reads the record in `dir`.
    pub fn load(dir: &Path) -> Result<ContainerRecord> {
        let path = dir.join(FILE);
        let data = fs::read(&path).map_err(|e| Error::Io {
            context: format!("read {}", path.display()),
            source: e,
        })?;
        serde_json::from_slice(&data).map_err(|e| Error::Io {
            context: format!("parse {}", path.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Whether `dir` holds a record (a directory without one is an unfinished create).
    pub fn exists(dir: &Path) -> bool {
        dir.join(FILE).is_file()
    }
}

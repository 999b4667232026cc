//! `/version` and `/info`: what the docker CLI asks first.

use serde::{Deserialize, Serialize};

/// The body of `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

/// One runtime of `GET /info`'s `Runtimes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Its binary (a bare name is looked up on the daemon's `PATH`).
    pub path: String,
}

/// The parts of `GET /info` that clients read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub docker_root_dir: String,
    pub name: String,
    pub server_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub kernel_version: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    /// The runtimes containers may ask for (`--runtime NAME`), by name.
    pub runtimes: std::collections::BTreeMap<String, RuntimeInfo>,
    pub default_runtime: String,
    pub logging_driver: String,
}

//! `HostConfig` and its `Resources`: how a container is placed on the host (Engine API 1.44).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

/// Published ports: `"80/tcp"` → the host bindings (`null` when exposed but not published).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// One host side of a published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    #[serde(deserialize_with = "nd")]
    pub host_ip: String,
    #[serde(deserialize_with = "nd")]
    pub host_port: String,
}

/// The host side of a container: mounts, networking mode, security and resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// The resource limits, inline in the JSON as in Docker's.
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(deserialize_with = "nd")]
    pub binds: Vec<String>,
    #[serde(rename = "ContainerIDFile", deserialize_with = "nd")]
    pub container_id_file: String,
    #[serde(deserialize_with = "nd")]
    pub log_config: LogConfig,
    #[serde(deserialize_with = "nd")]
    pub network_mode: String,
    #[serde(deserialize_with = "nd")]
    pub port_bindings: PortMap,
    #[serde(deserialize_with = "nd")]
    pub restart_policy: RestartPolicy,
    #[serde(deserialize_with = "nd")]
    pub auto_remove: bool,
    #[serde(deserialize_with = "nd")]
    pub volume_driver: String,
    #[serde(deserialize_with = "nd")]
    pub volumes_from: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub mounts: Vec<Mount>,
    /// `[height, width]` of the tty at creation.
    #[serde(deserialize_with = "nd")]
    pub console_size: [u32; 2],
    #[serde(deserialize_with = "nd")]
    pub annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub cap_add: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub cap_drop: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub cgroupns_mode: String,
    #[serde(deserialize_with = "nd")]
    pub dns: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub dns_options: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub dns_search: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub extra_hosts: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub group_add: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub ipc_mode: String,
    #[serde(deserialize_with = "nd")]
    pub cgroup: String,
    #[serde(deserialize_with = "nd")]
    pub links: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub oom_score_adj: i64,
    #[serde(deserialize_with = "nd")]
    pub pid_mode: String,
    #[serde(deserialize_with = "nd")]
    pub privileged: bool,
    #[serde(deserialize_with = "nd")]
    pub publish_all_ports: bool,
    #[serde(deserialize_with = "nd")]
    pub readonly_rootfs: bool,
    #[serde(deserialize_with = "nd")]
    pub security_opt: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub storage_opt: BTreeMap<String, String>,
    /// Container path → tmpfs mount options.
    #[serde(deserialize_with = "nd")]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(rename = "UTSMode", deserialize_with = "nd")]
    pub uts_mode: String,
    #[serde(deserialize_with = "nd")]
    pub userns_mode: String,
    /// Bytes; 0 means the daemon's default (64 MiB).
    #[serde(deserialize_with = "nd")]
    pub shm_size: i64,
    #[serde(deserialize_with = "nd")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub runtime: String,
    #[serde(deserialize_with = "nd")]
    pub isolation: String,
    /// `None` means the daemon's defaults; `Some([])` none at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_paths: Option<Vec<String>>,
    /// `None` means the daemon's defaults; `Some([])` none at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_paths: Option<Vec<String>>,
    /// Run an init process (`--init`) as PID 1; `None` means the daemon's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// Resource limits: part of `HostConfig`, and the body of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    #[serde(deserialize_with = "nd")]
    pub cpu_shares: i64,
    /// Bytes; 0 is unlimited.
    #[serde(deserialize_with = "nd")]
    pub memory: i64,
    #[serde(deserialize_with = "nd")]
    pub cgroup_parent: String,
    #[serde(deserialize_with = "nd")]
    pub blkio_weight: u16,
    #[serde(deserialize_with = "nd")]
    pub blkio_weight_device: Vec<WeightDevice>,
    #[serde(deserialize_with = "nd")]
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    #[serde(deserialize_with = "nd")]
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceReadIOps", deserialize_with = "nd")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceWriteIOps", deserialize_with = "nd")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    #[serde(deserialize_with = "nd")]
    pub cpu_period: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_quota: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_realtime_period: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_realtime_runtime: i64,
    #[serde(deserialize_with = "nd")]
    pub cpuset_cpus: String,
    #[serde(deserialize_with = "nd")]
    pub cpuset_mems: String,
    #[serde(deserialize_with = "nd")]
    pub devices: Vec<DeviceMapping>,
    #[serde(deserialize_with = "nd")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub device_requests: Vec<DeviceRequest>,
    /// Bytes.
    #[serde(deserialize_with = "nd")]
    pub memory_reservation: i64,
    /// Memory plus swap in bytes; -1 is unlimited swap.
    #[serde(deserialize_with = "nd")]
    pub memory_swap: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    /// CPU quota in units of 10⁻⁹ CPUs (`--cpus 1.5` is 1500000000).
    #[serde(deserialize_with = "nd")]
    pub nano_cpus: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    /// 0 or -1 is unlimited; `None` leaves it unchanged (update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(deserialize_with = "nd")]
    pub ulimits: Vec<Ulimit>,
    #[serde(deserialize_with = "nd")]
    pub cpu_count: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps", deserialize_with = "nd")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth", deserialize_with = "nd")]
    pub io_maximum_bandwidth: u64,
}

/// Where the container's log goes (`--log-driver`, `--log-opt`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
    #[serde(deserialize_with = "nd")]
    pub config: BTreeMap<String, String>,
}

/// When the daemon restarts the container: `""`/`no`, `always`, `unless-stopped`, `on-failure`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub maximum_retry_count: i64,
}

/// A block device's weight (`--blkio-weight-device`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    #[serde(deserialize_with = "nd")]
    pub path: String,
    #[serde(deserialize_with = "nd")]
    pub weight: u16,
}

/// A block device's rate limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    #[serde(deserialize_with = "nd")]
    pub path: String,
    #[serde(deserialize_with = "nd")]
    pub rate: u64,
}

/// A host device made available in the container (`--device`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    #[serde(deserialize_with = "nd")]
    pub path_on_host: String,
    #[serde(deserialize_with = "nd")]
    pub path_in_container: String,
    #[serde(deserialize_with = "nd")]
    pub cgroup_permissions: String,
}

/// A request for devices from a driver (`--gpus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    #[serde(deserialize_with = "nd")]
    pub driver: String,
    #[serde(deserialize_with = "nd")]
    pub count: i64,
    #[serde(rename = "DeviceIDs", deserialize_with = "nd")]
    pub device_ids: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub capabilities: Vec<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub options: BTreeMap<String, String>,
}

/// A resource limit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub soft: i64,
    #[serde(deserialize_with = "nd")]
    pub hard: i64,
}

/// A mount from `--mount` (or the daemon's view of one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(deserialize_with = "nd")]
    pub target: String,
    #[serde(deserialize_with = "nd")]
    pub source: String,
    /// `bind`, `volume`, `tmpfs`, `image`, `npipe` or `cluster`.
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
    #[serde(deserialize_with = "nd")]
    pub read_only: bool,
    #[serde(deserialize_with = "nd")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Options of a bind mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(deserialize_with = "nd", skip_serializing_if = "std::ops::Not::not")]
    pub non_recursive: bool,
    #[serde(deserialize_with = "nd", skip_serializing_if = "std::ops::Not::not")]
    pub create_mountpoint: bool,
    #[serde(deserialize_with = "nd", skip_serializing_if = "std::ops::Not::not")]
    pub read_only_non_recursive: bool,
    #[serde(deserialize_with = "nd", skip_serializing_if = "std::ops::Not::not")]
    pub read_only_force_recursive: bool,
}

/// Options of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    #[serde(deserialize_with = "nd")]
    pub no_copy: bool,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// The driver of a volume mount's volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeDriverConfig {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub options: BTreeMap<String, String>,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Bytes; 0 is unlimited.
    #[serde(deserialize_with = "nd")]
    pub size_bytes: i64,
    /// Permission bits of the tmpfs root.
    #[serde(deserialize_with = "nd")]
    pub mode: u32,
    #[serde(deserialize_with = "nd")]
    pub options: Vec<Vec<String>>,
}

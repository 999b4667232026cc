//! `GET /containers/{id}/json`: everything about one container (Engine API 1.44).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::containers::ContainerConfig;
use crate::host_config::{HostConfig, PortMap};
use crate::lenient::null_as_default as nd;

/// The answer to `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    #[serde(deserialize_with = "nd")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    #[serde(deserialize_with = "nd")]
    pub created: String,
    #[serde(deserialize_with = "nd")]
    pub path: String,
    #[serde(deserialize_with = "nd")]
    pub args: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub state: ContainerState,
    /// The image id (`sha256:…`).
    #[serde(deserialize_with = "nd")]
    pub image: String,
    #[serde(deserialize_with = "nd")]
    pub resolv_conf_path: String,
    #[serde(deserialize_with = "nd")]
    pub hostname_path: String,
    #[serde(deserialize_with = "nd")]
    pub hosts_path: String,
    #[serde(deserialize_with = "nd")]
    pub log_path: String,
    /// With a leading `/`.
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub restart_count: i64,
    #[serde(deserialize_with = "nd")]
    pub driver: String,
    #[serde(deserialize_with = "nd")]
    pub platform: String,
    #[serde(deserialize_with = "nd")]
    pub mount_label: String,
    #[serde(deserialize_with = "nd")]
    pub process_label: String,
    #[serde(deserialize_with = "nd")]
    pub app_armor_profile: String,
    /// Docker writes `null` when there are none.
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub host_config: HostConfig,
    #[serde(deserialize_with = "nd")]
    pub graph_driver: DriverData,
    /// Only with `?size=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Only with `?size=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(deserialize_with = "nd")]
    pub mounts: Vec<MountPoint>,
    #[serde(deserialize_with = "nd")]
    pub config: ContainerConfig,
    #[serde(deserialize_with = "nd")]
    pub network_settings: NetworkSettings,
}

/// A container's run state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    #[serde(deserialize_with = "nd")]
    pub status: String,
    #[serde(deserialize_with = "nd")]
    pub running: bool,
    #[serde(deserialize_with = "nd")]
    pub paused: bool,
    #[serde(deserialize_with = "nd")]
    pub restarting: bool,
    #[serde(rename = "OOMKilled", deserialize_with = "nd")]
    pub oom_killed: bool,
    #[serde(deserialize_with = "nd")]
    pub dead: bool,
    #[serde(deserialize_with = "nd")]
    pub pid: i64,
    #[serde(deserialize_with = "nd")]
    pub exit_code: i64,
    #[serde(deserialize_with = "nd")]
    pub error: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` when never started.
    #[serde(deserialize_with = "nd")]
    pub started_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` when never finished.
    #[serde(deserialize_with = "nd")]
    pub finished_at: String,
    /// Only for a container with a healthcheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// The healthcheck's view of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `none`, `starting`, `healthy` or `unhealthy`.
    #[serde(deserialize_with = "nd")]
    pub status: String,
    #[serde(deserialize_with = "nd")]
    pub failing_streak: i64,
    /// The last few probes, oldest first.
    #[serde(deserialize_with = "nd")]
    pub log: Vec<HealthcheckResult>,
}

/// One healthcheck probe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    /// RFC 3339.
    #[serde(deserialize_with = "nd")]
    pub start: String,
    /// RFC 3339.
    #[serde(deserialize_with = "nd")]
    pub end: String,
    #[serde(deserialize_with = "nd")]
    pub exit_code: i64,
    #[serde(deserialize_with = "nd")]
    pub output: String,
}

/// The storage driver and its data (overlay dirs) of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverData {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub data: BTreeMap<String, String>,
}

/// A mount as the daemon made it (inspect and `ps`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`, …
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
    /// The volume's name (volumes only).
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub source: String,
    #[serde(deserialize_with = "nd")]
    pub destination: String,
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(deserialize_with = "nd")]
    pub mode: String,
    #[serde(rename = "RW", deserialize_with = "nd")]
    pub rw: bool,
    #[serde(deserialize_with = "nd")]
    pub propagation: String,
}

/// A container's network state. The top-level address fields are the default bridge's,
/// deprecated in Docker but still read by scripts (`{{.NetworkSettings.IPAddress}}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    #[serde(deserialize_with = "nd")]
    pub bridge: String,
    #[serde(rename = "SandboxID", deserialize_with = "nd")]
    pub sandbox_id: String,
    #[serde(deserialize_with = "nd")]
    pub sandbox_key: String,
    #[serde(deserialize_with = "nd")]
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address", deserialize_with = "nd")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen", deserialize_with = "nd")]
    pub link_local_ipv6_prefix_len: i64,
    /// Exposed ports and where they are published.
    #[serde(deserialize_with = "nd")]
    pub ports: PortMap,
    #[serde(rename = "EndpointID", deserialize_with = "nd")]
    pub endpoint_id: String,
    #[serde(deserialize_with = "nd")]
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "nd")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", deserialize_with = "nd")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "IPAddress", deserialize_with = "nd")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", deserialize_with = "nd")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", deserialize_with = "nd")]
    pub ipv6_gateway: String,
    #[serde(deserialize_with = "nd")]
    pub mac_address: String,
    /// Network name → the container's endpoint on it.
    #[serde(deserialize_with = "nd")]
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// A container's endpoint on one network (also the create-time request for one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig", skip_serializing_if = "Option::is_none")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(deserialize_with = "nd")]
    pub links: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub aliases: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub mac_address: String,
    #[serde(deserialize_with = "nd")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(rename = "NetworkID", deserialize_with = "nd")]
    pub network_id: String,
    #[serde(rename = "EndpointID", deserialize_with = "nd")]
    pub endpoint_id: String,
    #[serde(deserialize_with = "nd")]
    pub gateway: String,
    #[serde(rename = "IPAddress", deserialize_with = "nd")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", deserialize_with = "nd")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", deserialize_with = "nd")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "nd")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", deserialize_with = "nd")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "DNSNames", deserialize_with = "nd")]
    pub dns_names: Vec<String>,
}

/// Static addresses asked for on one network (`--ip`, `--ip6`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", deserialize_with = "nd")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", deserialize_with = "nd")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", deserialize_with = "nd")]
    pub link_local_ips: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `docker inspect` of a stopped container (docker 28), trimmed.
    const INSPECT: &str = r#"{
      "Id": "4f1c", "Created": "2026-11-28T16:00:00.123456789Z", "Path": "sh",
      "Args": ["-c", "exit 3"],
      "State": {"Status": "exited", "Running": false, "Paused": false, "Restarting": false,
        "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 3, "Error": "",
        "StartedAt": "2026-11-28T16:00:01Z", "FinishedAt": "2026-11-28T16:00:02Z"},
      "Image": "sha256:ab", "ResolvConfPath": "/r", "HostnamePath": "/h", "HostsPath": "/hs",
      "LogPath": "/l", "Name": "/web", "RestartCount": 0, "Driver": "overlay2",
      "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
      "ExecIDs": null,
      "HostConfig": {"Binds": null, "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "bridge", "PortBindings": {}, "RestartPolicy": {"Name": "no",
        "MaximumRetryCount": 0}, "CapAdd": null, "Dns": [], "ConsoleSize": [24, 80],
        "MaskedPaths": ["/proc/kcore"], "ReadonlyPaths": null, "BlkioWeightDevice": [],
        "Devices": [], "PidsLimit": null, "Ulimits": [], "MemorySwappiness": null},
      "GraphDriver": {"Data": {"MergedDir": "/m"}, "Name": "overlay2"},
      "Mounts": [],
      "Config": {"Hostname": "4f1c", "Env": ["PATH=/bin"], "Cmd": ["sh", "-c", "exit 3"],
        "Image": "busybox", "Volumes": null, "Entrypoint": null, "OnBuild": null,
        "Labels": {}, "ExposedPorts": {"80/tcp": {}}},
      "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {"80/tcp": null},
        "SandboxKey": "", "IPAddress": "", "Networks": {"bridge": {"IPAMConfig": null,
        "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
        "NetworkID": "n1", "DNSNames": null}}}
    }"#;

    #[test]
    fn docker_inspect_of_a_stopped_container_reads_with_its_nulls() {
        let inspect: ContainerInspect = serde_json::from_str(INSPECT).unwrap();
        assert_eq!(
            (inspect.state.status.as_str(), inspect.state.exit_code),
            ("exited", 3)
        );
        assert_eq!(inspect.state.health, None);
        assert_eq!(inspect.exec_ids, None);
        assert!(inspect.host_config.binds.is_empty());
        assert_eq!(inspect.host_config.console_size, [24, 80]);
        assert_eq!(
            inspect.host_config.masked_paths.as_deref(),
            Some(&["/proc/kcore".to_string()][..])
        );
        assert_eq!(inspect.host_config.resources.pids_limit, None);
        assert_eq!(inspect.config.entrypoint, None);
        assert_eq!(inspect.network_settings.ports["80/tcp"], None);
        assert_eq!(inspect.graph_driver.data["MergedDir"], "/m");

        let written = serde_json::to_value(&inspect).unwrap();
        assert_eq!(
            written["NetworkSettings"]["Ports"],
            serde_json::json!({"80/tcp": null}),
            "exposed, unpublished: null as Docker"
        );
        assert_eq!(
            written["ExecIDs"],
            serde_json::Value::Null,
            "no execs: null as Docker"
        );
        assert_eq!(written["HostConfig"]["Binds"], serde_json::json!([]));
        assert_eq!(written["State"]["OOMKilled"], false);
        let again: ContainerInspect = serde_json::from_value(written).unwrap();
        assert_eq!(again, inspect);
    }

    #[test]
    fn a_health_state_reads() {
        let state: ContainerState = serde_json::from_str(
            r#"{"Status":"running","Running":true,"Health":{"Status":"unhealthy",
            "FailingStreak":3,"Log":[{"Start":"a","End":"b","ExitCode":1,"Output":"no\n"}]}}"#,
        )
        .unwrap();
        let health = state.health.unwrap();
        assert_eq!(
            (health.status.as_str(), health.failing_streak),
            ("unhealthy", 3)
        );
        assert_eq!(health.log[0].output, "no\n");
    }
}

//! Containers in the Engine API (1.44): the create body, `ps` rows, wait, top, update and prune.
//! Inspect, host config and stats live in their own modules and are re-exported here.
//!
//! Every field defaults when missing and reads `null` as empty, as dockerd and the docker CLI
//! write both; lists and maps are written as `[]`/`{}`, never `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

pub use crate::container_inspect::{
    ContainerInspect, ContainerState, DriverData, EndpointIpamConfig, EndpointSettings, Health,
    HealthcheckResult, MountPoint, NetworkSettings,
};
pub use crate::host_config::{
    BindOptions, DeviceMapping, DeviceRequest, HostConfig, LogConfig, Mount, PortBinding, PortMap,
    Resources, RestartPolicy, ThrottleDevice, TmpfsOptions, Ulimit, VolumeDriverConfig,
    VolumeOptions, WeightDevice,
};
pub use crate::stats::StatsResponse;

/// `{}`: the value of `ExposedPorts` and `Volumes` entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// The portable part of a container's configuration (`Config` in inspect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    #[serde(deserialize_with = "nd")]
    pub hostname: String,
    #[serde(deserialize_with = "nd")]
    pub domainname: String,
    #[serde(deserialize_with = "nd")]
    pub user: String,
    #[serde(deserialize_with = "nd")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stderr: bool,
    /// `"80/tcp"` → `{}`.
    #[serde(deserialize_with = "nd")]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    #[serde(deserialize_with = "nd")]
    pub tty: bool,
    #[serde(deserialize_with = "nd")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub stdin_once: bool,
    #[serde(deserialize_with = "nd")]
    pub env: Vec<String>,
    /// Empty means the image's.
    #[serde(deserialize_with = "nd")]
    pub cmd: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(deserialize_with = "nd")]
    pub image: String,
    /// Container path → `{}`: anonymous volumes.
    #[serde(deserialize_with = "nd")]
    pub volumes: BTreeMap<String, EmptyObject>,
    #[serde(deserialize_with = "nd")]
    pub working_dir: String,
    /// `None` means the image's; `Some([""])` (`--entrypoint ""`) clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(deserialize_with = "nd")]
    pub on_build: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Seconds to wait after the stop signal before killing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
}

/// A container's healthcheck. Durations are nanoseconds; 0 means inherit (or the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(deserialize_with = "nd")]
    pub test: Vec<String>,
    #[serde(deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub retries: i64,
    #[serde(deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The networks a container joins at creation: network name → endpoint settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    #[serde(deserialize_with = "nd")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// The body of `POST /containers/create?name=&platform=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    /// The container's configuration, inline as in Docker's body.
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(deserialize_with = "nd")]
    pub host_config: HostConfig,
    #[serde(deserialize_with = "nd")]
    pub networking_config: NetworkingConfig,
}

/// The answer to `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    #[serde(deserialize_with = "nd")]
    pub id: String,
    #[serde(deserialize_with = "nd")]
    pub warnings: Vec<String>,
}

/// One row of `GET /containers/json` (`ps`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    #[serde(deserialize_with = "nd")]
    pub id: String,
    /// With a leading `/`.
    #[serde(deserialize_with = "nd")]
    pub names: Vec<String>,
    /// The image as the user named it.
    #[serde(deserialize_with = "nd")]
    pub image: String,
    #[serde(rename = "ImageID", deserialize_with = "nd")]
    pub image_id: String,
    /// Path and arguments, joined by spaces.
    #[serde(deserialize_with = "nd")]
    pub command: String,
    /// Unix seconds.
    #[serde(deserialize_with = "nd")]
    pub created: i64,
    #[serde(deserialize_with = "nd")]
    pub ports: Vec<Port>,
    /// Only with `?size=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Only with `?size=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `paused`, `restarting`, `exited`, `removing` or `dead`.
    #[serde(deserialize_with = "nd")]
    pub state: String,
    /// For people: `Up 3 seconds`, `Exited (0) 2 seconds ago`.
    #[serde(deserialize_with = "nd")]
    pub status: String,
    #[serde(deserialize_with = "nd")]
    pub host_config: SummaryHostConfig,
    #[serde(deserialize_with = "nd")]
    pub network_settings: SummaryNetworkSettings,
    #[serde(deserialize_with = "nd")]
    pub mounts: Vec<MountPoint>,
}

/// A port of a `ps` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    /// Host address; absent when the port is only exposed.
    #[serde(
        rename = "IP",
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip: String,
    #[serde(deserialize_with = "nd")]
    pub private_port: u16,
    /// Absent when the port is only exposed.
    #[serde(deserialize_with = "nd", skip_serializing_if = "is_zero_port")]
    pub public_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
}

fn is_zero_port(n: &u16) -> bool {
    *n == 0
}

/// The `HostConfig` of a `ps` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    #[serde(deserialize_with = "nd")]
    pub network_mode: String,
    #[serde(deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The `NetworkSettings` of a `ps` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    #[serde(deserialize_with = "nd")]
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// The answer to `POST /containers/{id}/wait`, sent when the condition is met.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitResponse {
    #[serde(deserialize_with = "nd")]
    pub status_code: i64,
    /// Set when waiting itself failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitExitError>,
}

/// Why waiting for a container failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitExitError {
    #[serde(deserialize_with = "nd")]
    pub message: String,
}

/// The answer to `GET /containers/{id}/top?ps_args=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TopResponse {
    /// The `ps` column headers.
    #[serde(deserialize_with = "nd")]
    pub titles: Vec<String>,
    /// One row per process, one string per column.
    #[serde(deserialize_with = "nd")]
    pub processes: Vec<Vec<String>>,
}

/// The body of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateRequest {
    /// The new limits, inline; zero fields leave a limit unchanged.
    #[serde(flatten)]
    pub resources: Resources,
    /// Replaces the restart policy when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

/// The answer to `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateResponse {
    #[serde(deserialize_with = "nd")]
    pub warnings: Vec<String>,
}

/// The answer to `POST /containers/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerPruneResponse {
    /// Full ids.
    #[serde(deserialize_with = "nd")]
    pub containers_deleted: Vec<String>,
    /// Bytes.
    #[serde(deserialize_with = "nd")]
    pub space_reclaimed: u64,
}

/// One change of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FilesystemChange {
    #[serde(deserialize_with = "nd")]
    pub path: String,
    /// 0 modified, 1 added, 2 deleted.
    #[serde(deserialize_with = "nd")]
    pub kind: u8,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// What `docker create --name web -e A=b -w /srv -u 1000:1000 --entrypoint /bin/sh -h box
    /// --restart on-failure:3 --health-cmd true --health-interval 5s --memory 64m --cpus 1.5
    /// --pids-limit 100 --ulimit nofile=1024:2048 --cap-add NET_ADMIN --cap-drop MKNOD
    /// --read-only --tmpfs /run:size=1m -l k=v --log-opt max-size=1m --stop-signal SIGINT
    /// --stop-timeout 3 --sysctl net.ipv4.ip_forward=1 --shm-size 8m --group-add 10 --init
    /// -v /tmp:/host:ro --mount type=volume,source=data,target=/d -p 127.0.0.1:8080:80
    /// --add-host h:1.2.3.4 --dns 9.9.9.9 -it busybox -c 'echo hi'` (docker 28.2) sent.
    const DOCKER_CREATE_BODY: &str = include_str!("testdata/docker-create-body.json");

    fn nulls(value: &Value, path: &str, found: &mut Vec<String>) {
        match value {
            Value::Null => found.push(path.to_string()),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    nulls(item, &format!("{path}[{i}]"), found);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    nulls(item, &format!("{path}.{key}"), found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_docker_clis_create_body_reads_with_its_nulls_and_round_trips() {
        let request: ContainerCreateRequest = serde_json::from_str(DOCKER_CREATE_BODY).unwrap();
        let config = &request.config;
        assert_eq!(config.image, "busybox");
        assert_eq!(
            config.entrypoint.as_deref(),
            Some(&["/bin/sh".to_string()][..])
        );
        assert_eq!(config.cmd, ["-c", "echo hi"]);
        assert_eq!(config.env, ["A=b"]);
        assert!(config.exposed_ports.contains_key("80/tcp"));
        assert!(config.on_build.is_empty(), "OnBuild: null reads as empty");
        assert_eq!(config.stop_timeout, Some(3));
        let health = config.healthcheck.as_ref().unwrap();
        assert_eq!(
            (health.test.as_slice(), health.interval),
            (
                &["CMD-SHELL".to_string(), "true".to_string()][..],
                5_000_000_000
            )
        );
        let host = &request.host_config;
        assert_eq!(host.binds, ["/tmp:/host:ro"]);
        assert!(host.volumes_from.is_empty() && host.links.is_empty());
        assert_eq!(
            host.restart_policy,
            RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: 3
            }
        );
        assert_eq!(
            host.port_bindings["80/tcp"].as_ref().unwrap()[0].host_port,
            "8080"
        );
        assert_eq!(host.resources.memory, 64 << 20);
        assert_eq!(host.resources.nano_cpus, 1_500_000_000);
        assert_eq!(host.resources.pids_limit, Some(100));
        assert_eq!(host.resources.memory_swappiness, Some(-1));
        assert_eq!(
            host.resources.ulimits,
            [Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }]
        );
        assert_eq!(host.tmpfs["/run"], "size=1m");
        assert_eq!(
            (host.shm_size, host.init, host.readonly_rootfs),
            (8 << 20, Some(true), true)
        );
        assert_eq!(
            host.masked_paths, None,
            "null keeps the daemon's default masked paths"
        );
        assert_eq!(host.mounts[0].r#type, "volume");
        assert_eq!(host.console_size, [0, 0]);
        assert!(request
            .networking_config
            .endpoints_config
            .contains_key("default"));

        let written = serde_json::to_value(&request).unwrap();
        let mut found = Vec::new();
        nulls(&written, "", &mut found);
        assert!(found.is_empty(), "berth wrote null at {found:?}");
        assert_eq!(written["HostConfig"]["VolumesFrom"], serde_json::json!([]));
        assert_eq!(
            written["HostConfig"]["CpuRealtimePeriod"], 0,
            "Resources are inline"
        );
        assert!(written["HostConfig"].get("MaskedPaths").is_none());
        let again: ContainerCreateRequest = serde_json::from_value(written).unwrap();
        assert_eq!(again, request);
    }

    #[test]
    fn a_ps_row_from_dockerd_with_nulls_and_unknown_fields_reads() {
        let row: ContainerSummary = serde_json::from_str(
            r#"{"Id":"4f1c","Names":["/web"],"Image":"busybox","ImageID":"sha256:ab",
            "Command":"sh -c 'echo hi'","Created":1700000000,"Ports":[{"PrivatePort":80,
            "Type":"tcp"},{"IP":"127.0.0.1","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}],
            "Labels":null,"State":"exited","Status":"Exited (0) 2 seconds ago",
            "HostConfig":{"NetworkMode":"bridge"},"NetworkSettings":{"Networks":{"bridge":
            {"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"n1","DNSNames":null}}},
            "Mounts":[],"ImageManifestDescriptor":{"mediaType":"x"}}"#,
        )
        .unwrap();
        assert_eq!(row.names, ["/web"]);
        assert_eq!(row.ports[1].public_port, 8080);
        assert!(row.labels.is_empty());
        assert_eq!(row.network_settings.networks["bridge"].network_id, "n1");
        let written = serde_json::to_value(&row).unwrap();
        assert_eq!(
            written["Ports"][0],
            serde_json::json!({"PrivatePort": 80, "Type": "tcp"})
        );
        assert_eq!(written["Labels"], serde_json::json!({}));
    }

    #[test]
    fn an_update_body_carries_resources_inline_and_only_the_policy_given() {
        let update = ContainerUpdateRequest {
            resources: Resources {
                memory: 1 << 20,
                pids_limit: Some(5),
                ..Resources::default()
            },
            restart_policy: None,
        };
        let written = serde_json::to_value(&update).unwrap();
        assert_eq!(
            (written["Memory"].as_i64(), written["PidsLimit"].as_i64()),
            (Some(1 << 20), Some(5))
        );
        assert!(written.get("RestartPolicy").is_none() && written.get("Resources").is_none());
        let read: ContainerUpdateRequest = serde_json::from_str(
            r#"{"Memory":0,"RestartPolicy":{"Name":"always"},"Ulimits":null}"#,
        )
        .unwrap();
        assert_eq!(read.restart_policy.unwrap().name, "always");
    }

    #[test]
    fn wait_answers_read_with_and_without_an_error() {
        let ok: WaitResponse = serde_json::from_str(r#"{"StatusCode":3,"Error":null}"#).unwrap();
        assert_eq!((ok.status_code, ok.error), (3, None));
        let failed: WaitResponse =
            serde_json::from_str(r#"{"StatusCode":0,"Error":{"Message":"gone"}}"#).unwrap();
        assert_eq!(failed.error.unwrap().message, "gone");
        assert_eq!(
            serde_json::to_string(&WaitResponse::default()).unwrap(),
            r#"{"StatusCode":0}"#
        );
    }
}

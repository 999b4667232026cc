//! `/networks`: the shapes of networks as the Engine API lists, inspects, creates and connects
//! them (API 1.44).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container_inspect::EndpointSettings;
use crate::lenient::null_as_default as nd;

/// One network, as `GET /networks` lists it and `GET /networks/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkResource {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    #[serde(deserialize_with = "nd")]
    pub created: String,
    /// Always `local`.
    #[serde(deserialize_with = "nd")]
    pub scope: String,
    /// `bridge`, `host` or `null`.
    #[serde(deserialize_with = "nd")]
    pub driver: String,
    #[serde(rename = "EnableIPv4", deserialize_with = "nd")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6", deserialize_with = "nd")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM", deserialize_with = "nd")]
    pub ipam: Ipam,
    #[serde(deserialize_with = "nd")]
    pub internal: bool,
    #[serde(deserialize_with = "nd")]
    pub attachable: bool,
    #[serde(deserialize_with = "nd")]
    pub ingress: bool,
    #[serde(deserialize_with = "nd")]
    pub config_from: ConfigReference,
    #[serde(deserialize_with = "nd")]
    pub config_only: bool,
    /// Container id → its endpoint (filled by inspect, empty in lists).
    #[serde(deserialize_with = "nd")]
    pub containers: BTreeMap<String, NetworkContainer>,
    /// Driver options (`-o`), such as `com.docker.network.bridge.name`.
    #[serde(deserialize_with = "nd")]
    pub options: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
}

/// A network's address management: its driver and subnets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    #[serde(deserialize_with = "nd")]
    pub driver: String,
    /// Always serialised, `null` when empty (as docker shows it).
    pub options: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "nd")]
    pub config: Vec<IpamConfig>,
}

impl Default for Ipam {
    fn default() -> Self {
        Ipam {
            driver: "default".into(),
            options: None,
            config: Vec::new(),
        }
    }
}

/// One subnet of a network (`--subnet`, `--gateway`, `--ip-range`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    #[serde(deserialize_with = "nd")]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nd"
    )]
    pub ip_range: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub gateway: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// `ConfigFrom`: the config-only network this one takes its configuration from (never used).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigReference {
    #[serde(deserialize_with = "nd")]
    pub network: String,
}

/// A container's endpoint as a network's inspect shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkContainer {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(rename = "EndpointID", deserialize_with = "nd")]
    pub endpoint_id: String,
    #[serde(deserialize_with = "nd")]
    pub mac_address: String,
    /// With its prefix length: `172.18.0.2/16`.
    #[serde(rename = "IPv4Address", deserialize_with = "nd")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", deserialize_with = "nd")]
    pub ipv6_address: String,
}

/// The body of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    /// `bridge` when empty.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub driver: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub scope: String,
    #[serde(deserialize_with = "nd")]
    pub internal: bool,
    #[serde(deserialize_with = "nd")]
    pub attachable: bool,
    #[serde(deserialize_with = "nd")]
    pub ingress: bool,
    #[serde(rename = "IPAM", skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(
        rename = "EnableIPv6",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nd"
    )]
    pub enable_ipv6: Option<bool>,
    #[serde(deserialize_with = "nd")]
    pub options: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
}

/// The answer to `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateResponse {
    #[serde(deserialize_with = "nd")]
    pub id: String,
    #[serde(deserialize_with = "nd")]
    pub warning: String,
}

/// The body of `POST /networks/{id}/connect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    #[serde(deserialize_with = "nd")]
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointSettings>,
}

/// The body of `POST /networks/{id}/disconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnectRequest {
    #[serde(deserialize_with = "nd")]
    pub container: String,
    #[serde(deserialize_with = "nd")]
    pub force: bool,
}

/// The answer to `POST /networks/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkPruneResponse {
    #[serde(deserialize_with = "nd")]
    pub networks_deleted: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_create_body_reads_and_a_network_writes_as_docker_shows_it() {
        let body = r#"{"Name":"web","CheckDuplicate":true,"Driver":"bridge","Internal":false,
            "IPAM":{"Driver":"default","Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}],
            "Options":null},"EnableIPv6":null,"Options":{"com.docker.network.bridge.name":"brweb"},
            "Labels":null}"#;
        let request: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.name, "web");
        assert_eq!(request.ipam.as_ref().unwrap().config[0].gateway, "10.9.0.1");
        assert_eq!(request.enable_ipv6, None);
        assert_eq!(request.options["com.docker.network.bridge.name"], "brweb");

        let network = NetworkResource {
            name: "web".into(),
            ipam: request.ipam.unwrap(),
            ..NetworkResource::default()
        };
        let written = serde_json::to_value(&network).unwrap();
        assert_eq!(
            written["IPAM"],
            serde_json::json!({"Driver": "default", "Options": null,
                "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]})
        );
        assert_eq!(written["Containers"], serde_json::json!({}));
        assert_eq!(written["ConfigFrom"], serde_json::json!({"Network": ""}));
    }
}

//! Networks as the Engine API shows them, and the checks on what a create request names.

use std::collections::BTreeMap;

use berth_api::networks::{
    ConfigReference, Ipam, IpamConfig, NetworkContainer, NetworkCreateRequest, NetworkResource,
};
use berth_network::ipam::SubnetConfig;

use super::state::EndpointState;
use super::store::NetworkRecord;
use crate::error::{Error, Result};

fn invalid(reason: String) -> Error {
    Error::InvalidParameter {
        what: "network".into(),
        reason,
    }
}

/// A network name: what Docker accepts for container names (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub(super) fn check_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && name.len() <= 128;
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "network name {name:?} is invalid: use letters, digits, '_', '.' and '-', starting with a letter or digit"
        )))
    }
}

/// A bridge device name: at most 15 bytes, no `/`, `:` or spaces.
pub(super) fn check_bridge_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && !name.contains(['/', ':'])
        && !name.contains(char::is_whitespace)
        && name != "."
        && name != "..";
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "bridge name {name:?} is invalid: at most 15 characters, without '/', ':' or spaces"
        )))
    }
}

/// The subnets a create request asks for (`--subnet`, `--gateway`, `--ip-range`).
pub(super) fn subnet_configs(request: &NetworkCreateRequest) -> Result<Vec<SubnetConfig>> {
    let Some(ipam) = &request.ipam else {
        return Ok(Vec::new());
    };
    if !matches!(ipam.driver.as_str(), "" | "default") {
        return Err(invalid(format!(
            "IPAM driver {:?} is not supported: berth has only the default one",
            ipam.driver
        )));
    }
    ipam.config
        .iter()
        .map(|config| {
            let subnet = config
                .subnet
                .parse()
                .map_err(|_| invalid(format!("invalid subnet {:?}", config.subnet)))?;
            let gateway = match config.gateway.as_str() {
                "" => None,
                text => Some(
                    text.parse()
                        .map_err(|_| invalid(format!("invalid gateway {text:?}")))?,
                ),
            };
            let ip_range = match config.ip_range.as_str() {
                "" => None,
                text => Some(
                    text.parse()
                        .map_err(|_| invalid(format!("invalid ip range {text:?}")))?,
                ),
            };
            Ok(SubnetConfig {
                subnet,
                gateway,
                ip_range,
            })
        })
        .collect()
}

/// `record` with its endpoints (container id, container name, endpoint).
pub(super) fn resource(
    record: &NetworkRecord,
    containers: &[(String, String, EndpointState)],
) -> NetworkResource {
    let mut options = record.options.clone();
    if record.driver == super::Driver::Bridge
        && !options.contains_key("com.docker.network.bridge.name")
    {
        options.insert(
            "com.docker.network.bridge.name".into(),
            record.bridge.clone(),
        );
    }
    NetworkResource {
        name: record.name.clone(),
        id: record.id.clone(),
        created: record.created.clone(),
        scope: "local".into(),
        driver: record.driver.as_str().into(),
        enable_ipv4: record.driver == super::Driver::Bridge,
        enable_ipv6: record.ipv6,
        ipam: Ipam {
            config: record
                .subnets
                .iter()
                .map(|s| IpamConfig {
                    subnet: s.subnet.to_string(),
                    gateway: s.gateway.to_string(),
                    ip_range: s.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                    auxiliary_addresses: BTreeMap::new(),
                })
                .collect(),
            ..Ipam::default()
        },
        internal: record.internal,
        attachable: record.attachable,
        ingress: false,
        config_from: ConfigReference::default(),
        config_only: false,
        containers: containers
            .iter()
            .map(|(id, name, endpoint)| {
                (
                    id.clone(),
                    NetworkContainer {
                        name: name.clone(),
                        endpoint_id: endpoint.endpoint_id.clone(),
                        mac_address: endpoint.mac.clone(),
                        ipv4_address: endpoint.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                        ipv6_address: endpoint.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                    },
                )
            })
            .collect(),
        options,
        labels: record.labels.clone(),
    }
}

//! A container's networking seen from the container service: what it asks of the network
//! service (from its record), and what inspect and `ps` show of the result.

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_api::container_inspect::{EndpointIpamConfig, EndpointSettings, NetworkSettings};
use berth_api::containers::{ContainerConfig, HostConfig, Port, PortBinding};
use berth_network::etc::DnsFlags;
use berth_network::ports;

use super::record::ContainerRecord;
use crate::error::{Error, Result};
use crate::networks::sandbox::SandboxSpec;
use crate::networks::{EndpointRequest, NetworkState};

/// The network a container runs on: its `NetworkMode`, `default` meaning `bridge`.
pub(super) fn primary_network(host: &HostConfig) -> &str {
    match host.network_mode.as_str() {
        "" | "default" => "bridge",
        other => other,
    }
}

/// The networks a new container joins, by name, with what it asks of each: those of the
/// request, and its `NetworkMode`'s network (unless that is `host`, `none` or another
/// container's). Connect and disconnect change this list later; the mode stays.
pub(super) fn endpoints_config(
    host: &HostConfig,
    networking: &berth_api::containers::NetworkingConfig,
) -> BTreeMap<String, EndpointSettings> {
    let primary = primary_network(host);
    let mut endpoints: BTreeMap<String, EndpointSettings> = networking
        .endpoints_config
        .iter()
        .map(|(name, settings)| {
            let name = if name == "default" { "bridge" } else { name };
            (name.to_string(), settings.clone())
        })
        .collect();
    if !joins_another(host) && !matches!(primary, "host" | "none") {
        endpoints.entry(primary.to_string()).or_default();
    }
    endpoints
}

/// Whether the container shares another container's network namespace (`container:NAME`).
pub(super) fn joins_another(host: &HostConfig) -> bool {
    host.network_mode.starts_with("container:") || host.network_mode.starts_with("container-pid:")
}

/// What `config`, `host` and the per-network requests ask of the network service.
pub(super) fn sandbox_spec(
    id: &str,
    name: &str,
    config: &ContainerConfig,
    host: &HostConfig,
    endpoints_config: &BTreeMap<String, EndpointSettings>,
) -> Result<SandboxSpec> {
    let mut bindings: ports::PortBindings = host
        .port_bindings
        .iter()
        .map(|(key, list)| {
            let list = list
                .iter()
                .flatten()
                .map(|b| ports::PortBinding {
                    host_ip: b.host_ip.clone(),
                    host_port: b.host_port.clone(),
                })
                .collect();
            (key.clone(), list)
        })
        .collect();
    if host.publish_all_ports {
        let exposed: ports::ExposedPorts = config.exposed_ports.keys().cloned().collect();
        ports::publish_all(&exposed, &mut bindings);
    }
    let mode = primary_network(host).to_string();
    let mut endpoints = BTreeMap::new();
    for (network, settings) in endpoints_config {
        let network = if network == "default" {
            "bridge"
        } else {
            network
        };
        endpoints.insert(network.to_string(), endpoint_request(settings)?);
    }
    Ok(SandboxSpec {
        container_id: id.to_string(),
        name: name.to_string(),
        hostname: config.hostname.clone(),
        domainname: config.domainname.clone(),
        mode,
        endpoints,
        port_bindings: bindings,
        dns: DnsFlags {
            servers: host.dns.clone(),
            search: host.dns_search.clone(),
            options: host.dns_options.clone(),
        },
        extra_hosts: host.extra_hosts.clone(),
    })
}

/// The same for a recorded container.
pub(super) fn record_spec(record: &ContainerRecord) -> Result<SandboxSpec> {
    sandbox_spec(
        &record.id,
        &record.name,
        &record.config,
        &record.host_config,
        &record.endpoints_config,
    )
}

fn endpoint_request(settings: &EndpointSettings) -> Result<EndpointRequest> {
    let parse = |text: &str, what: &str| -> Result<Option<IpAddr>> {
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| Error::InvalidParameter {
            what: what.into(),
            reason: format!("{text:?} is not an IP address"),
        })
    };
    let ipam = settings.ipam_config.clone().unwrap_or_default();
    Ok(EndpointRequest {
        aliases: settings.aliases.clone(),
        ipv4: parse(&ipam.ipv4_address, "ip")?,
        ipv6: parse(&ipam.ipv6_address, "ip6")?,
        mac: (!settings.mac_address.is_empty()).then(|| settings.mac_address.clone()),
    })
}

/// `NetworkSettings` of inspect: the endpoints while the container runs (the networks it
/// asked for, without addresses, while it does not), and its ports.
pub(super) fn network_settings(record: &ContainerRecord, sandbox_key: String) -> NetworkSettings {
    let state = &record.network;
    let mut settings = NetworkSettings {
        sandbox_key,
        ports: ports_map(record, state),
        ..NetworkSettings::default()
    };
    for endpoint in &state.endpoints {
        let view = EndpointSettings {
            ipam_config: record
                .endpoints_config
                .get(&endpoint.network_name)
                .and_then(|e| e.ipam_config.clone())
                .filter(|c| *c != EndpointIpamConfig::default()),
            aliases: endpoint.aliases.clone(),
            mac_address: endpoint.mac.clone(),
            network_id: endpoint.network_id.clone(),
            endpoint_id: endpoint.endpoint_id.clone(),
            gateway: endpoint.gateway.map(|g| g.to_string()).unwrap_or_default(),
            ip_address: endpoint
                .ipv4
                .map(|a| a.addr().to_string())
                .unwrap_or_default(),
            ip_prefix_len: endpoint.ipv4.map_or(0, |a| a.prefix_len().into()),
            ipv6_gateway: endpoint
                .ipv6_gateway
                .map(|g| g.to_string())
                .unwrap_or_default(),
            global_ipv6_address: endpoint
                .ipv6
                .map(|a| a.addr().to_string())
                .unwrap_or_default(),
            global_ipv6_prefix_len: endpoint.ipv6.map_or(0, |a| a.prefix_len().into()),
            dns_names: endpoint.dns_names.clone(),
            ..EndpointSettings::default()
        };
        if endpoint.network_name == "bridge" {
            settings.endpoint_id = view.endpoint_id.clone();
            settings.gateway = view.gateway.clone();
            settings.ip_address = view.ip_address.clone();
            settings.ip_prefix_len = view.ip_prefix_len;
            settings.ipv6_gateway = view.ipv6_gateway.clone();
            settings.global_ipv6_address = view.global_ipv6_address.clone();
            settings.global_ipv6_prefix_len = view.global_ipv6_prefix_len;
            settings.mac_address = view.mac_address.clone();
        }
        settings
            .networks
            .insert(endpoint.network_name.clone(), view);
    }
    if state.endpoints.is_empty() {
        let mode = primary_network(&record.host_config);
        if matches!(mode, "host" | "none") {
            settings
                .networks
                .insert(mode.to_string(), EndpointSettings::default());
        }
        for (name, requested) in &record.endpoints_config {
            settings.networks.insert(name.clone(), requested.clone());
        }
    }
    settings
}

/// `Ports` of inspect: every exposed port, with its host bindings while running.
fn ports_map(
    record: &ContainerRecord,
    state: &NetworkState,
) -> BTreeMap<String, Option<Vec<PortBinding>>> {
    let mut map: BTreeMap<String, Option<Vec<PortBinding>>> = record
        .config
        .exposed_ports
        .keys()
        .map(|k| (k.clone(), None))
        .collect();
    for port in &state.ports {
        map.entry(format!("{}/{}", port.container_port, port.protocol))
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: port.host_ip.to_string(),
                host_port: port.host_port.to_string(),
            });
    }
    map
}

/// `Ports` of `ps`: published ports with their host side, exposed ones without.
pub(super) fn summary_ports(record: &ContainerRecord) -> Vec<Port> {
    let mut out: Vec<Port> = record
        .network
        .ports
        .iter()
        .map(|p| Port {
            ip: p.host_ip.to_string(),
            private_port: p.container_port,
            public_port: p.host_port,
            r#type: p.protocol.clone(),
        })
        .collect();
    for key in record.config.exposed_ports.keys() {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if !out
            .iter()
            .any(|p| p.private_port == port && p.r#type == proto)
        {
            out.push(Port {
                private_port: port,
                r#type: proto.to_string(),
                ..Port::default()
            });
        }
    }
    out
}

impl super::ContainerService {
    /// The network service containers join.
    pub fn networks(&self) -> &crate::networks::NetworkService {
        &self.inner.networks
    }

    /// The endpoints of running containers on `network_id`: (container id, name, endpoint).
    pub fn endpoints_on(
        &self,
        network_id: &str,
    ) -> Vec<(String, String, crate::networks::EndpointState)> {
        let mut out = Vec::new();
        for entry in self.table().all() {
            let record = entry.record();
            for endpoint in &record.network.endpoints {
                if endpoint.network_id == network_id {
                    out.push((record.id.clone(), record.name.clone(), endpoint.clone()));
                }
            }
        }
        out
    }

    /// Whether any container, running or not, is configured to use `network`.
    pub fn references_network(&self, network: &crate::networks::NetworkRecord) -> bool {
        self.table().all().iter().any(|entry| {
            let record = entry.record();
            let mode = record.host_config.network_mode.as_str();
            mode == network.name
                || mode == network.id
                || record.endpoints_config.contains_key(&network.name)
                || record
                    .network
                    .endpoints
                    .iter()
                    .any(|e| e.network_id == network.id)
        })
    }

    /// `POST /networks/{id}/connect`: a running container gets an endpoint at once, a stopped
    /// one at its next start.
    pub async fn connect_network(
        &self,
        network_key: &str,
        container_key: &str,
        settings: Option<EndpointSettings>,
    ) -> Result<()> {
        let network = self.inner.networks.get(network_key)?;
        let entry = self.find(container_key)?;
        let _op = entry.op.lock().await;
        let settings = settings.unwrap_or_default();
        let request = endpoint_request(&settings)?;
        let record = entry.snapshot();
        if joins_another(&record.host_config)
            || matches!(record.host_config.network_mode.as_str(), "host" | "none")
        {
            return Err(Error::InvalidParameter {
                what: "network".into(),
                reason: "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            });
        }
        let networks = self.inner.networks.clone();
        let already = record
            .endpoints_config
            .keys()
            .any(|key| networks.get(key).is_ok_and(|n| n.id == network.id));
        if already {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                record.name, network.name
            )));
        }
        if record.state.status.is_live() {
            let spec = record_spec(&record)?;
            let mut state = record.network.clone();
            self.inner
                .networks
                .connect(&spec, &mut state, &network.id, &request)
                .await?;
            entry.record().network = state;
        }
        {
            let mut record = entry.record();
            record
                .endpoints_config
                .insert(network.name.clone(), settings);
            record.save(&self.data_dir(&entry.id))?;
        }
        self.inner
            .networks
            .publish_membership("connect", &network, &entry.id);
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect_network(
        &self,
        network_key: &str,
        container_key: &str,
        force: bool,
    ) -> Result<()> {
        let network = self.inner.networks.get(network_key)?;
        let entry = match self.find(container_key) {
            Ok(entry) => entry,
            // As dockerd: forcing the disconnect of a container that is gone is not an error.
            Err(_) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        let networks = self.inner.networks.clone();
        let keys: Vec<String> = record
            .endpoints_config
            .keys()
            .filter(|key| networks.get(key).is_ok_and(|n| n.id == network.id))
            .cloned()
            .collect();
        let running_on_it = record
            .network
            .endpoints
            .iter()
            .any(|e| e.network_id == network.id);
        if keys.is_empty() && !running_on_it {
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {}",
                record.id, network.name
            )));
        }
        if record
            .network
            .endpoints
            .iter()
            .any(|e| e.network_id == network.id)
        {
            let mut state = record.network.clone();
            self.inner
                .networks
                .disconnect(&entry.id, &mut state, &network.id)
                .await?;
            entry.record().network = state;
        }
        {
            let mut record = entry.record();
            for key in &keys {
                record.endpoints_config.remove(key);
            }
            record.save(&self.data_dir(&entry.id))?;
        }
        self.inner
            .networks
            .publish_membership("disconnect", &network, &entry.id);
        Ok(())
    }
}

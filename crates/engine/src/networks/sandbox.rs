//! A container's networking while it runs: its namespace file, an endpoint (veth, addresses,
//! routes) on each of its networks, its names in the embedded DNS server, its published ports
//! (reserved and forwarded by the firewall), and the /etc/resolv.conf and /etc/hosts that go
//! with them. [`NetworkService::attach`] builds it before the container starts,
//! [`NetworkService::detach`] takes it down after it stops (and keeps going past failures),
//! [`NetworkService::restore`] takes over those of running containers after a daemon restart.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use berth_network::dns::Serving;
use berth_network::etc::{container_dns, parse_extra_host, DnsFlags, Hosts, ResolvConf};
use berth_network::firewall::PortMapping;
use berth_network::ipam::MacAddr;
use berth_network::link::{host_veth_name, Endpoint, Netlink};
use berth_network::netns::Netns;
use berth_network::ports::{self, PortBindings, Protocol};
use berth_network::reserve::{self, PortReservation};
use ipnet::IpNet;

use super::state::{EndpointRequest, EndpointState, NetworkState, PublishedPort};
use super::store::{Driver, NetworkRecord};
use super::{network_error, NetworkService};
use crate::error::{Error, Result};

/// Where the embedded DNS server listens inside each container.
const EMBEDDED_DNS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), 53);

/// What a container asks of the network when it starts.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    pub container_id: String,
    /// Without the leading `/`.
    pub name: String,
    pub hostname: String,
    pub domainname: String,
    /// `host`, `none`, or the name or id of the network the container runs on (`default`
    /// meaning `bridge`).
    pub mode: String,
    /// Per network name: aliases, addresses, MAC; networks other than `mode` are joined too.
    pub endpoints: BTreeMap<String, EndpointRequest>,
    /// What to publish (with `-P` already expanded).
    pub port_bindings: PortBindings,
    pub dns: DnsFlags,
    pub extra_hosts: Vec<String>,
}

/// A started sandbox: the state to record and the files to bind-mount.
#[derive(Debug, Clone)]
pub struct Attached {
    pub state: NetworkState,
    pub resolv_conf: String,
    pub hosts: String,
}

/// What the daemon holds for a running container: dropping it stops its DNS server and frees
/// its host ports.
pub(super) struct Live {
    dns: Option<Serving>,
    _reservations: Vec<PortReservation>,
    mappings: Vec<PortMapping>,
}

impl NetworkService {
    /// The networks `spec` runs on, `mode` first: `None` for the host's namespace, an empty
    /// list for `none`.
    fn networks_of(&self, spec: &SandboxSpec) -> Result<Option<Vec<NetworkRecord>>> {
        let mode = match spec.mode.as_str() {
            "" | "default" => "bridge",
            other => other,
        };
        let primary = self.get(mode)?;
        match primary.driver {
            Driver::Host => return Ok(None),
            Driver::Null => return Ok(Some(Vec::new())),
            Driver::Bridge => {}
        }
        // The container is on the networks it has endpoints for — its mode's network unless it
        // was disconnected from it — that one first.
        let mut networks: Vec<NetworkRecord> = Vec::new();
        for name in spec.endpoints.keys() {
            let network = self.get(name)?;
            if network.driver != Driver::Bridge {
                return Err(Error::InvalidParameter {
                    what: "network".into(),
                    reason: format!(
                        "container cannot be connected to network {} together with others",
                        network.name
                    ),
                });
            }
            if network.id == primary.id {
                networks.insert(0, network);
            } else if !networks.iter().any(|n| n.id == network.id) {
                networks.push(network);
            }
        }
        Ok(Some(networks))
    }

    /// Checks at create what [`NetworkService::attach`] would refuse at start: the networks
    /// exist, the ports, `--add-host`, `--dns` and static addresses are well-formed.
    pub fn validate(&self, spec: &SandboxSpec) -> Result<()> {
        // Not a 404 at create: the docker CLI takes that for a missing image and pulls.
        self.networks_of(spec).map_err(|e| match e {
            Error::NoSuchNetwork(name) => Error::InvalidParameter {
                what: "network".into(),
                reason: format!("network {name} not found"),
            },
            other => other,
        })?;
        for mapping in ports::mappings(&spec.port_bindings).map_err(network_error)? {
            protocol(mapping.proto)?;
        }
        for entry in &spec.extra_hosts {
            parse_extra_host(entry, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
                .map_err(network_error)?;
        }
        container_dns(&ResolvConf::default(), &spec.dns, false).map_err(network_error)?;
        for (name, request) in &spec.endpoints {
            let network = self.get(name)?;
            for ip in [request.ipv4, request.ipv6].into_iter().flatten() {
                if network.predefined {
                    return Err(Error::InvalidParameter {
                        what: "network".into(),
                        reason:
                            "user specified IP address is supported on user defined networks only"
                                .into(),
                    });
                }
                if !network.subnets.iter().any(|s| s.subnet.contains(&ip)) {
                    return Err(Error::InvalidParameter {
                        what: "network".into(),
                        reason: format!(
                            "no configured subnet or ip-range contain the IP address {ip} of network {}",
                            network.name
                        ),
                    });
                }
            }
            if let Some(mac) = &request.mac {
                mac.parse::<MacAddr>()
                    .map_err(|_| Error::InvalidParameter {
                        what: "mac-address".into(),
                        reason: format!("{mac} is not a valid MAC address"),
                    })?;
            }
        }
        Ok(())
    }

    /// Builds the container's networking before it starts. On failure nothing is left. The
    /// forwarding of its published ports is loaded by [`NetworkService::reload_firewall`],
    /// which the caller runs while it creates the container.
    pub async fn attach(&self, spec: &SandboxSpec) -> Result<Attached> {
        let host_resolv = host_resolv_conf();
        let Some(networks) = self.networks_of(spec)? else {
            return host_mode(spec, &host_resolv);
        };
        let embedded = networks.first().is_some_and(|n| n.has_embedded_dns());
        let dns = container_dns(&host_resolv, &spec.dns, embedded).map_err(network_error)?;
        // Its own `--dns` servers, kept whatever the first network (a user network connected
        // later starts the server); without them, the host's of the moment.
        let dns_upstreams = spec
            .dns
            .servers
            .iter()
            .filter_map(|server| server.parse().ok())
            .collect();
        let mut state = NetworkState {
            netns: Some(self.netns_path(&spec.container_id)),
            dns_upstreams,
            ..NetworkState::default()
        };
        match self.build(spec, &networks, &mut state, &host_resolv).await {
            Ok(live) => {
                self.live().insert(spec.container_id.clone(), live);
                let primary = state.endpoints.first();
                let hosts = hosts_file(spec, primary)?;
                Ok(Attached {
                    state,
                    resolv_conf: dns.resolv_conf.render(),
                    hosts,
                })
            }
            Err(e) => {
                let _ = self.detach(&spec.container_id, &state).await;
                Err(e)
            }
        }
    }

    fn netns_path(&self, container_id: &str) -> PathBuf {
        self.inner.paths.netns.join(container_id)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Live>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the namespace, the endpoints and the ports, recording each step in `state` as
    /// it is done so that a failure can be undone.
    async fn build(
        &self,
        spec: &SandboxSpec,
        networks: &[NetworkRecord],
        state: &mut NetworkState,
        host_resolv: &ResolvConf,
    ) -> Result<Live> {
        let path = self.netns_path(&spec.container_id);
        Netns::remove(&path).map_err(network_error)?;
        let netns = Netns::create(&path).map_err(network_error)?;
        Netlink::connect_in(&netns)
            .map_err(network_error)?
            .set_up("lo")
            .await
            .map_err(network_error)?;
        for network in networks {
            let request = spec
                .endpoints
                .get(&network.name)
                .cloned()
                .unwrap_or_default();
            let endpoint = self.join_in(spec, &netns, network, &request, state).await?;
            state.endpoints.push(endpoint);
        }
        let dns_scope: Vec<String> = networks
            .iter()
            .filter(|n| n.has_embedded_dns())
            .map(|n| n.id.clone())
            .collect();
        let dns = if dns_scope.is_empty() {
            None
        } else {
            let upstreams = dns_upstreams(state, Some(host_resolv))?;
            Some(self.serve_dns(&netns, dns_scope, upstreams)?)
        };
        let primary = state.endpoints.first().cloned();
        let (reservations, mappings) = match (networks.first(), primary) {
            (Some(network), Some(endpoint)) if !network.internal => {
                self.publish_ports(spec, network, &endpoint, state)?
            }
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Live {
            dns,
            _reservations: reservations,
            mappings,
        })
    }

    /// Attaches the container in `netns` to `network`: an address, a veth pair named after
    /// the container and network, and its DNS names. `state` says which interfaces exist.
    async fn join_in(
        &self,
        spec: &SandboxSpec,
        netns: &Netns,
        network: &NetworkRecord,
        request: &EndpointRequest,
        state: &NetworkState,
    ) -> Result<EndpointState> {
        self.inner.plumbing.ensure_bridge(network).await?;
        // A bridge set up for the first time joins the firewall (NAT, isolation).
        self.reload_firewall().await?;
        let requested: Vec<IpAddr> = [request.ipv4, request.ipv6].into_iter().flatten().collect();
        let addresses = self
            .inner
            .ipam
            .allocate(&network.id, &spec.container_id, &requested)
            .map_err(network_error)?;
        let ipv4 = addresses
            .iter()
            .find(|a| matches!(a, IpNet::V4(_)))
            .copied();
        let ipv6 = addresses
            .iter()
            .find(|a| matches!(a, IpNet::V6(_)))
            .copied();
        let mac = match (&request.mac, ipv4) {
            (Some(mac), _) => mac
                .parse::<MacAddr>()
                .map_err(|_| Error::InvalidParameter {
                    what: "mac-address".into(),
                    reason: format!("{mac} is not a valid MAC address"),
                })?,
            (None, Some(IpNet::V4(v4))) => MacAddr::from_ipv4(v4.addr()),
            (None, _) => MacAddr::from_ipv4(Ipv4Addr::new(0, 0, 0, 0)),
        };
        let gateway_of = |v6: bool| {
            network
                .subnets
                .iter()
                .find(|s| s.gateway.is_ipv6() == v6)
                .map(|s| s.gateway)
        };
        let (gateway, ipv6_gateway) = (gateway_of(false), gateway_of(true));
        let interface = (0..)
            .map(|i| format!("eth{i}"))
            .find(|name| !state.endpoints.iter().any(|e| &e.interface == name))
            .expect("a free interface name");
        let host_veth = host_veth_name(&format!("{}{}", spec.container_id, network.id));
        let endpoint = Endpoint {
            host_name: host_veth.clone(),
            bridge: network.bridge.clone(),
            name: interface.clone(),
            mac: Some(mac.0),
            mtu: network.mtu(),
            addresses: addresses.clone(),
            // The default routes go through the first network's gateway only.
            gateways: if network.internal || !state.endpoints.is_empty() {
                Vec::new()
            } else {
                [gateway, ipv6_gateway].into_iter().flatten().collect()
            },
            isolated: false,
        };
        let added = self
            .inner
            .plumbing
            .netlink()
            .add_endpoint(&endpoint, netns)
            .await
            .map_err(network_error);
        if let Err(e) = added {
            let _ = self.inner.ipam.release(&network.id, &spec.container_id);
            return Err(e);
        }
        let mut dns_names = vec![spec.name.clone()];
        dns_names.extend(request.aliases.iter().cloned());
        if !spec.hostname.is_empty() {
            dns_names.push(spec.hostname.clone());
        }
        dns_names.push(spec.container_id[..12].to_string());
        dns_names.dedup();
        let state = EndpointState {
            network_id: network.id.clone(),
            network_name: network.name.clone(),
            endpoint_id: crate::containers::names::new_id(),
            interface,
            host_veth,
            ipv4,
            ipv6,
            gateway,
            ipv6_gateway,
            mac: mac.to_string(),
            aliases: request.aliases.clone(),
            dns_names,
        };
        self.add_records(&state, &spec.container_id);
        Ok(state)
    }

    /// Adds the endpoint's names to the embedded DNS server (only user-defined networks have
    /// one).
    fn add_records(&self, endpoint: &EndpointState, container_id: &str) {
        let network = match self.get(&endpoint.network_id) {
            Ok(network) if network.has_embedded_dns() => network,
            _ => return,
        };
        let v4 = endpoint.ipv4.and_then(|n| match n.addr() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        });
        let v6 = endpoint.ipv6.and_then(|n| match n.addr() {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => None,
        });
        self.inner.records.add(
            &endpoint.network_id,
            &network.name,
            container_id,
            &endpoint.dns_names,
            v4,
            v6,
        );
    }

    /// `network connect` on a running container: a new endpoint in its namespace, its names
    /// in the DNS server. `state` gains the endpoint.
    pub async fn connect(
        &self,
        spec: &SandboxSpec,
        state: &mut NetworkState,
        network_key: &str,
        request: &EndpointRequest,
    ) -> Result<()> {
        let network = self.get(network_key)?;
        let Some(path) = state.netns.clone() else {
            return Err(Error::InvalidParameter {
                what: "network".into(),
                reason: "container sharing the host's or another container's network stack cannot be connected to other networks".into(),
            });
        };
        if network.driver != Driver::Bridge {
            return Err(Error::InvalidParameter {
                what: "network".into(),
                reason: format!("container cannot be connected to network {}", network.name),
            });
        }
        if state.endpoints.iter().any(|e| e.network_id == network.id) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                spec.name, network.name
            )));
        }
        let netns = Netns::open(&path).map_err(network_error)?;
        let endpoint = self.join_in(spec, &netns, &network, request, state).await?;
        state.endpoints.push(endpoint);
        self.refresh_dns(&spec.container_id, state, &netns)
    }

    /// `network disconnect` on a running container: its endpoint on the network goes.
    pub async fn disconnect(
        &self,
        container_id: &str,
        state: &mut NetworkState,
        network_key: &str,
    ) -> Result<()> {
        let network = self.get(network_key)?;
        let Some(at) = state
            .endpoints
            .iter()
            .position(|e| e.network_id == network.id)
        else {
            return Err(Error::Forbidden(format!(
                "container {container_id} is not connected to network {}",
                network.name
            )));
        };
        let endpoint = state.endpoints.remove(at);
        self.inner
            .records
            .remove(&endpoint.network_id, container_id);
        let removed = self
            .inner
            .plumbing
            .netlink()
            .remove_endpoint(&endpoint.host_veth)
            .await
            .map_err(network_error);
        let released = self
            .inner
            .ipam
            .release(&endpoint.network_id, container_id)
            .map(|_| ())
            .map_err(network_error);
        if let Some(path) = &state.netns {
            let netns = Netns::open(path).map_err(network_error)?;
            self.refresh_dns(container_id, state, &netns)?;
        }
        removed.and(released)
    }

    /// Starts the embedded DNS server on 127.0.0.11:53 inside `netns`, answering for the
    /// networks in `scope` and forwarding to `upstreams`.
    fn serve_dns(
        &self,
        netns: &Netns,
        scope: Vec<String>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Serving> {
        let udp = netns.bind_udp(EMBEDDED_DNS).map_err(network_error)?;
        let tcp = netns.bind_tcp(EMBEDDED_DNS).map_err(network_error)?;
        self.inner
            .dns
            .serve(udp, tcp, scope, upstreams)
            .map_err(network_error)
    }

    /// The ids of the networks in `state` whose names the container's DNS server answers.
    fn dns_scope(&self, state: &NetworkState) -> Vec<String> {
        state
            .endpoints
            .iter()
            .filter(|e| self.get(&e.network_id).is_ok_and(|n| n.has_embedded_dns()))
            .map(|e| e.network_id.clone())
            .collect()
    }

    /// Points the container's DNS server at the networks it is now on: starts it when it
    /// joins its first user-defined network, stops it when it leaves its last.
    fn refresh_dns(&self, container_id: &str, state: &NetworkState, netns: &Netns) -> Result<()> {
        let scope = self.dns_scope(state);
        let mut live = self.live();
        let Some(live) = live.get_mut(container_id) else {
            return Ok(());
        };
        match (&live.dns, scope.is_empty()) {
            (Some(_), true) => live.dns = None,
            (Some(serving), false) => serving.set_scope(scope),
            (None, true) => {}
            (None, false) => {
                live.dns = Some(self.serve_dns(netns, scope, dns_upstreams(state, None)?)?);
            }
        }
        Ok(())
    }

    /// Reserves the host ports of `spec` and describes their forwarding to `endpoint`.
    fn publish_ports(
        &self,
        spec: &SandboxSpec,
        network: &NetworkRecord,
        endpoint: &EndpointState,
        state: &mut NetworkState,
    ) -> Result<(Vec<PortReservation>, Vec<PortMapping>)> {
        let mut reservations = Vec::new();
        let mut mappings = Vec::new();
        for mapping in ports::mappings(&spec.port_bindings).map_err(network_error)? {
            let proto = protocol(mapping.proto)?;
            let container_ip = match (mapping.host_ip, endpoint.ipv4, endpoint.ipv6) {
                (Some(IpAddr::V6(_)), _, Some(v6)) => v6.addr(),
                (_, Some(v4), _) => v4.addr(),
                _ => continue,
            };
            let reservation = match mapping.host_ports {
                None => PortReservation::bind(proto, mapping.host_ip, 0),
                Some(range) if range.len() == 1 => {
                    PortReservation::bind(proto, mapping.host_ip, range.start)
                }
                Some(range) => {
                    PortReservation::bind_range(proto, mapping.host_ip, range.start..=range.end)
                }
            }
            .map_err(network_error)?;
            let addr = reservation.addr();
            state.ports.push(PublishedPort {
                container_port: mapping.container_port,
                protocol: proto.to_string(),
                host_ip: addr.ip(),
                host_port: addr.port(),
            });
            mappings.push(PortMapping {
                protocol: proto,
                host_ip: mapping.host_ip,
                host_port: addr.port(),
                container_ip,
                container_port: mapping.container_port,
                bridge: network.bridge.clone(),
            });
            reservations.push(reservation);
        }
        Ok((reservations, mappings))
    }

    /// Loads the firewall for every bridge and every running container's published ports:
    /// after [`NetworkService::attach`] of a container with published ports, before it starts.
    pub async fn reload_firewall(&self) -> Result<()> {
        self.inner
            .plumbing
            .apply(|| {
                let ports: Vec<PortMapping> = self
                    .live()
                    .values()
                    .flat_map(|l| l.mappings.iter().cloned())
                    .collect();
                (self.list(), ports)
            })
            .await
    }

    /// Takes down what `state` records for `container_id`: DNS names, port reservations and
    /// forwarding, veths, addresses, the namespace file. Every step is tried; the first error
    /// is returned. Safe to repeat.
    pub async fn detach(&self, container_id: &str, state: &NetworkState) -> Result<()> {
        let live = self.live().remove(container_id);
        let had_ports = live.as_ref().is_some_and(|l| !l.mappings.is_empty());
        drop(live);
        let mut first_error: Option<Error> = None;
        for endpoint in &state.endpoints {
            self.inner
                .records
                .remove(&endpoint.network_id, container_id);
            if !endpoint.host_veth.is_empty() {
                if let Err(e) = self
                    .inner
                    .plumbing
                    .netlink()
                    .remove_endpoint(&endpoint.host_veth)
                    .await
                {
                    first_error.get_or_insert(network_error(e));
                }
            }
            if let Err(e) = self.inner.ipam.release(&endpoint.network_id, container_id) {
                if !matches!(e, berth_network::ipam::Error::UnknownNetwork(_)) {
                    first_error.get_or_insert(network_error(e));
                }
            }
        }
        if had_ports || !state.ports.is_empty() {
            // The ports are free already (their reservations went with `live`); the rules
            // that forwarded them go in the background, so that `run --rm` need not wait.
            let service = self.clone();
            let container = container_id.to_string();
            tokio::spawn(async move {
                if let Err(e) = service.reload_firewall().await {
                    eprintln!("berthd: container {container}: unpublishing its ports: {e}");
                }
            });
        }
        if let Some(path) = &state.netns {
            if let Err(e) = Netns::remove(path) {
                first_error.get_or_insert(network_error(e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// After a daemon restart: takes over the networking of the containers still running
    /// (addresses, DNS names and server, port reservations, the firewall). Returns the
    /// containers whose networking could not be restored, with why.
    pub async fn restore(&self, running: &[(String, NetworkState)]) -> Vec<(String, Error)> {
        let live: Vec<(String, String, IpAddr)> = running
            .iter()
            .flat_map(|(id, state)| {
                state.endpoints.iter().flat_map(move |e| {
                    [e.ipv4, e.ipv6]
                        .into_iter()
                        .flatten()
                        .map(move |a| (e.network_id.clone(), id.clone(), a.addr()))
                })
            })
            .collect();
        let mut failed = Vec::new();
        if let Err(e) = self.inner.ipam.reconcile(&live) {
            failed.push((String::new(), network_error(e)));
        }
        for network in self.list() {
            if let Err(e) = self.inner.plumbing.ensure_bridge(&network).await {
                failed.push((String::new(), e));
            }
        }
        for (id, state) in running {
            match self.take_over(id, state) {
                Ok(live) => {
                    self.live().insert(id.clone(), live);
                }
                Err(e) => failed.push((id.clone(), e)),
            }
        }
        if let Err(e) = self.reload_firewall().await {
            failed.push((String::new(), e));
        }
        failed
    }

    fn take_over(&self, id: &str, state: &NetworkState) -> Result<Live> {
        for endpoint in &state.endpoints {
            self.add_records(endpoint, id);
        }
        let scope = self.dns_scope(state);
        let dns = match (&state.netns, scope.is_empty()) {
            (Some(path), false) => {
                let netns = Netns::open(path).map_err(network_error)?;
                Some(self.serve_dns(&netns, scope, dns_upstreams(state, None)?)?)
            }
            _ => None,
        };
        let mut reservations = Vec::new();
        let mut mappings = Vec::new();
        let primary = state.endpoints.first();
        for port in &state.ports {
            let proto = match port.protocol.as_str() {
                "udp" => reserve::Protocol::Udp,
                _ => reserve::Protocol::Tcp,
            };
            let host_ip = (!port.host_ip.is_unspecified()).then_some(port.host_ip);
            // A port taken meanwhile stays forwarded; only its reservation is lost.
            match PortReservation::bind(proto, host_ip, port.host_port) {
                Ok(reservation) => reservations.push(reservation),
                Err(e) => eprintln!(
                    "berthd: container {id}: keeping port {}: {e}",
                    port.host_port
                ),
            }
            let Some(endpoint) = primary else { continue };
            let container_ip = match (port.host_ip, endpoint.ipv4, endpoint.ipv6) {
                (IpAddr::V6(_), _, Some(v6)) => v6.addr(),
                (_, Some(v4), _) => v4.addr(),
                _ => continue,
            };
            let bridge = self
                .get(&endpoint.network_id)
                .map(|n| n.bridge)
                .unwrap_or_default();
            mappings.push(PortMapping {
                protocol: proto,
                host_ip,
                host_port: port.host_port,
                container_ip,
                container_port: port.container_port,
                bridge,
            });
        }
        Ok(Live {
            dns,
            _reservations: reservations,
            mappings,
        })
    }

    /// Namespace files under the exec root that belong to no container in `keep`: left by a
    /// daemon that died mid-start. Removed, with whatever veths and addresses they held.
    pub fn remove_stray_namespaces(&self, keep: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.inner.paths.netns) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let _ = Netns::remove(&entry.path());
            }
        }
    }

    /// The namespace file directory (for tests and cleanup).
    pub fn netns_dir(&self) -> &Path {
        &self.inner.paths.netns
    }
}

/// The host's resolv.conf as it is now (empty when it cannot be read).
fn host_resolv_conf() -> ResolvConf {
    ResolvConf::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

/// Where a container's embedded DNS server forwards: its `--dns` servers (in `state`), else
/// the host's resolvers, from `host` when the caller has read them already.
fn dns_upstreams(state: &NetworkState, host: Option<&ResolvConf>) -> Result<Vec<SocketAddr>> {
    let upstreams = if state.dns_upstreams.is_empty() {
        let host = host.cloned().unwrap_or_else(host_resolv_conf);
        container_dns(&host, &Default::default(), true)
            .map_err(network_error)?
            .upstreams
    } else {
        state.dns_upstreams.clone()
    };
    Ok(upstreams
        .into_iter()
        .map(|ip| SocketAddr::new(ip, 53))
        .collect())
}

/// The /etc files of a container that runs in another container's namespace
/// (`--network container:NAME`): loopback names and its hostname, the host's resolvers
/// without loopback ones.
pub fn shared_namespace_files(spec: &SandboxSpec) -> Result<Attached> {
    let host_resolv = host_resolv_conf();
    let dns = container_dns(&host_resolv, &spec.dns, false).map_err(network_error)?;
    Ok(Attached {
        state: NetworkState::default(),
        resolv_conf: dns.resolv_conf.render(),
        hosts: hosts_file(spec, None)?,
    })
}

/// The port protocols berth can forward.
fn protocol(proto: Protocol) -> Result<reserve::Protocol> {
    match proto {
        Protocol::Tcp => Ok(reserve::Protocol::Tcp),
        Protocol::Udp => Ok(reserve::Protocol::Udp),
        other => Err(Error::InvalidParameter {
            what: "port".into(),
            reason: format!("publishing {other} ports is not supported"),
        }),
    }
}

/// `--network host`: the host's namespace, the host's resolv.conf (with `--dns` flags
/// applied) and hosts file plus `--add-host` entries.
fn host_mode(spec: &SandboxSpec, host_resolv: &ResolvConf) -> Result<Attached> {
    let mut resolv = host_resolv.clone();
    if !spec.dns.servers.is_empty() || !spec.dns.search.is_empty() || !spec.dns.options.is_empty() {
        resolv = container_dns(host_resolv, &spec.dns, false)
            .map_err(network_error)?
            .resolv_conf;
    }
    let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !hosts.is_empty() && !hosts.ends_with('\n') {
        hosts.push('\n');
    }
    for entry in &spec.extra_hosts {
        let (name, ip) = parse_extra_host(entry, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            .map_err(network_error)?;
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    Ok(Attached {
        state: NetworkState::default(),
        resolv_conf: resolv.render(),
        hosts,
    })
}

/// The container's /etc/hosts: its addresses on its first network under its hostname, and
/// `--add-host` entries (`host-gateway` is that network's gateway).
fn hosts_file(spec: &SandboxSpec, primary: Option<&EndpointState>) -> Result<String> {
    let gateway = primary.and_then(|e| e.gateway);
    let extra = spec
        .extra_hosts
        .iter()
        .map(|entry| parse_extra_host(entry, gateway).map_err(network_error))
        .collect::<Result<Vec<_>>>()?;
    let addresses: Vec<IpAddr> = primary
        .map(|e| {
            [e.ipv4, e.ipv6]
                .into_iter()
                .flatten()
                .map(|a| a.addr())
                .collect()
        })
        .unwrap_or_default();
    Ok(Hosts {
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        ipv6: addresses.iter().any(|a| a.is_ipv6()) || primary.is_none(),
        addresses,
        extra,
    }
    .render())
}

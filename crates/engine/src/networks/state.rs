//! What a container's record keeps of its networking while it runs — its namespace file, its
//! endpoints and its published ports — so that inspect can show it, a restarted daemon can
//! take it over, and teardown can find everything after a crash.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A container's networking while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkState {
    /// The network namespace file the container runs in; `None` when it shares the host's or
    /// another container's namespace.
    pub netns: Option<PathBuf>,
    pub endpoints: Vec<EndpointState>,
    pub ports: Vec<PublishedPort>,
    /// Its `--dns` servers, where its embedded DNS server forwards the names it does not know;
    /// empty: the host's resolvers, read when the server starts.
    pub dns_upstreams: Vec<IpAddr>,
}

/// A container's attachment to one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointState {
    pub network_id: String,
    pub network_name: String,
    pub endpoint_id: String,
    /// The interface inside the container (`eth0`, …); empty on `host` and `none`.
    pub interface: String,
    /// The host end of its veth pair; empty on `host` and `none`.
    pub host_veth: String,
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub ipv6_gateway: Option<IpAddr>,
    pub mac: String,
    pub aliases: Vec<String>,
    /// The names the embedded DNS server answers for it on this network.
    pub dns_names: Vec<String>,
}

/// A published port as it was bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// What a container asks of one network (`--network-alias`, `--ip`, `--ip6`, `--mac-address`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    pub mac: Option<String>,
}

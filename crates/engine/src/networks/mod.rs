//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge networks, and the
//! attachment of containers to them ([`sandbox`]). Built on berth-network: IPAM, bridges and
//! veths over netlink, the nftables table, port reservations and the embedded DNS server.
//!
//! Networks are kept in `<data-root>/networks/networks.json` and their address pools in
//! `<data-root>/networks/ipam.json`; a container's namespace is the file
//! `<exec-root>/netns/<id>`, which the runtime is given as the container's network namespace.

mod plumbing;
pub mod sandbox;
pub mod state;
mod store;
mod views;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_api::networks::{NetworkCreateRequest, NetworkResource};
use berth_network::dns::{DnsServer, Records};
use berth_network::ipam::{Ipam, SubnetConfig};
use ipnet::IpNet;

use crate::error::{Error, Result};
use crate::events::{Event, Events};
pub use state::{EndpointRequest, EndpointState, NetworkState, PublishedPort};
use store::NetworkStore;
pub use store::{Driver, NetworkRecord};

/// The default bridge's device, unless the daemon is told otherwise.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// The option naming a bridge network's device.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// Where a daemon keeps its networks, and the default bridge's device name.
#[derive(Debug, Clone)]
pub struct NetworkPaths {
    /// `<data-root>/networks`.
    pub data: PathBuf,
    /// `<exec-root>/netns`: the containers' namespace files.
    pub netns: PathBuf,
    /// The default bridge's device (`berth0`).
    pub default_bridge: String,
}

impl NetworkPaths {
    /// The paths under a daemon's roots.
    pub fn new(data_root: &Path, exec_root: &Path) -> NetworkPaths {
        NetworkPaths {
            data: data_root.join("networks"),
            netns: exec_root.join("netns"),
            default_bridge: DEFAULT_BRIDGE.to_string(),
        }
    }
}

/// The networks of one daemon; cheap to clone.
#[derive(Clone)]
pub struct NetworkService {
    inner: Arc<Inner>,
}

struct Inner {
    paths: NetworkPaths,
    store: NetworkStore,
    networks: Mutex<Vec<NetworkRecord>>,
    ipam: Ipam,
    records: Arc<Records>,
    dns: DnsServer,
    plumbing: plumbing::Plumbing,
    /// Per running container: its DNS server and port reservations.
    live: Mutex<HashMap<String, sandbox::Live>>,
    events: Events,
}

impl NetworkService {
    /// Loads the networks of a data root, creating the predefined ones the first time.
    pub async fn open(paths: NetworkPaths, events: Events) -> Result<NetworkService> {
        for dir in [&paths.data, &paths.netns] {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                context: format!("create {}", dir.display()),
                source: e,
            })?;
        }
        let store = NetworkStore::open(&paths.data)?;
        let ipam = Ipam::open(paths.data.join("ipam.json")).map_err(network_error)?;
        let networks = store.load()?;
        let records = Arc::new(Records::new());
        let service = NetworkService {
            inner: Arc::new(Inner {
                dns: DnsServer::new(records.clone()),
                plumbing: plumbing::Plumbing::connect()?,
                paths,
                store,
                networks: Mutex::new(networks),
                ipam,
                records,
                live: Mutex::new(HashMap::new()),
                events,
            }),
        };
        service.ensure_predefined()?;
        Ok(service)
    }

    fn networks(&self) -> std::sync::MutexGuard<'_, Vec<NetworkRecord>> {
        self.inner
            .networks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Creates `bridge`, `host` and `none` if the data root does not have them yet.
    fn ensure_predefined(&self) -> Result<()> {
        let mut networks = self.networks();
        let mut changed = false;
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            if networks.iter().any(|n| n.name == name) {
                continue;
            }
            let id = crate::containers::names::new_id();
            let (bridge, subnets) = if driver == Driver::Bridge {
                let subnet = self
                    .inner
                    .ipam
                    .default_subnet(&plumbing::host_routes())
                    .map_err(network_error)?;
                let subnets = self
                    .inner
                    .ipam
                    .add_network(
                        &id,
                        &[SubnetConfig {
                            subnet,
                            gateway: None,
                            ip_range: None,
                        }],
                    )
                    .map_err(network_error)?;
                (self.inner.paths.default_bridge.clone(), subnets)
            } else {
                (String::new(), Vec::new())
            };
            networks.push(NetworkRecord {
                id,
                name: name.to_string(),
                driver,
                created: berth_runtime::time::format(std::time::SystemTime::now()),
                bridge,
                subnets,
                internal: false,
                ipv6: false,
                attachable: false,
                options: BTreeMap::new(),
                labels: BTreeMap::new(),
                predefined: true,
            });
            changed = true;
        }
        if changed {
            self.inner.store.save(&networks)?;
        }
        Ok(())
    }

    /// The network called `key`, or with that id or unique id prefix.
    pub fn get(&self, key: &str) -> Result<NetworkRecord> {
        let networks = self.networks();
        find(&networks, key).cloned()
    }

    /// `POST /networks/create`.
    pub async fn create(&self, request: NetworkCreateRequest) -> Result<String> {
        let name = request.name.trim().to_string();
        views::check_name(&name)?;
        let driver = match request.driver.as_str() {
            "" | "bridge" => Driver::Bridge,
            other => {
                return Err(Error::InvalidParameter {
                    what: "network driver".into(),
                    reason: format!(
                        "plugin \"{other}\" not found: berth has only the bridge driver"
                    ),
                })
            }
        };
        if self.networks().iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let ipv6 = request.enable_ipv6.unwrap_or(false);
        let mut configs = views::subnet_configs(&request)?;
        if !configs.iter().any(|c| matches!(c.subnet, IpNet::V4(_))) {
            let in_use = plumbing::host_routes();
            let subnet = self
                .inner
                .ipam
                .default_subnet(&in_use)
                .map_err(network_error)?;
            configs.insert(
                0,
                SubnetConfig {
                    subnet,
                    gateway: None,
                    ip_range: None,
                },
            );
        }
        if ipv6 && !configs.iter().any(|c| matches!(c.subnet, IpNet::V6(_))) {
            return Err(Error::InvalidParameter {
                what: "network".into(),
                reason: "--ipv6 needs an IPv6 --subnet (e.g. fd00:1::/64)".into(),
            });
        }
        let id = crate::containers::names::new_id();
        let bridge = request
            .options
            .get(BRIDGE_NAME_OPTION)
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        views::check_bridge_name(&bridge)?;
        if self.networks().iter().any(|n| n.bridge == bridge) {
            return Err(Error::Conflict(format!(
                "bridge {bridge} is already used by another network"
            )));
        }
        let subnets = self
            .inner
            .ipam
            .add_network(&id, &configs)
            .map_err(network_error)?;
        let record = NetworkRecord {
            id: id.clone(),
            name,
            driver,
            created: berth_runtime::time::format(std::time::SystemTime::now()),
            bridge,
            subnets,
            internal: request.internal,
            ipv6,
            attachable: request.attachable,
            options: request.options,
            labels: request.labels,
            predefined: false,
        };
        let saved = {
            let mut networks = self.networks();
            networks.push(record.clone());
            let saved = self.inner.store.save(&networks);
            if saved.is_err() {
                networks.pop();
            }
            saved
        };
        if let Err(e) = saved {
            let _ = self.inner.ipam.remove_network(&id);
            return Err(e);
        }
        let plumbed = match self.inner.plumbing.ensure_bridge(&record).await {
            Ok(()) => self.reload_firewall().await,
            Err(e) => Err(e),
        };
        if let Err(e) = plumbed {
            let _ = self.remove_record(&record).await;
            return Err(e);
        }
        self.publish("create", &record, None);
        Ok(id)
    }

    /// `DELETE /networks/{id}`: refused for the predefined networks and while containers use it.
    pub async fn remove(&self, key: &str, in_use: &[String]) -> Result<()> {
        let record = self.get(key)?;
        if record.predefined {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                record.name
            )));
        }
        if !in_use.is_empty() {
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                record.name, record.id
            )));
        }
        self.remove_record(&record).await?;
        self.publish("destroy", &record, None);
        Ok(())
    }

    async fn remove_record(&self, record: &NetworkRecord) -> Result<()> {
        {
            let mut networks = self.networks();
            let kept: Vec<NetworkRecord> = networks
                .iter()
                .filter(|n| n.id != record.id)
                .cloned()
                .collect();
            self.inner.store.save(&kept)?;
            *networks = kept;
        }
        self.inner.records.remove_network(&record.id);
        let mut first_error = self
            .inner
            .ipam
            .remove_network(&record.id)
            .err()
            .map(network_error);
        if let Err(e) = self.inner.plumbing.remove_bridge(record).await {
            first_error.get_or_insert(e);
        }
        if let Err(e) = self.reload_firewall().await {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// `POST /networks/prune`: removes the user-defined networks no container uses; returns
    /// their names.
    pub async fn prune(&self, in_use: &(dyn Fn(&str) -> bool + Sync)) -> Result<Vec<String>> {
        // `in_use` may look networks up itself: ask it only once the lock is released.
        let candidates: Vec<NetworkRecord> = self
            .list()
            .into_iter()
            .filter(|n| !n.predefined && !in_use(&n.id))
            .collect();
        let mut removed = Vec::new();
        for record in candidates {
            self.remove_record(&record).await?;
            self.publish("destroy", &record, None);
            removed.push(record.name);
        }
        Ok(removed)
    }

    /// Every network, for `GET /networks`.
    pub fn list(&self) -> Vec<NetworkRecord> {
        self.networks().clone()
    }

    /// A network as the API shows it; `containers` are its endpoints (container id → name
    /// and endpoint).
    pub fn view(
        &self,
        record: &NetworkRecord,
        containers: &[(String, String, EndpointState)],
    ) -> NetworkResource {
        views::resource(record, containers)
    }

    /// Publishes a container's `connect` or `disconnect` event for `network`.
    pub fn publish_membership(&self, action: &str, network: &NetworkRecord, container: &str) {
        self.publish(action, network, Some(container));
    }

    fn publish(&self, action: &str, record: &NetworkRecord, container: Option<&str>) {
        let mut event = Event::now("network", action, record.id.clone())
            .with("name", record.name.clone())
            .with("type", record.driver.as_str());
        if let Some(container) = container {
            event = event.with("container", container);
        }
        self.inner.events.publish(event);
    }
}

/// The network called `key`, or with that id or unique id prefix, in `networks`.
fn find<'a>(networks: &'a [NetworkRecord], key: &str) -> Result<&'a NetworkRecord> {
    if let Some(n) = networks.iter().find(|n| n.name == key || n.id == key) {
        return Ok(n);
    }
    let mut prefixed = networks
        .iter()
        .filter(|n| !key.is_empty() && n.id.starts_with(key));
    match (prefixed.next(), prefixed.next()) {
        (Some(n), None) => Ok(n),
        (Some(_), Some(_)) => Err(Error::InvalidParameter {
            what: "network".into(),
            reason: format!("network {key} is ambiguous"),
        }),
        _ => Err(Error::NoSuchNetwork(key.to_string())),
    }
}

/// A berth-network failure as an engine error: bad input is a bad parameter, a taken address
/// or port a conflict, the rest a failure of the daemon.
pub(crate) fn network_error(e: impl Into<NetworkFailure>) -> Error {
    match e.into() {
        NetworkFailure::Invalid(reason) => Error::InvalidParameter {
            what: "network".into(),
            reason,
        },
        NetworkFailure::Conflict(message) => Error::Conflict(message),
        NetworkFailure::System(message) => Error::Network(message),
    }
}

/// How a berth-network error is classified.
pub(crate) enum NetworkFailure {
    Invalid(String),
    Conflict(String),
    System(String),
}

impl From<berth_network::ipam::Error> for NetworkFailure {
    fn from(e: berth_network::ipam::Error) -> Self {
        use berth_network::ipam::Error as E;
        let text = error_chain(&e);
        match e {
            E::Io { .. } | E::Corrupt { .. } => NetworkFailure::System(text),
            E::InUse { .. } | E::NetworkExists(_) => NetworkFailure::Conflict(text),
            _ => NetworkFailure::Invalid(text),
        }
    }
}

impl From<berth_network::ports::Error> for NetworkFailure {
    fn from(e: berth_network::ports::Error) -> Self {
        NetworkFailure::Invalid(e.to_string())
    }
}

impl From<berth_network::etc::Error> for NetworkFailure {
    fn from(e: berth_network::etc::Error) -> Self {
        NetworkFailure::Invalid(e.to_string())
    }
}

impl From<berth_network::reserve::ReserveError> for NetworkFailure {
    fn from(e: berth_network::reserve::ReserveError) -> Self {
        NetworkFailure::Conflict(error_chain(&e))
    }
}

impl From<berth_network::link::LinkError> for NetworkFailure {
    fn from(e: berth_network::link::LinkError) -> Self {
        NetworkFailure::System(error_chain(&e))
    }
}

impl From<berth_network::netns::NetnsError> for NetworkFailure {
    fn from(e: berth_network::netns::NetnsError) -> Self {
        NetworkFailure::System(error_chain(&e))
    }
}

impl From<berth_network::firewall::FirewallError> for NetworkFailure {
    fn from(e: berth_network::firewall::FirewallError) -> Self {
        NetworkFailure::System(error_chain(&e))
    }
}

impl From<berth_network::sysctl::SysctlError> for NetworkFailure {
    fn from(e: berth_network::sysctl::SysctlError) -> Self {
        NetworkFailure::System(error_chain(&e))
    }
}

impl From<berth_network::dns::Error> for NetworkFailure {
    fn from(e: berth_network::dns::Error) -> Self {
        NetworkFailure::System(error_chain(&e))
    }
}

/// An error with its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let words = cause.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        source = cause.source();
    }
    text
}

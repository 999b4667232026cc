//! The daemon's side of the kernel: its netlink connection, the bridges it has set up, and the
//! nftables table, re-applied whole whenever the networks or published ports change.

use std::collections::HashSet;
use std::sync::Mutex;

use berth_network::firewall::{Firewall, NetworkRules, PortMapping, Ruleset};
use berth_network::link::{Bridge, Netlink};
use berth_network::sysctl;
use ipnet::IpNet;

use super::network_error;
use super::store::{Driver, NetworkRecord};
use crate::error::Result;

/// The host-side kernel state berthd manages.
pub(super) struct Plumbing {
    netlink: Netlink,
    firewall: Firewall,
    /// Bridges set up since the daemon started (set up again after a restart, idempotently).
    bridges: Mutex<HashSet<String>>,
    /// The ruleset last loaded, to skip loading an identical one; behind a tokio mutex so
    /// that loads happen one at a time, each of the state when it got the lock.
    applied: tokio::sync::Mutex<Option<Ruleset>>,
}

impl Plumbing {
    /// Connects to netlink in the daemon's namespace.
    pub fn connect() -> Result<Plumbing> {
        Ok(Plumbing {
            netlink: Netlink::connect().map_err(network_error)?,
            firewall: Firewall::default(),
            bridges: Mutex::new(HashSet::new()),
            applied: tokio::sync::Mutex::new(None),
        })
    }

    /// The daemon's netlink connection.
    pub fn netlink(&self) -> &Netlink {
        &self.netlink
    }

    /// Creates `network`'s bridge with its gateway addresses, up, with forwarding on (once per
    /// daemon run per bridge).
    pub async fn ensure_bridge(&self, network: &NetworkRecord) -> Result<()> {
        if network.driver != Driver::Bridge {
            return Ok(());
        }
        if self
            .bridges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&network.bridge)
        {
            return Ok(());
        }
        let addresses: Vec<IpNet> = network
            .subnets
            .iter()
            .map(|s| IpNet::new(s.gateway, s.subnet.prefix_len()).expect("gateway prefix"))
            .collect();
        if network.ipv6 {
            // A new bridge may start with IPv6 off; it must be on before addresses are added,
            // but the device must exist first: create it without them, then add.
            self.netlink
                .ensure_bridge(&Bridge {
                    name: network.bridge.clone(),
                    mtu: network.mtu(),
                    addresses: Vec::new(),
                })
                .await
                .map_err(network_error)?;
            sysctl::enable_ipv6(&network.bridge).map_err(network_error)?;
            sysctl::enable_ipv6_forwarding().map_err(network_error)?;
        }
        self.netlink
            .ensure_bridge(&Bridge {
                name: network.bridge.clone(),
                mtu: network.mtu(),
                addresses,
            })
            .await
            .map_err(network_error)?;
        sysctl::enable_ipv4_forwarding().map_err(network_error)?;
        sysctl::enable_route_localnet(&network.bridge).map_err(network_error)?;
        self.bridges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(network.bridge.clone());
        Ok(())
    }

    /// Deletes `network`'s bridge (the caller then reloads the firewall without it).
    pub async fn remove_bridge(&self, network: &NetworkRecord) -> Result<()> {
        self.bridges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&network.bridge);
        self.netlink
            .delete(&network.bridge)
            .await
            .map_err(network_error)
    }

    /// Loads the table for the bridges that are set up among the networks `current` returns
    /// and the ports it returns, unless it is what is loaded already. `current` is asked with
    /// the loading lock held, so that loads happen in the order of the states they load (a
    /// slower, older reload can never overwrite a newer one).
    pub async fn apply(
        &self,
        current: impl FnOnce() -> (Vec<NetworkRecord>, Vec<PortMapping>),
    ) -> Result<()> {
        let mut applied = self.applied.lock().await;
        let (networks, ports) = current();
        let up: HashSet<String> = self
            .bridges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let ruleset = Ruleset {
            networks: networks
                .iter()
                .filter(|n| n.driver == Driver::Bridge && up.contains(&n.bridge))
                .map(|n| NetworkRules {
                    bridge: n.bridge.clone(),
                    subnets: n.subnets.iter().map(|s| s.subnet).collect(),
                    internal: n.internal,
                    masquerade: n.masquerade(),
                })
                .collect(),
            ports,
        };
        if applied.as_ref() == Some(&ruleset) {
            return Ok(());
        }
        let firewall = self.firewall.clone();
        let loading = ruleset.clone();
        crate::task::blocking("load the firewall", move || firewall.apply(&loading))
            .await?
            .map_err(network_error)?;
        *applied = Some(ruleset);
        Ok(())
    }
}

/// The IPv4 destinations the host routes (its own subnets, docker0's, a VPN's…), which a new
/// default subnet must not overlap. Read from /proc/net/route, which prints each address as
/// the hex of its network-order bytes read as a native integer.
pub(super) fn host_routes() -> Vec<IpNet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            if mask == 0 {
                return None; // the default route overlaps everything by definition
            }
            let address = std::net::Ipv4Addr::from(destination.to_ne_bytes());
            let prefix = mask.count_ones() as u8;
            IpNet::new(address.into(), prefix).ok()
        })
        .collect()
}

//! Address management: the subnets of berth's networks and the addresses handed out in them,
//! kept in one JSON file rewritten atomically (temp file, rename) after every change.
//!
//! The file is not fsynced: after a crash the engine calls [`Ipam::reconcile`] with the
//! addresses its container records hold, which is the truth the file only caches.
//!
//! [`Ipam`] is shared by reference: its state sits behind a mutex, and every method takes
//! `&self`. A change that cannot be saved is not applied.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

mod error;
mod mac;
pub use error::{Error, Result};
pub use mac::MacAddr;

/// One subnet a network is created with (`--subnet`, `--gateway`, `--ip-range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetConfig {
    /// The subnet, host bits clear.
    pub subnet: IpNet,
    /// The gateway; the first host address when `None`.
    pub gateway: Option<IpAddr>,
    /// Where container addresses come from; the whole subnet when `None`.
    pub ip_range: Option<IpNet>,
}

/// A subnet as stored, with its gateway settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The subnet.
    pub subnet: IpNet,
    /// The gateway (the bridge's address).
    pub gateway: IpAddr,
    /// Where container addresses come from, if narrower than the subnet.
    pub ip_range: Option<IpNet>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pool {
    subnet: Subnet,
    /// Address → owner (an endpoint or container id).
    allocated: BTreeMap<IpAddr, String>,
    /// The last address handed out: the next search starts after it (Docker's order).
    last: Option<IpAddr>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    networks: BTreeMap<String, Vec<Pool>>,
}

/// Address pools per network, persisted in one file. See the module doc.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    state: Mutex<State>,
}

/// An address as a number, so IPv4 and IPv6 share the arithmetic.
fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn addr(like: IpNet, n: u128) -> IpAddr {
    match like {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// First and last address of a net as numbers.
fn bounds(net: IpNet) -> (u128, u128) {
    (num(net.network()), num(net.broadcast()))
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Docker's default address pools: 172.17–31.0.0/16, then the /20s of 192.168.0.0/16.
fn default_pools() -> impl Iterator<Item = IpNet> {
    let wide = (17..=31u8).map(|b| IpNet::new(Ipv4Addr::new(172, b, 0, 0).into(), 16));
    let narrow = (0..16u8).map(|i| IpNet::new(Ipv4Addr::new(192, 168, i * 16, 0).into(), 20));
    wide.chain(narrow).map(|n| n.expect("valid prefix"))
}

impl Pool {
    /// Whether `n` may never be handed out: the subnet's network address, its IPv4 broadcast
    /// address and the gateway.
    fn reserved(&self, n: u128) -> bool {
        let (first, last) = bounds(self.subnet.subnet);
        n == first
            || (n == last && matches!(self.subnet.subnet, IpNet::V4(_)))
            || n == num(self.subnet.gateway)
    }

    /// The next free address after the last one handed out, wrapping around the range.
    fn next_free(&self) -> Option<IpAddr> {
        let net = self.subnet.subnet;
        let (lo, hi) = bounds(self.subnet.ip_range.unwrap_or(net));
        // `None` for the whole IPv6 space (::/0), whose size does not fit in a u128.
        let size = (hi - lo).checked_add(1);
        let start = match self.last.map(num) {
            Some(n) if n >= lo && n < hi => n + 1,
            _ => lo,
        };
        // Only reserved or allocated addresses are skipped, so a free one turns up within
        // that many steps if there is one at all.
        let steps = self.allocated.len() as u128 + 4;
        let tries = size.map_or(steps, |size| size.min(steps));
        (0..tries)
            .map(|i| {
                let offset = (start - lo).wrapping_add(i);
                lo.wrapping_add(size.map_or(offset, |size| offset % size))
            })
            .find(|&n| !self.reserved(n) && !self.allocated.contains_key(&addr(net, n)))
            .map(|n| addr(net, n))
    }
}

impl Ipam {
    /// Opens the state in `path`, empty if the file does not exist yet.
    pub fn open(path: impl Into<PathBuf>) -> Result<Ipam> {
        let path = path.into();
        let state = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Corrupt {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(source) => {
                return Err(Error::Io {
                    op: "reading",
                    path,
                    source,
                })
            }
        };
        Ok(Ipam {
            path,
            state: Mutex::new(state),
        })
    }

    /// Runs `change` on a copy of the state, saves it, and keeps it only if saving worked.
    fn update<T>(&self, change: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = state.clone();
        let out = change(&mut next)?;
        save(&self.path, &next)?;
        *state = next;
        Ok(out)
    }

    /// The subnets of `network`, gateways settled; `None` if it has no pools here.
    pub fn network(&self, network: &str) -> Option<Vec<Subnet>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let pools = state.networks.get(network)?;
        Some(pools.iter().map(|p| p.subnet).collect())
    }

    /// The first of Docker's default pools that overlaps neither a berth network nor
    /// anything in `in_use` (the host's addresses and routes, e.g. docker0's 172.17.0.0/16).
    pub fn default_subnet(&self, in_use: &[IpNet]) -> Result<IpNet> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ours: Vec<IpNet> = state
            .networks
            .values()
            .flatten()
            .map(|p| p.subnet.subnet)
            .collect();
        default_pools()
            .find(|pool| !ours.iter().chain(in_use).any(|u| overlaps(*pool, *u)))
            .ok_or(Error::PoolsExhausted)
    }

    /// Creates the pools of `network` after checking each subnet: host bits clear, gateway
    /// and ip range inside it, and no overlap with each other or any other network's subnets.
    /// Returns the subnets with their gateways settled.
    pub fn add_network(&self, network: &str, subnets: &[SubnetConfig]) -> Result<Vec<Subnet>> {
        self.update(|state| {
            if state.networks.contains_key(network) {
                return Err(Error::NetworkExists(network.to_string()));
            }
            let mut pools: Vec<Pool> = Vec::new();
            for config in subnets {
                let subnet = validate(config)?;
                let taken = state
                    .networks
                    .iter()
                    .flat_map(|(id, pools)| pools.iter().map(move |p| (id.as_str(), p)))
                    .chain(pools.iter().map(|p| (network, p)));
                for (id, pool) in taken {
                    if overlaps(subnet.subnet, pool.subnet.subnet) {
                        return Err(Error::Overlap {
                            subnet: subnet.subnet,
                            other: pool.subnet.subnet,
                            network: id.to_string(),
                        });
                    }
                }
                pools.push(Pool {
                    subnet,
                    allocated: BTreeMap::new(),
                    last: None,
                });
            }
            let out = pools.iter().map(|p| p.subnet).collect();
            state.networks.insert(network.to_string(), pools);
            Ok(out)
        })
    }

    /// Forgets `network`'s pools. Refused while any address is allocated: the engine
    /// disconnects every container first, and a refusal here points at a leak.
    pub fn remove_network(&self, network: &str) -> Result<()> {
        self.update(|state| {
            let pools = state
                .networks
                .get(network)
                .ok_or_else(|| Error::UnknownNetwork(network.to_string()))?;
            let count: usize = pools.iter().map(|p| p.allocated.len()).sum();
            if count > 0 {
                return Err(Error::NetworkInUse {
                    network: network.to_string(),
                    count,
                });
            }
            state.networks.remove(network);
            Ok(())
        })
    }

    /// Hands `owner` one address of each family the network has, from the first subnet of
    /// that family, in sequence with wrap-around like Docker. A `requested` address (`--ip`,
    /// `--ip6`) is used for its family instead, if it is in one of the network's subnets and
    /// free. Returned with their subnet's prefix length.
    pub fn allocate(&self, network: &str, owner: &str, requested: &[IpAddr]) -> Result<Vec<IpNet>> {
        self.update(|state| {
            let pools = state
                .networks
                .get_mut(network)
                .ok_or_else(|| Error::UnknownNetwork(network.to_string()))?;
            let mut out = Vec::new();
            for &want in requested {
                let pool = pools
                    .iter_mut()
                    .find(|p| p.subnet.subnet.contains(&want))
                    .ok_or_else(|| Error::NotInSubnet {
                        address: want,
                        network: network.to_string(),
                    })?;
                if pool.reserved(num(want)) || pool.allocated.contains_key(&want) {
                    return Err(Error::InUse {
                        address: want,
                        network: network.to_string(),
                    });
                }
                pool.allocated.insert(want, owner.to_string());
                out.push(IpNet::new(want, pool.subnet.subnet.prefix_len()).expect("prefix"));
            }
            for v6 in [false, true] {
                if out.iter().any(|n| matches!(n, IpNet::V6(_)) == v6) {
                    continue;
                }
                let Some(pool) = pools
                    .iter_mut()
                    .find(|p| matches!(p.subnet.subnet, IpNet::V6(_)) == v6)
                else {
                    continue;
                };
                let free = pool.next_free().ok_or_else(|| Error::Exhausted {
                    kind: match pool.subnet.ip_range {
                        Some(_) => "ip range",
                        None => "subnet",
                    },
                    pool: pool.subnet.ip_range.unwrap_or(pool.subnet.subnet),
                    network: network.to_string(),
                })?;
                pool.allocated.insert(free, owner.to_string());
                pool.last = Some(free);
                out.push(IpNet::new(free, pool.subnet.subnet.prefix_len()).expect("prefix"));
            }
            Ok(out)
        })
    }

    /// Frees every address `owner` holds in `network`, returning them (none is not an error:
    /// release is part of teardown, which must be repeatable).
    pub fn release(&self, network: &str, owner: &str) -> Result<Vec<IpAddr>> {
        self.update(|state| {
            let pools = state
                .networks
                .get_mut(network)
                .ok_or_else(|| Error::UnknownNetwork(network.to_string()))?;
            let mut freed = Vec::new();
            for pool in pools {
                pool.allocated.retain(|ip, o| {
                    let mine = o == owner;
                    if mine {
                        freed.push(*ip);
                    }
                    !mine
                });
            }
            Ok(freed)
        })
    }

    /// Makes the allocations exactly `live` — `(network, owner, address)` from the engine's
    /// container records — after a crash or restart. Entries for unknown networks or outside
    /// their subnets are skipped and returned, for the caller to log.
    pub fn reconcile(
        &self,
        live: &[(String, String, IpAddr)],
    ) -> Result<Vec<(String, String, IpAddr)>> {
        self.update(|state| {
            for pools in state.networks.values_mut() {
                for pool in pools {
                    pool.allocated.clear();
                }
            }
            let mut skipped = Vec::new();
            for (network, owner, ip) in live {
                let pool = state
                    .networks
                    .get_mut(network)
                    .and_then(|pools| pools.iter_mut().find(|p| p.subnet.subnet.contains(ip)));
                match pool {
                    Some(pool) => {
                        pool.allocated.insert(*ip, owner.clone());
                    }
                    None => skipped.push((network.clone(), owner.clone(), *ip)),
                }
            }
            Ok(skipped)
        })
    }
}

/// Checks one subnet config and settles its gateway.
fn validate(config: &SubnetConfig) -> Result<Subnet> {
    let net = config.subnet;
    if net.trunc() != net {
        return Err(Error::HostBitsSet {
            subnet: net,
            expected: net.trunc(),
        });
    }
    // Room for a network address, a gateway, a container (and an IPv4 broadcast address).
    if net.max_prefix_len() - net.prefix_len() < 2 {
        return Err(Error::TooSmall(net));
    }
    let (first, last) = bounds(net);
    let gateway = config.gateway.unwrap_or_else(|| addr(net, first + 1));
    let g = num(gateway);
    let v4 = matches!(net, IpNet::V4(_));
    if !net.contains(&gateway) || g == first || (v4 && g == last) {
        return Err(Error::GatewayOutside {
            gateway,
            subnet: net,
        });
    }
    if let Some(range) = config.ip_range {
        if range.prefix_len() < net.prefix_len() || !net.contains(&range.network()) {
            return Err(Error::RangeOutside { range, subnet: net });
        }
    }
    Ok(Subnet {
        subnet: net,
        gateway,
        ip_range: config.ip_range.map(|r| r.trunc()),
    })
}

/// Writes `state` to a temp file beside `path` and renames it into place.
fn save(path: &Path, state: &State) -> Result<()> {
    let io = |op, source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(state).expect("IPAM state serialises");
    let mut file = fs::File::create(&tmp).map_err(|e| io("creating a temp file for", e))?;
    file.write_all(&bytes).map_err(|e| io("writing", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io("renaming into place", e))
}

#[cfg(test)]
mod tests;

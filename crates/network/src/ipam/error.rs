//! The errors of address management.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// What went wrong managing addresses; each variant names the network, subnet or address.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the state file failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The state file is not valid JSON of the expected shape.
    #[error("reading IPAM state {path}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// No network with this id has subnets here.
    #[error("network {0} has no address pool")]
    UnknownNetwork(String),
    /// A network with this id already has pools.
    #[error("network {0} already has an address pool")]
    NetworkExists(String),
    /// The subnet has bits set after its prefix (`172.20.0.5/16`).
    #[error("invalid subnet {subnet}: it should be {expected}")]
    HostBitsSet {
        /// The subnet as given.
        subnet: IpNet,
        /// The same prefix with the host bits cleared.
        expected: IpNet,
    },
    /// A subnet too small to hold a gateway and a container.
    #[error("subnet {0} is too small")]
    TooSmall(IpNet),
    /// A gateway outside its subnet, or the subnet's own network or broadcast address.
    #[error("gateway {gateway} is not a usable address of subnet {subnet}")]
    GatewayOutside {
        /// The gateway asked for.
        gateway: IpAddr,
        /// Its subnet.
        subnet: IpNet,
    },
    /// An `--ip-range` not inside its subnet.
    #[error("ip range {range} is not inside subnet {subnet}")]
    RangeOutside {
        /// The range asked for.
        range: IpNet,
        /// Its subnet.
        subnet: IpNet,
    },
    /// Two subnets share addresses.
    #[error("subnet {subnet} overlaps {other} of network {network}")]
    Overlap {
        /// The subnet asked for.
        subnet: IpNet,
        /// The subnet it overlaps.
        other: IpNet,
        /// Who holds `other` (a network id, or "the host" for the caller's routes).
        network: String,
    },
    /// Every default pool overlaps something in use.
    #[error("all predefined address pools have been fully subnetted")]
    PoolsExhausted,
    /// A requested address that is in none of the network's subnets.
    #[error("address {address} is not in any subnet of network {network}")]
    NotInSubnet {
        /// The address asked for.
        address: IpAddr,
        /// The network.
        network: String,
    },
    /// A requested address that is reserved or held by someone else.
    #[error("address {address} of network {network} is already in use")]
    InUse {
        /// The address asked for.
        address: IpAddr,
        /// The network.
        network: String,
    },
    /// No free address left.
    #[error("no available addresses in {kind} {pool} of network {network}")]
    Exhausted {
        /// `subnet`, or `ip range` when the subnet hands out only part of itself.
        kind: &'static str,
        /// The subnet, or its ip range.
        pool: IpNet,
        /// The network.
        network: String,
    },
    /// `remove_network` while containers still hold addresses.
    #[error("network {network} still has {count} allocated addresses")]
    NetworkInUse {
        /// The network.
        network: String,
        /// How many addresses are still held.
        count: usize,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

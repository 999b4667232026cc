//! berth's container networking.
//!
//! Kernel plumbing — network namespaces ([`netns`]), bridges, veth pairs, addresses and routes
//! over netlink ([`link`]), the nftables firewall and NAT ([`firewall`]), host sysctls
//! ([`sysctl`]) and host-port reservations ([`reserve`]) — and the bookkeeping above it: address
//! management ([`ipam`]), `-p` port specs ([`ports`]), the embedded DNS server ([`dns`]) and the
//! resolv.conf and hosts files a container gets ([`etc`]).

pub mod dns;
pub mod etc;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod ports;
pub mod reserve;
pub mod sysctl;

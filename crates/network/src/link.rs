//! Bridges and veth endpoints over rtnetlink: the links, addresses and routes of a bridge network.
//!
//! A [`Netlink`] connection belongs to the network namespace its socket was opened in:
//! [`Netlink::connect`] uses the caller's (the host's), [`Netlink::connect_in`] a container's
//! [`Netns`]. Requests are async (tokio); the only blocking step, joining a namespace to open
//! the socket, takes a short-lived thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::AddressFlags;
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo,
};
use nix::errno::Errno;
use rtnetlink::{
    LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::netns::{Netns, NetnsError};
use crate::sysctl::SysctlError;

mod names;

use names::{bridge_mac, check_name};
pub use names::{host_veth_name, is_host_veth_name, MAX_NAME_LEN};

/// Errors of link handling; each names the link and what was being done to it.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The netlink socket could not be opened.
    #[error("open a netlink socket in {}", netns.as_ref().map_or("the host's network namespace".into(), |p| p.display().to_string()))]
    Connect {
        /// The namespace file, or `None` for the caller's namespace.
        netns: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a request.
    #[error("{action} {link}")]
    Netlink {
        /// The link concerned.
        link: String,
        /// What was being done.
        action: &'static str,
        /// The kernel's answer.
        #[source]
        source: rtnetlink::Error,
    },
    /// A setting of the link under /proc/sys could not be written.
    #[error("configure {link}")]
    Sysctl {
        /// The link concerned.
        link: String,
        /// The underlying error.
        #[source]
        source: SysctlError,
    },
    /// A link of that name exists but is not a bridge.
    #[error("link {0} exists and is not a bridge")]
    NotABridge(String),
    /// A link that must exist does not.
    #[error("link {0} not found")]
    NotFound(String),
    /// An interface name that the kernel would refuse.
    #[error("invalid interface name {0:?} (1 to 15 characters, no '/', ':' or whitespace)")]
    InvalidName(String),
    /// Joining the container's network namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

/// A bridge to create or bring to the wanted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The interface name, e.g. `berth0` or `br-1a2b3c4d5e6f`.
    pub name: String,
    /// The MTU, or `None` for the kernel's default.
    pub mtu: Option<u32>,
    /// The gateway addresses with the subnet's prefix length (`172.18.0.1/16`, `fd00::1/64`).
    pub addresses: Vec<IpNet>,
}

/// A container's attachment to a bridge: a veth pair, host end on the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host end's name; use [`host_veth_name`] so that cleanup can find it after a crash.
    pub host_name: String,
    /// The bridge the host end is enslaved to.
    pub bridge: String,
    /// The name inside the container (`eth0`, `eth1`, …).
    pub name: String,
    /// The container end's MAC address, or `None` for a random one.
    pub mac: Option<[u8; 6]>,
    /// The MTU of both ends, or `None` for the kernel's default.
    pub mtu: Option<u32>,
    /// The container's addresses with the subnet's prefix length (`172.18.0.2/16`).
    pub addresses: Vec<IpNet>,
    /// Gateways to install default routes through, at most one per family; empty for
    /// internal networks.
    pub gateways: Vec<IpAddr>,
    /// Cut this endpoint off from the bridge's other isolated ports (every endpoint of a
    /// network with inter-container traffic disabled, Docker's `enable_icc=false`); the host
    /// and published ports stay reachable.
    pub isolated: bool,
}

fn is_errno(e: &rtnetlink::Error, errno: i32) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -errno)
}

/// A netlink route connection in one network namespace.
pub struct Netlink {
    handle: rtnetlink::Handle,
    task: tokio::task::JoinHandle<()>,
    /// The namespace of [`Netlink::connect_in`], for the settings under /proc/sys.
    netns: Option<Netns>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace. Needs a tokio runtime
    /// whose threads are in that namespace too (the host's, in the daemon).
    pub fn connect() -> Result<Netlink, LinkError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|source| LinkError::Connect {
                netns: None,
                source,
            })?;
        let task = tokio::spawn(connection);
        Ok(Netlink {
            handle,
            task,
            netns: None,
        })
    }

    /// Opens a connection inside `netns`. Needs a tokio runtime.
    pub fn connect_in(netns: &Netns) -> Result<Netlink, LinkError> {
        let runtime = tokio::runtime::Handle::current();
        let opened = netns.run(|| {
            let _entered = runtime.enter();
            rtnetlink::new_connection()
        })?;
        let (connection, handle, _) = opened.map_err(|source| LinkError::Connect {
            netns: Some(netns.path().to_path_buf()),
            source,
        })?;
        let task = runtime.spawn(connection);
        Ok(Netlink {
            handle,
            task,
            netns: Some(netns.try_clone()?),
        })
    }

    /// The index of the link called `name`, or `None` if there is none.
    pub async fn index(&self, name: &str) -> Result<Option<u32>, LinkError> {
        Ok(self.find(name).await?.map(|(index, _)| index))
    }

    async fn find(&self, name: &str) -> Result<Option<(u32, Option<InfoKind>)>, LinkError> {
        check_name(name)?;
        let request = self.handle.link().get().match_name(name.to_owned());
        match request.execute().try_next().await {
            Ok(Some(message)) => {
                let kind = message.attributes.iter().find_map(|a| match a {
                    LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                        LinkInfo::Kind(k) => Some(k.clone()),
                        _ => None,
                    }),
                    _ => None,
                });
                Ok(Some((message.header.index, kind)))
            }
            Ok(None) => Ok(None),
            Err(e) if is_errno(&e, Errno::ENODEV as i32) => Ok(None),
            Err(source) => Err(LinkError::Netlink {
                link: name.to_owned(),
                action: "look up",
                source,
            }),
        }
    }

    async fn require(&self, name: &str) -> Result<u32, LinkError> {
        self.index(name)
            .await?
            .ok_or_else(|| LinkError::NotFound(name.to_owned()))
    }

    /// Creates the bridge if it does not exist, then sets its MTU and addresses and brings it
    /// up; running it again changes nothing. Returns the bridge's index.
    ///
    /// With IPv6 addresses the bridge's `disable_ipv6` is set to 0 first; they are added
    /// without duplicate address detection, so that they work at once.
    pub async fn ensure_bridge(&self, bridge: &Bridge) -> Result<u32, LinkError> {
        let name = bridge.name.as_str();
        let index = match self.find(name).await? {
            Some((index, Some(InfoKind::Bridge))) => index,
            Some(_) => return Err(LinkError::NotABridge(name.to_owned())),
            None => {
                let message = LinkBridge::new(name).address(bridge_mac(name)).build();
                match self.handle.link().add(message).execute().await {
                    Ok(()) => {}
                    Err(e) if is_errno(&e, Errno::EEXIST as i32) => {}
                    Err(source) => {
                        return Err(LinkError::Netlink {
                            link: name.to_owned(),
                            action: "create bridge",
                            source,
                        })
                    }
                }
                self.require(name).await?
            }
        };
        if bridge.addresses.iter().any(|a| a.addr().is_ipv6()) {
            self.sysctl(name, || crate::sysctl::enable_ipv6(name))?;
        }
        for address in &bridge.addresses {
            self.add_address(name, index, *address).await?;
        }
        let mut up = LinkUnspec::new_with_index(index).up();
        if let Some(mtu) = bridge.mtu {
            up = up.mtu(mtu);
        }
        self.set(name, up.build(), "bring up").await?;
        Ok(index)
    }

    /// Deletes the link called `name` (a bridge, or a veth with its peer); succeeds if absent.
    pub async fn delete(&self, name: &str) -> Result<(), LinkError> {
        let Some(index) = self.index(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, Errno::ENODEV as i32) => Ok(()),
            Err(source) => Err(LinkError::Netlink {
                link: name.to_owned(),
                action: "delete",
                source,
            }),
        }
    }

    /// Brings the link called `name` up (e.g. `lo` in a new namespace).
    pub async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        let index = self.require(name).await?;
        self.set(
            name,
            LinkUnspec::new_with_index(index).up().build(),
            "bring up",
        )
        .await
    }

    /// Attaches a container: creates the veth pair with the host end on the bridge and up and
    /// the other end created directly inside `netns` under its final name, then gives that end
    /// its addresses, brings it up and adds the default routes. On failure the pair is deleted.
    pub async fn add_endpoint(&self, endpoint: &Endpoint, netns: &Netns) -> Result<(), LinkError> {
        check_name(&endpoint.host_name)?;
        check_name(&endpoint.name)?;
        let bridge = self.require(&endpoint.bridge).await?;
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(endpoint.name.clone())
            .setns_by_fd(netns.as_fd().as_raw_fd());
        let mut host = LinkVeth::new(&endpoint.host_name, &endpoint.name)
            .controller(bridge)
            .up();
        if let Some(mtu) = endpoint.mtu {
            peer = peer.mtu(mtu);
            host = host.mtu(mtu);
        }
        if let Some(mac) = endpoint.mac {
            peer = peer.address(mac.to_vec());
        }
        let message = host
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();
        if let Err(source) = self.handle.link().add(message).execute().await {
            return Err(LinkError::Netlink {
                link: endpoint.host_name.clone(),
                action: "create veth pair",
                source,
            });
        }
        let configured = async {
            self.configure_host_end(endpoint).await?;
            let inside = Netlink::connect_in(netns)?;
            inside.configure_container_end(endpoint).await
        }
        .await;
        if let Err(e) = configured {
            let _ = self.delete(&endpoint.host_name).await;
            return Err(e);
        }
        Ok(())
    }

    /// Hairpin mode lets a container reach its own published port through the host's address:
    /// the DNATed packet must leave through the port it came in by.
    async fn configure_host_end(&self, endpoint: &Endpoint) -> Result<(), LinkError> {
        let index = self.require(&endpoint.host_name).await?;
        let port = LinkBridgePort::new(index)
            .append_info_data(InfoBridgePort::HairpinMode(true))
            .append_info_data(InfoBridgePort::Isolated(endpoint.isolated))
            .build();
        self.handle
            .link()
            .set_port(port)
            .execute()
            .await
            .map_err(|source| LinkError::Netlink {
                link: endpoint.host_name.clone(),
                action: "set the bridge port options of",
                source,
            })
    }

    async fn configure_container_end(&self, endpoint: &Endpoint) -> Result<(), LinkError> {
        let name = endpoint.name.as_str();
        let index = self.require(name).await?;
        for address in &endpoint.addresses {
            self.add_address(name, index, *address).await?;
        }
        self.set(
            name,
            LinkUnspec::new_with_index(index).up().build(),
            "bring up",
        )
        .await?;
        for gateway in &endpoint.gateways {
            let route = match gateway {
                IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(*gw)
                    .output_interface(index)
                    .build(),
                IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new()
                    .gateway(*gw)
                    .output_interface(index)
                    .build(),
            };
            if let Err(source) = self.handle.route().add(route).execute().await {
                return Err(LinkError::Netlink {
                    link: name.to_owned(),
                    action: "add the default route through",
                    source,
                });
            }
        }
        Ok(())
    }

    /// Detaches a container by deleting its host-side veth (the peer goes with it); succeeds
    /// if it is already gone, e.g. because the container's namespace was destroyed.
    pub async fn remove_endpoint(&self, host_name: &str) -> Result<(), LinkError> {
        self.delete(host_name).await
    }

    /// The names of all links in this namespace, e.g. to find leftover `bv…` veths.
    pub async fn link_names(&self) -> Result<Vec<String>, LinkError> {
        let messages: Vec<_> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| LinkError::Netlink {
                link: "*".to_owned(),
                action: "list",
                source,
            })?;
        Ok(messages
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
            })
            .collect())
    }

    /// Runs `write` (a /proc/sys write) in this connection's namespace.
    fn sysctl(
        &self,
        link: &str,
        write: impl FnOnce() -> Result<(), SysctlError> + Send,
    ) -> Result<(), LinkError> {
        let written = match &self.netns {
            Some(netns) => netns.run(write)?,
            None => write(),
        };
        written.map_err(|source| LinkError::Sysctl {
            link: link.to_owned(),
            source,
        })
    }

    async fn add_address(&self, link: &str, index: u32, address: IpNet) -> Result<(), LinkError> {
        let mut request = self
            .handle
            .address()
            .add(index, address.addr(), address.prefix_len());
        if address.addr().is_ipv6() {
            let flags = AddressFlags::Nodad;
            request.message_mut().attributes.push(
                netlink_packet_route::address::AddressAttribute::Flags(flags),
            );
        }
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, Errno::EEXIST as i32) => Ok(()),
            Err(source) => Err(LinkError::Netlink {
                link: link.to_owned(),
                action: "add an address to",
                source,
            }),
        }
    }

    async fn set(
        &self,
        link: &str,
        message: netlink_packet_route::link::LinkMessage,
        action: &'static str,
    ) -> Result<(), LinkError> {
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|source| LinkError::Netlink {
                link: link.to_owned(),
                action,
                source,
            })
    }
}

//! Host-port reservations for published ports.
//!
//! A published port is forwarded by the firewall's DNAT, so no process needs to listen on it;
//! berth still binds it (and never accepts) so that the kernel refuses a second container or a
//! host process the same port, and a port already used on the host is a clear error up front.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, PoisonError};

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// Why a host port could not be reserved, in Docker's words.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Another berth reservation holds the port.
    #[error("Bind for {addr} failed: port is already allocated")]
    Allocated {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The kernel refused the bind (a host process uses the port, or the address is not local).
    #[error("Bind for {addr} failed: {reason}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The kernel's error, e.g. "address already in use".
        reason: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Every port of the range was taken.
    #[error("Bind for {host_ip}:{first}-{last} failed: no free port in the range")]
    RangeExhausted {
        /// The host address asked for.
        host_ip: IpAddr,
        /// The range's first port.
        first: u16,
        /// The range's last port.
        last: u16,
    },
}

/// A held host port; the port is released when this is dropped.
pub struct PortReservation {
    protocol: Protocol,
    addr: SocketAddr,
    _socket: OwnedFd,
}

impl fmt::Debug for PortReservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortReservation({}/{})", self.addr, self.protocol)
    }
}

/// What this process holds, to tell "allocated by berth" from "used by someone else".
static HELD: Mutex<Option<HashSet<(Protocol, SocketAddr)>>> = Mutex::new(None);

fn held_conflict(protocol: Protocol, addr: SocketAddr) -> bool {
    let held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    held.as_ref().is_some_and(|set| {
        set.iter().any(|(p, a)| {
            *p == protocol
                && a.port() == addr.port()
                && (a.ip() == addr.ip() || a.ip().is_unspecified() || addr.ip().is_unspecified())
        })
    })
}

impl PortReservation {
    /// Reserves `port` on `host_ip` (`None` means 0.0.0.0); port 0 lets the kernel choose one
    /// (`-P`), which [`PortReservation::port`] then reports.
    pub fn bind(
        protocol: Protocol,
        host_ip: Option<IpAddr>,
        port: u16,
    ) -> Result<PortReservation, ReserveError> {
        let addr = SocketAddr::new(host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port);
        if port != 0 && held_conflict(protocol, addr) {
            return Err(ReserveError::Allocated { addr });
        }
        let bound = match protocol {
            Protocol::Tcp => {
                TcpListener::bind(addr).and_then(|l| Ok((l.local_addr()?, OwnedFd::from(l))))
            }
            Protocol::Udp => {
                UdpSocket::bind(addr).and_then(|u| Ok((u.local_addr()?, OwnedFd::from(u))))
            }
        };
        let (local, socket) = bound.map_err(|source| ReserveError::Bind {
            addr,
            reason: describe(&source),
            source,
        })?;
        HELD.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(HashSet::new)
            .insert((protocol, local));
        Ok(PortReservation {
            protocol,
            addr: local,
            _socket: socket,
        })
    }

    /// Reserves the first free port of `ports` on `host_ip` (`8000-8010:80`).
    pub fn bind_range(
        protocol: Protocol,
        host_ip: Option<IpAddr>,
        ports: RangeInclusive<u16>,
    ) -> Result<PortReservation, ReserveError> {
        let ip = host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let (first, last) = (*ports.start(), *ports.end());
        for port in ports {
            match PortReservation::bind(protocol, Some(ip), port) {
                Ok(reservation) => return Ok(reservation),
                Err(ReserveError::Allocated { .. }) => continue,
                Err(ReserveError::Bind { source, .. })
                    if source.kind() == io::ErrorKind::AddrInUse =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
        Err(ReserveError::RangeExhausted {
            host_ip: ip,
            first,
            last,
        })
    }

    /// The reserved port (the kernel's choice when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The reserved address and port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The reserved port's protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

impl Drop for PortReservation {
    fn drop(&mut self) {
        if let Some(set) = HELD.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            set.remove(&(self.protocol, self.addr));
        }
    }
}

/// The kernel's error in lower case without the errno, as Docker prints it.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_owned(),
        io::ErrorKind::AddrNotAvailable => "cannot assign requested address".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

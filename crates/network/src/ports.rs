//! Docker's port syntax: `-p [ip:][hostPort:]containerPort[/proto]`, `--expose` and `-P`, read
//! into the Engine API's shapes (`ExposedPorts` keys such as `"80/tcp"` and `PortBindings`) and
//! from `PortBindings` into the flat list of mappings the firewall publishes.
//!
//! The types here are plain strings and numbers so that both the CLI (building a create body)
//! and the engine (publishing a started container's ports) can use them without this crate
//! knowing the API's types.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a port spec, an exposed port or a binding was refused; messages are Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The spec does not have the shape `[ip:][hostPort:]containerPort[/proto]`.
    #[error("invalid port specification: {0:?}")]
    Spec(String),
    /// Nothing after the last colon.
    #[error("No port specified: {0}<empty>")]
    NoPort(String),
    /// The container side is not a port or a range of ports.
    #[error("Invalid containerPort: {0}")]
    ContainerPort(String),
    /// The host side is not a port or a range of ports.
    #[error("Invalid hostPort: {0}")]
    HostPort(String),
    /// Container and host ranges have different lengths.
    #[error("Invalid ranges specified for container and host Ports: {container} and {host}")]
    RangeMismatch {
        /// The container side as written.
        container: String,
        /// The host side as written.
        host: String,
    },
    /// The host address is not an IP address.
    #[error("Invalid ip address: {0}")]
    HostIp(String),
    /// A protocol other than tcp, udp or sctp.
    #[error("Invalid proto: {0}")]
    Proto(String),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP, the default when a spec names none.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The lower-case name Docker writes after the slash.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(Error::Proto(s.to_string())),
        }
    }
}

/// An inclusive range of ports; a single port is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port, `>= start`.
    pub end: u16,
}

impl PortRange {
    /// Reads `80` or `8000-8010`; `None` for anything else (port 0, reversed ranges included).
    pub fn parse(text: &str) -> Option<Self> {
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
                .filter(|&p| p != 0)
        };
        let (start, end) = match text.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let p = number(text)?;
                (p, p)
            }
        };
        (start <= end).then_some(PortRange { start, end })
    }

    /// How many ports the range holds.
    pub fn len(self) -> u32 {
        u32::from(self.end - self.start) + 1
    }

    /// Always false: a range holds at least one port (here for clippy's `len` convention).
    pub fn is_empty(self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// The host side of one published container port, as the Engine API writes it (`HostIp`,
/// `HostPort`: empty strings mean any address and a random port).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortBinding {
    /// Host address to listen on; empty for all.
    pub host_ip: String,
    /// Host port, range (one is picked) or empty for a random one.
    pub host_port: String,
}

/// The Engine API's `PortBindings`: `"80/tcp"` → its host bindings.
pub type PortBindings = BTreeMap<String, Vec<PortBinding>>;

/// The Engine API's `ExposedPorts` keys: `"80/tcp"`.
pub type ExposedPorts = BTreeSet<String>;

/// The key Docker uses for a container port: `80/tcp`.
pub fn port_key(port: u16, proto: Protocol) -> String {
    format!("{port}/{proto}")
}

/// Splits `80/tcp` (or `80`, meaning tcp) into its range and protocol.
fn split_proto(text: &str) -> Result<(&str, Protocol)> {
    match text.rsplit_once('/') {
        Some((port, proto)) => Ok((port, proto.parse()?)),
        None => Ok((text, Protocol::Tcp)),
    }
}

/// Reads one `-p` spec into the container ports it publishes, each with its host binding,
/// in the order of the range: `8000-8001:80-81` gives `80/tcp → 8000`, `81/tcp → 8001`. A host
/// range with a single container port stays a range (the engine picks a free port in it).
pub fn parse_publish(spec: &str) -> Result<Vec<(String, PortBinding)>> {
    let (ip, host, container) = split_spec(spec)?;
    let (container, proto) = split_proto(container)?;
    if container.is_empty() {
        return Err(Error::NoPort(spec.to_string()));
    }
    let host_ip = if ip.is_empty() {
        String::new()
    } else {
        let bare = ip
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(ip);
        bare.parse::<IpAddr>()
            .map_err(|_| Error::HostIp(ip.to_string()))?
            .to_string()
    };
    let ports =
        PortRange::parse(container).ok_or_else(|| Error::ContainerPort(container.to_string()))?;
    let host_ports = if host.is_empty() {
        None
    } else {
        Some(PortRange::parse(host).ok_or_else(|| Error::HostPort(host.to_string()))?)
    };
    if let Some(h) = host_ports {
        if h.len() != ports.len() && ports.len() != 1 {
            return Err(Error::RangeMismatch {
                container: container.to_string(),
                host: host.to_string(),
            });
        }
    }
    Ok((ports.start..=ports.end)
        .enumerate()
        .map(|(i, port)| {
            let host_port = match host_ports {
                None => String::new(),
                Some(h) if ports.len() == 1 => h.to_string(),
                Some(h) => (h.start + i as u16).to_string(),
            };
            let binding = PortBinding {
                host_ip: host_ip.clone(),
                host_port,
            };
            (port_key(port, proto), binding)
        })
        .collect())
}

/// Splits a spec into (ip, hostPort, containerPort[/proto]); the IP may be IPv6 in brackets.
fn split_spec(spec: &str) -> Result<(&str, &str, &str)> {
    if spec.starts_with('[') {
        let close = spec
            .find(']')
            .ok_or_else(|| Error::Spec(spec.to_string()))?;
        let rest = spec[close + 1..]
            .strip_prefix(':')
            .ok_or_else(|| Error::Spec(spec.to_string()))?;
        let (host, container) = rest
            .split_once(':')
            .ok_or_else(|| Error::Spec(spec.to_string()))?;
        return Ok((&spec[..=close], host, container));
    }
    let parts: Vec<&str> = spec.split(':').collect();
    Ok(match parts.as_slice() {
        [container] => ("", "", container),
        [host, container] => ("", host, container),
        [ip, host, container] => (ip, host, container),
        // An unbracketed IPv6 address: everything before the last two colons.
        [.., host, container] => {
            let ip_len = spec.len() - host.len() - container.len() - 2;
            (&spec[..ip_len], host, container)
        }
        [] => return Err(Error::Spec(spec.to_string())),
    })
}

/// Reads one `--expose` value (`80`, `80/udp`, `8000-8010/tcp`) into `ExposedPorts` keys.
pub fn parse_expose(spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = split_proto(spec)?;
    let range = PortRange::parse(ports).ok_or_else(|| Error::Spec(spec.to_string()))?;
    Ok((range.start..=range.end)
        .map(|p| port_key(p, proto))
        .collect())
}

/// `-P`: every exposed port without a binding gets one to a random host port on all
/// addresses. Ports already bound keep their bindings.
pub fn publish_all(exposed: &ExposedPorts, bindings: &mut PortBindings) {
    for key in exposed {
        let entry = bindings.entry(key.clone()).or_default();
        if entry.is_empty() {
            entry.push(PortBinding::default());
        }
    }
}

/// One published port, ready for the firewall: traffic to `host_ip` (any address when
/// `None`) on a port of `host_ports` (a random free one when `None`; one picked from the
/// range otherwise) goes to `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMapping {
    /// Protocol of both sides.
    pub proto: Protocol,
    /// Host address, `None` for all.
    pub host_ip: Option<IpAddr>,
    /// Host port or range; `None` for a random port.
    pub host_ports: Option<PortRange>,
    /// The container's port.
    pub container_port: u16,
}

/// Flattens `PortBindings` (as received from the API) into mappings, validating every key
/// and binding. Keys are single ports (`80/tcp`); a key without bindings publishes nothing.
pub fn mappings(bindings: &PortBindings) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let (port, proto) = split_proto(key)?;
        let container = PortRange::parse(port)
            .filter(|r| r.len() == 1)
            .ok_or_else(|| Error::ContainerPort(port.to_string()))?;
        for binding in list {
            let ip = binding
                .host_ip
                .trim_start_matches('[')
                .trim_end_matches(']');
            let host_ip = if ip.is_empty() {
                None
            } else {
                Some(
                    ip.parse()
                        .map_err(|_| Error::HostIp(binding.host_ip.clone()))?,
                )
            };
            let host_ports = match binding.host_port.as_str() {
                "" | "0" => None,
                p => Some(PortRange::parse(p).ok_or_else(|| Error::HostPort(p.to_string()))?),
            };
            out.push(PortMapping {
                proto,
                host_ip,
                host_ports,
                container_port: container.start,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;

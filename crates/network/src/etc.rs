//! The content of a container's /etc/resolv.conf and /etc/hosts, by Docker's rules. The
//! engine writes and bind-mounts them; this module only says what they hold.

use std::net::{IpAddr, Ipv4Addr};

use crate::dns::EMBEDDED_DNS;

/// Why a `--dns` or `--add-host` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A `--dns` value that is not an IP address.
    #[error("{0} is not an ip address")]
    DnsServer(String),
    /// An `--add-host` value without a name or a separator.
    #[error("bad format for add-host: {0:?}")]
    ExtraHost(String),
    /// An `--add-host` address that is not an IP address.
    #[error("invalid IP address in add-host: {0:?}")]
    ExtraHostIp(String),
    /// `host-gateway` asked for where the caller knows no gateway (e.g. `--network none`).
    #[error("add-host {0:?}: host-gateway has no address on this network")]
    NoHostGateway(String),
}

/// Resolvers Docker gives a container when the host has only local ones, which are not
/// reachable from the container's network namespace.
pub const FALLBACK_NAMESERVERS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
];

/// What a resolv.conf says (other lines and comments are not kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<IpAddr>,
    /// The `search` domains (the last `search` or `domain` line wins, as in resolv.conf(5)).
    pub search: Vec<String>,
    /// Every `options` entry, in order.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Reads resolv.conf text, skipping what it cannot use (unparsable nameservers, e.g.).
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let Some(key) = words.next() else { continue };
            match key {
                "nameserver" => {
                    // A link-local IPv6 server may carry a zone (`fe80::1%eth0`).
                    let ip: Option<IpAddr> =
                        words.next().and_then(|w| w.split('%').next()?.parse().ok());
                    conf.nameservers.extend(ip);
                }
                "search" | "domain" => conf.search = words.map(str::to_string).collect(),
                "options" => conf.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        conf
    }

    /// The file's text: `nameserver`, `search` and `options` lines.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for server in &self.nameservers {
            text.push_str(&format!("nameserver {server}\n"));
        }
        if !self.search.is_empty() {
            text.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }
}

/// The DNS flags of `run`: `--dns`, `--dns-search` (`.` for none), `--dns-option`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsFlags {
    /// `--dns` servers, as given.
    pub servers: Vec<String>,
    /// `--dns-search` domains.
    pub search: Vec<String>,
    /// `--dns-option` entries.
    pub options: Vec<String>,
}

/// A container's resolv.conf and, with the embedded DNS server, where that server forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDns {
    /// The resolv.conf the container sees.
    pub resolv_conf: ResolvConf,
    /// The servers the embedded DNS server forwards to; empty without it.
    pub upstreams: Vec<IpAddr>,
}

/// The resolv.conf of a container, given the host's and the `run` flags. With the embedded
/// DNS server (user-defined networks) the container asks 127.0.0.11, which forwards to the
/// `--dns` servers or else the host's (from the daemon's namespace, so local ones work), and
/// gets `ndots:0` unless an ndots option is given. Otherwise (the default bridge) it gets
/// the `--dns` servers or the host's without loopback ones, or Docker's fallback if none
/// remain. `--dns-search` and `--dns-option` replace the host's search domains and options.
pub fn container_dns(
    host: &ResolvConf,
    flags: &DnsFlags,
    embedded_dns: bool,
) -> Result<ContainerDns, Error> {
    let servers = flags
        .servers
        .iter()
        .map(|s| s.parse().map_err(|_| Error::DnsServer(s.clone())))
        .collect::<Result<Vec<IpAddr>, Error>>()?;
    let search = match flags.search.as_slice() {
        [] => host.search.clone(),
        [dot] if dot == "." => Vec::new(),
        given => given.to_vec(),
    };
    let mut options = if flags.options.is_empty() {
        host.options.clone()
    } else {
        flags.options.clone()
    };
    let mut nameservers = if servers.is_empty() {
        host.nameservers.clone()
    } else {
        servers
    };
    let mut upstreams = Vec::new();
    if embedded_dns {
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".to_string());
        }
        upstreams = if nameservers.is_empty() {
            FALLBACK_NAMESERVERS.to_vec()
        } else {
            nameservers
        };
        nameservers = vec![EMBEDDED_DNS];
    } else {
        if flags.servers.is_empty() {
            nameservers.retain(|ip| !ip.is_loopback());
        }
        if nameservers.is_empty() {
            nameservers = FALLBACK_NAMESERVERS.to_vec();
        }
    }
    Ok(ContainerDns {
        resolv_conf: ResolvConf {
            nameservers,
            search,
            options,
        },
        upstreams,
    })
}

/// Reads one `--add-host` value: `name:ip`, `name=ip`, the IP possibly IPv6 (bracketed or
/// not) or `host-gateway`, which stands for `host_gateway` (the network's gateway, resolved
/// by the caller).
pub fn parse_extra_host(
    spec: &str,
    host_gateway: Option<IpAddr>,
) -> Result<(String, IpAddr), Error> {
    let (name, ip) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .filter(|(name, _)| !name.is_empty() && !name.contains(char::is_whitespace))
        .ok_or_else(|| Error::ExtraHost(spec.to_string()))?;
    if ip == "host-gateway" {
        let gateway = host_gateway.ok_or_else(|| Error::NoHostGateway(spec.to_string()))?;
        return Ok((name.to_string(), gateway));
    }
    let bare = ip
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(ip);
    let ip: IpAddr = bare
        .parse()
        .map_err(|_| Error::ExtraHostIp(ip.to_string()))?;
    Ok((name.to_string(), ip))
}

/// What goes into a container's /etc/hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    /// The container's hostname.
    pub hostname: String,
    /// Its `--domainname`, if any.
    pub domainname: String,
    /// Its addresses on its networks (none with `--network none` or `host`).
    pub addresses: Vec<IpAddr>,
    /// Whether the container has IPv6: without it the IPv6 lines are left out.
    pub ipv6: bool,
    /// `--add-host` entries, from [`parse_extra_host`].
    pub extra: Vec<(String, IpAddr)>,
}

impl Hosts {
    /// The file's text, as Docker writes it: loopback, the IPv6 names, the `--add-host`
    /// entries, then each address with `hostname.domain hostname` (or just the hostname).
    pub fn render(&self) -> String {
        let mut text = String::from("127.0.0.1\tlocalhost\n");
        if self.ipv6 {
            text.push_str(
                "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
                 ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
            );
        }
        for (name, ip) in &self.extra {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
        let names = if self.domainname.is_empty() {
            self.hostname.clone()
        } else {
            format!("{}.{} {}", self.hostname, self.domainname, self.hostname)
        };
        for ip in &self.addresses {
            if self.ipv6 || ip.is_ipv4() {
                text.push_str(&format!("{ip}\t{names}\n"));
            }
        }
        text
    }
}

#[cfg(test)]
#[path = "etc_tests.rs"]
mod tests;

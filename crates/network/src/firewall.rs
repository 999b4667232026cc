//! The nftables rules of bridge networks and published ports, in berth's own table `inet berth`.
//!
//! The firewall is declarative: [`Firewall::apply`] renders the whole table from a [`Ruleset`]
//! (every network and port mapping that exists) and replaces the old table in one nft
//! transaction, so the kernel never holds a half-applied state and, after a crash, re-applying
//! what exists is the whole recovery. No other table is read or changed.
//!
//! Layout of the table:
//! - set `bridges`: every berth bridge, for isolation;
//! - chain `ports`: one DNAT rule per published port, jumped to from `prerouting` (traffic from
//!   other interfaces and from containers: hairpin) and `output` (the host itself, loopback
//!   included) for packets addressed to a local address;
//! - `postrouting`: masquerade of each subnet's traffic leaving through another interface,
//!   of 127.0.0.0/8 sources leaving through a bridge (ports published on the loopback), and of
//!   DNATed traffic from a subnet back into its own bridge (hairpin);
//! - `forward`: replies accepted, internal networks cut off from every other interface (their
//!   containers reach no published port either), DNATed flows to published ports accepted,
//!   then berth bridges cut off from each other.
//!
//! IPv6: subnets are masqueraded and ports published on IPv6 host addresses are DNATed like
//! IPv4 ones; a port published on `::1` does not work, since the kernel never routes a `::1`
//! source out of the loopback (there is no `route_localnet` for IPv6).

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ipnet::IpNet;

use crate::reserve::Protocol;

/// The name of berth's table (family `inet`).
pub const TABLE: &str = "berth";

/// Errors of loading the ruleset.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The nft program could not be run.
    #[error("run {program} (is nftables installed?)")]
    Spawn {
        /// The program run.
        program: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// nft refused the script; nothing was changed.
    #[error("nft refused the ruleset of table inet berth ({status}): {stderr}")]
    Rejected {
        /// nft's exit status.
        status: std::process::ExitStatus,
        /// What nft printed.
        stderr: String,
    },
    /// A bridge name that cannot be an interface name (and could not be quoted safely).
    #[error("invalid bridge name {0:?}")]
    InvalidBridge(String),
    /// A port mapping whose host and container addresses are of different families.
    #[error("port {host_port}/{protocol} on {host_ip} cannot be forwarded to {container_ip}: the addresses are of different families")]
    FamilyMismatch {
        /// The protocol.
        protocol: Protocol,
        /// The host address.
        host_ip: IpAddr,
        /// The host port.
        host_port: u16,
        /// The container's address.
        container_ip: IpAddr,
    },
}

/// The firewall view of one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// The bridge interface.
    pub bridge: String,
    /// The network's subnets (IPv4 and/or IPv6).
    pub subnets: Vec<IpNet>,
    /// An internal network: nothing is forwarded between its bridge and any other interface.
    pub internal: bool,
    /// Masquerade traffic from the subnets leaving through other interfaces (Docker's
    /// `com.docker.network.bridge.enable_ip_masquerade`, on by default).
    pub masquerade: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The host address it is published on, or `None` for every local address of the
    /// container address's family.
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The container's address on `bridge`'s network.
    pub container_ip: IpAddr,
    /// The container's port.
    pub container_port: u16,
    /// The bridge of the container's network.
    pub bridge: String,
}

/// Everything the firewall must do: all bridge networks and published ports that exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// The networks.
    pub networks: Vec<NetworkRules>,
    /// The published ports. Mappings onto internal networks are left out, as Docker does.
    pub ports: Vec<PortMapping>,
}

/// Loads berth's table with the `nft` program.
#[derive(Debug, Clone)]
pub struct Firewall {
    nft: PathBuf,
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall {
            nft: PathBuf::from("nft"),
        }
    }
}

impl Firewall {
    /// A firewall that runs the given nft program instead of `nft` from `PATH`.
    pub fn with_program(nft: PathBuf) -> Firewall {
        Firewall { nft }
    }

    /// Replaces the table with the rules of `ruleset`, atomically. Blocks until nft is done
    /// (milliseconds): from async code, call it through `spawn_blocking`.
    pub fn apply(&self, ruleset: &Ruleset) -> Result<(), FirewallError> {
        let script = render(ruleset)?;
        self.load(&script)
    }

    /// Removes the table; succeeds if it does not exist.
    pub fn clear(&self) -> Result<(), FirewallError> {
        self.load(&reset())
    }

    fn load(&self, script: &str) -> Result<(), FirewallError> {
        let spawn_err = |source| FirewallError::Spawn {
            program: self.nft.clone(),
            source,
        };
        let mut child = Command::new(&self.nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        let written = child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(script.as_bytes());
        let output = child.wait_with_output().map_err(spawn_err)?;
        if !output.status.success() {
            return Err(FirewallError::Rejected {
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        written.map_err(spawn_err)
    }
}

/// The script's first lines: make sure the table exists, then delete it, so that what follows
/// starts from nothing whether or not it existed.
fn reset() -> String {
    format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n")
}

/// Renders the nft script that replaces the table with `ruleset`.
pub fn render(ruleset: &Ruleset) -> Result<String, FirewallError> {
    for bridge in ruleset
        .networks
        .iter()
        .map(|n| &n.bridge)
        .chain(ruleset.ports.iter().map(|p| &p.bridge))
    {
        check_bridge(bridge)?;
    }
    let mut out = reset();
    if ruleset.networks.is_empty() {
        return Ok(out);
    }
    let internal = |bridge: &str| {
        ruleset
            .networks
            .iter()
            .any(|n| n.internal && n.bridge == bridge)
    };
    let ports: Vec<&PortMapping> = ruleset
        .ports
        .iter()
        .filter(|p| !internal(&p.bridge))
        .collect();

    let w = &mut out;
    let _ = writeln!(w, "table inet {TABLE} {{");
    let names: Vec<String> = ruleset
        .networks
        .iter()
        .map(|n| format!("\"{}\"", n.bridge))
        .collect();
    let _ = writeln!(
        w,
        "  set bridges {{\n    type ifname\n    elements = {{ {} }}\n  }}",
        names.join(", ")
    );

    let _ = writeln!(w, "  chain ports {{");
    for p in &ports {
        let _ = writeln!(w, "    {}", dnat_rule(p)?);
    }
    let _ = writeln!(w, "  }}");
    for (chain, priority) in [("prerouting", "dstnat"), ("output", "-100")] {
        let _ = writeln!(w, "  chain {chain} {{\n    type nat hook {chain} priority {priority}; policy accept;\n    fib daddr type local jump ports\n  }}");
    }

    let _ = writeln!(
        w,
        "  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;"
    );
    for n in &ruleset.networks {
        let b = &n.bridge;
        for s in &n.subnets {
            let family = family(s.addr());
            if n.masquerade && !n.internal {
                let _ = writeln!(w, "    {family} saddr {s} oifname != \"{b}\" masquerade");
            }
            let _ = writeln!(
                w,
                "    oifname \"{b}\" {family} saddr {s} ct status dnat masquerade"
            );
        }
        if n.subnets.iter().any(|s| s.addr().is_ipv4()) {
            let _ = writeln!(w, "    oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade");
        }
    }
    let _ = writeln!(w, "  }}");

    let _ = writeln!(
        w,
        "  chain forward {{\n    type filter hook forward priority filter; policy accept;"
    );
    let _ = writeln!(w, "    ct state established,related accept");
    // Before the published ports: an internal network reaches none of them either.
    for n in ruleset.networks.iter().filter(|n| n.internal) {
        let b = &n.bridge;
        let _ = writeln!(w, "    iifname \"{b}\" oifname != \"{b}\" drop");
        let _ = writeln!(w, "    oifname \"{b}\" iifname != \"{b}\" drop");
    }
    for p in &ports {
        let _ = writeln!(
            w,
            "    oifname \"{}\" {} daddr {} {} dport {} ct status dnat accept",
            p.bridge,
            family(p.container_ip),
            p.container_ip,
            p.protocol,
            p.container_port
        );
    }
    for n in &ruleset.networks {
        let b = &n.bridge;
        let _ = writeln!(
            w,
            "    iifname \"{b}\" oifname != \"{b}\" oifname @bridges drop"
        );
    }
    let _ = writeln!(w, "  }}\n}}");
    Ok(out)
}

fn dnat_rule(p: &PortMapping) -> Result<String, FirewallError> {
    let target_family = family(p.container_ip);
    let target = match p.container_ip {
        IpAddr::V4(ip) => format!("{ip}:{}", p.container_port),
        IpAddr::V6(ip) => format!("[{ip}]:{}", p.container_port),
    };
    let matcher = match p.host_ip {
        Some(host) if host.is_ipv4() != p.container_ip.is_ipv4() => {
            return Err(FirewallError::FamilyMismatch {
                protocol: p.protocol,
                host_ip: host,
                host_port: p.host_port,
                container_ip: p.container_ip,
            })
        }
        Some(host) if !host.is_unspecified() => format!("{} daddr {host}", family(host)),
        _ => format!(
            "meta nfproto {}",
            if p.container_ip.is_ipv4() {
                "ipv4"
            } else {
                "ipv6"
            }
        ),
    };
    Ok(format!(
        "{matcher} {} dport {} dnat {target_family} to {target}",
        p.protocol, p.host_port
    ))
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

/// Bridge names are written into the script in quotes: allow only what interface names use.
fn check_bridge(name: &str) -> Result<(), FirewallError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(FirewallError::InvalidBridge(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(host_ip: Option<&str>, container_ip: &str, bridge: &str) -> PortMapping {
        PortMapping {
            protocol: Protocol::Tcp,
            host_ip: host_ip.map(|h| h.parse().unwrap()),
            host_port: 8080,
            container_ip: container_ip.parse().unwrap(),
            container_port: 80,
            bridge: bridge.to_owned(),
        }
    }

    #[test]
    fn an_empty_ruleset_only_removes_the_table() {
        assert_eq!(
            render(&Ruleset::default()).unwrap(),
            "table inet berth {}\ndelete table inet berth\n"
        );
    }

    #[test]
    fn dnat_rules_match_the_host_address_or_every_local_one_of_the_family() {
        let rule = |h, c| dnat_rule(&mapping(h, c, "br0")).unwrap();
        assert_eq!(
            rule(Some("127.0.0.1"), "10.1.0.2"),
            "ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 10.1.0.2:80"
        );
        assert_eq!(
            rule(None, "10.1.0.2"),
            "meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80"
        );
        assert_eq!(
            rule(Some("::"), "fd00::2"),
            "meta nfproto ipv6 tcp dport 8080 dnat ip6 to [fd00::2]:80"
        );
        let err = dnat_rule(&mapping(Some("::1"), "10.1.0.2", "br0")).unwrap_err();
        assert!(err.to_string().contains("different families"), "{err}");
    }

    #[test]
    fn bridge_names_that_could_break_out_of_the_quotes_are_refused() {
        for bad in [
            "a\" drop",
            "x; flush ruleset",
            "",
            "br0\n",
            "sixteen-chars-xx",
        ] {
            let ruleset = Ruleset {
                networks: vec![NetworkRules {
                    bridge: bad.to_owned(),
                    subnets: vec![],
                    internal: false,
                    masquerade: true,
                }],
                ports: vec![],
            };
            assert!(
                matches!(render(&ruleset), Err(FirewallError::InvalidBridge(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn a_missing_nft_program_is_named() {
        let firewall = Firewall::with_program(PathBuf::from("/nonexistent/nft"));
        let err = firewall.clear().unwrap_err();
        assert_eq!(
            err.to_string(),
            "run /nonexistent/nft (is nftables installed?)"
        );
    }

    #[test]
    fn ports_on_internal_networks_are_not_published() {
        let ruleset = Ruleset {
            networks: vec![NetworkRules {
                bridge: "brint".to_owned(),
                subnets: vec!["10.9.0.0/24".parse().unwrap()],
                internal: true,
                masquerade: true,
            }],
            ports: vec![mapping(None, "10.9.0.2", "brint")],
        };
        let script = render(&ruleset).unwrap();
        assert!(!script.contains("dnat ip to"), "{script}");
        assert!(
            !script.contains("oifname != \"brint\" masquerade"),
            "{script}"
        );
        assert!(
            script.contains("iifname \"brint\" oifname != \"brint\" drop"),
            "{script}"
        );
    }

    #[test]
    fn internal_networks_are_cut_off_before_published_ports_are_accepted() {
        let network = |bridge: &str, subnet: &str, internal| NetworkRules {
            bridge: bridge.to_owned(),
            subnets: vec![subnet.parse().unwrap()],
            internal,
            masquerade: true,
        };
        let ruleset = Ruleset {
            networks: vec![
                network("brout", "10.8.0.0/24", false),
                network("brint", "10.9.0.0/24", true),
            ],
            ports: vec![mapping(None, "10.8.0.2", "brout")],
        };
        let script = render(&ruleset).unwrap();
        let cut = script.find("iifname \"brint\" oifname != \"brint\" drop");
        let accepted = script.find("ct status dnat accept");
        assert!(
            cut.is_some() && accepted.is_some() && cut < accepted,
            "{script}"
        );
    }
}

//! The kernel settings bridge networking needs, written under `/proc/sys/net` of the calling
//! thread's network namespace.

use std::io;
use std::path::PathBuf;

/// A sysctl that could not be written (or an interface name that cannot name one).
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// Writing the value failed.
    #[error("set {path} to {value}")]
    Write {
        /// The file under /proc/sys.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The interface name is empty, too long or contains `/`.
    #[error("invalid interface name {0:?}")]
    InvalidInterface(String),
}

/// Writes `value` to `/proc/sys/<key>` where `key` uses `/` separators (`net/ipv4/ip_forward`).
pub fn set(key: &str, value: &str) -> Result<(), SysctlError> {
    let path = PathBuf::from("/proc/sys").join(key);
    std::fs::write(&path, value).map_err(|source| SysctlError::Write {
        path,
        value: value.to_owned(),
        source,
    })
}

/// Turns on IPv4 forwarding (`net.ipv4.ip_forward=1`), which bridge networks need to reach out.
pub fn enable_ipv4_forwarding() -> Result<(), SysctlError> {
    set("net/ipv4/ip_forward", "1")
}

/// Turns on IPv6 forwarding on all interfaces (`net.ipv6.conf.all.forwarding=1`).
///
/// As with Docker, interfaces then ignore router advertisements unless their `accept_ra` is 2.
pub fn enable_ipv6_forwarding() -> Result<(), SysctlError> {
    set("net/ipv6/conf/all/forwarding", "1")
}

/// Lets packets with a 127.0.0.0/8 source leave through `interface` (`route_localnet=1`), which
/// ports published on the host's loopback need: their DNATed packets keep the loopback source
/// until the firewall masquerades them on the way out.
pub fn enable_route_localnet(interface: &str) -> Result<(), SysctlError> {
    check_interface(interface)?;
    set(&format!("net/ipv4/conf/{interface}/route_localnet"), "1")
}

/// Turns IPv6 on for `interface` (`disable_ipv6=0`), for bridges of networks with IPv6 subnets.
pub fn enable_ipv6(interface: &str) -> Result<(), SysctlError> {
    check_interface(interface)?;
    set(&format!("net/ipv6/conf/{interface}/disable_ipv6"), "0")
}

fn check_interface(name: &str) -> Result<(), SysctlError> {
    if name.is_empty() || name.len() > 15 || name.contains('/') || name == "." || name == ".." {
        return Err(SysctlError::InvalidInterface(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_cannot_walk_out_of_the_conf_directory() {
        for bad in ["", "..", ".", "a/b", "../../../kernel", "sixteen-chars-xx"] {
            assert!(
                matches!(
                    enable_route_localnet(bad),
                    Err(SysctlError::InvalidInterface(_))
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn a_missing_interface_is_named_in_the_error() {
        let err = enable_ipv6("berth-nosuch0").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/proc/sys/net/ipv6/conf/berth-nosuch0/disable_ipv6"),
            "{text}"
        );
    }
}

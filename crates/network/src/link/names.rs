//! The names berth gives links: host-side veths findable after a crash, and bridge MACs.

use sha2::{Digest, Sha256};

use super::LinkError;

/// The longest interface name the kernel accepts (IFNAMSIZ less the NUL).
pub const MAX_NAME_LEN: usize = 15;

/// The deterministic host-side veth name for `key` (e.g. container id + network id):
/// `bv` and 12 hex digits of its SHA-256.
pub fn host_veth_name(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("bv{hex}")
}

/// Whether `name` is a berth host-side veth name (as made by [`host_veth_name`]).
pub fn is_host_veth_name(name: &str) -> bool {
    name.len() == 14
        && name.starts_with("bv")
        && name[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

pub(super) fn check_name(name: &str) -> Result<(), LinkError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(LinkError::InvalidName(name.to_owned()))
    }
}

/// A stable, locally administered unicast MAC for a bridge, so that its address does not follow
/// whichever port has the lowest MAC (which would make containers' ARP caches go stale).
pub(super) fn bridge_mac(name: &str) -> Vec<u8> {
    let digest = Sha256::digest(format!("berth bridge {name}").as_bytes());
    let mut mac = digest[..6].to_vec();
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_are_stable_short_and_recognisable() {
        let a = host_veth_name("c1/n1");
        assert_eq!(a, host_veth_name("c1/n1"));
        assert_ne!(a, host_veth_name("c1/n2"));
        assert!(a.len() <= MAX_NAME_LEN, "{a}");
        assert!(is_host_veth_name(&a), "{a}");
        assert!(!is_host_veth_name("eth0"));
        assert!(!is_host_veth_name("bvXYZ"));
    }

    #[test]
    fn names_the_kernel_would_refuse_are_rejected() {
        for bad in ["", "a/b", "a b", "sixteen-chars-xx", "..", "a:1"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        check_name("eth0").unwrap();
    }

    #[test]
    fn bridge_macs_are_stable_unicast_and_local() {
        let mac = bridge_mac("berth0");
        assert_eq!(mac, bridge_mac("berth0"));
        assert_eq!(mac[0] & 0x01, 0, "multicast bit set");
        assert_eq!(mac[0] & 0x02, 0x02, "not locally administered");
    }
}

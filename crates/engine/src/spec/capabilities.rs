//! The capability set of a container: Docker's 14 defaults tweaked by `--cap-add`/`--cap-drop`,
//! or everything for `--privileged`.

use std::collections::{BTreeSet, HashSet};

use oci_spec::runtime::{Capability, LinuxCapabilities};

use super::error::{Error, Result};
use super::seccomp::normalize_cap;

/// Docker's default capabilities (moby `oci/caps/defaults.go`), for root and non-root alike.
pub const DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability this host's kernel knows and this process may hand on (its bounding set).
fn all() -> BTreeSet<String> {
    let supported = caps::runtime::thread_all_supported();
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| supported.clone());
    supported
        .intersection(&bounding)
        .map(|c| c.to_string())
        .collect()
}

fn known(cap: &str) -> Result<String> {
    let name = normalize_cap(cap);
    parse(&name)?;
    Ok(name)
}

fn parse(name: &str) -> Result<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| Error::invalid("capability", format!("unknown capability: {name:?}")))
}

/// The capability names (`CAP_…`) a container gets, as moby's `TweakCapabilities` computes
/// them: `ALL` in `cap_add` means everything but `cap_drop`; `ALL` in `cap_drop` means only
/// `cap_add`; otherwise the defaults minus `cap_drop` plus `cap_add` (an add beats a drop).
pub fn effective(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<BTreeSet<String>> {
    if privileged {
        return Ok(all());
    }
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
    let add = cap_add
        .iter()
        .filter(|c| !is_all(c))
        .map(|c| known(c))
        .collect::<Result<BTreeSet<_>>>()?;
    let drop = cap_drop
        .iter()
        .filter(|c| !is_all(c))
        .map(|c| known(c))
        .collect::<Result<BTreeSet<_>>>()?;
    let caps = if cap_add.iter().any(is_all) {
        all().into_iter().filter(|c| !drop.contains(c)).collect()
    } else if cap_drop.iter().any(is_all) {
        add
    } else {
        DEFAULT
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .chain(add)
            .collect()
    };
    Ok(caps)
}

/// The OCI capabilities: `names` in the bounding, effective and permitted sets; nothing
/// inheritable or ambient, as Docker does.
pub fn to_oci(names: &BTreeSet<String>) -> Result<LinuxCapabilities> {
    let set = names
        .iter()
        .map(|n| parse(n))
        .collect::<Result<HashSet<_>>>()?;
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_and_drop_take_either_spelling_and_add_wins() {
        let caps = effective(
            false,
            &strings(&["net_admin", "CAP_KILL"]),
            &strings(&["KILL", "CHOWN"]),
        )
        .unwrap();
        assert!(caps.contains("CAP_NET_ADMIN"));
        assert!(caps.contains("CAP_KILL"));
        assert!(!caps.contains("CAP_CHOWN"));
        assert_eq!(caps.len(), 14);
    }

    #[test]
    fn drop_all_keeps_only_adds() {
        let caps = effective(false, &strings(&["NET_RAW"]), &strings(&["ALL"])).unwrap();
        assert_eq!(caps.into_iter().collect::<Vec<_>>(), ["CAP_NET_RAW"]);
    }

    #[test]
    fn unknown_capability_is_named() {
        let err = effective(false, &strings(&["FLY"]), &[]).unwrap_err();
        assert!(err.to_string().contains("CAP_FLY"), "{err}");
    }
}

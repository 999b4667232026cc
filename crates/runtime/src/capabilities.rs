//! Applying the five capability sets of `process.capabilities`.

use std::collections::HashSet;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

/// Converts OCI capability names to the `caps` crate's type; unknown ones are skipped, as runc
/// does for capabilities the running kernel does not know.
fn convert(set: &Option<Capabilities>) -> CapsHashSet {
    let known = caps::runtime::thread_all_supported();
    set.iter()
        .flatten()
        .filter_map(|c| format!("CAP_{c}").parse::<Cap>().ok())
        .filter(|c| known.contains(c))
        .collect()
}

/// Drops every capability not in the bounding set. Must run while CAP_SETPCAP is still held.
pub fn drop_bounding(capabilities: &LinuxCapabilities) -> Result<()> {
    let keep = convert(capabilities.bounding());
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                Error::InvalidSpec(format!("drop {cap} from the bounding set: {e}"))
            })?;
        }
    }
    Ok(())
}

/// Sets the effective, permitted, inheritable and ambient sets (after any uid change).
pub fn apply_sets(capabilities: &LinuxCapabilities) -> Result<()> {
    let effective = convert(capabilities.effective());
    let permitted = convert(capabilities.permitted());
    let inheritable = convert(capabilities.inheritable());
    let ambient = convert(capabilities.ambient());
    let set = |which: CapSet, value: &HashSet<Cap>| {
        caps::set(None, which, value)
            .map_err(|e| Error::InvalidSpec(format!("set {which:?} capabilities: {e}")))
    };
    // The kernel keeps effective within permitted at every step: shrink effective first.
    set(CapSet::Effective, &effective)?;
    set(CapSet::Inheritable, &inheritable)?;
    set(CapSet::Permitted, &permitted)?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| Error::InvalidSpec(format!("clear ambient capabilities: {e}")))?;
    for cap in ambient {
        // An ambient capability must be both permitted and inheritable; skip others like runc.
        if permitted.contains(&cap) && inheritable.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap)
                .map_err(|e| Error::InvalidSpec(format!("raise ambient {cap}: {e}")))?;
        }
    }
    Ok(())
}

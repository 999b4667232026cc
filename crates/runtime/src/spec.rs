//! Reading a bundle's `config.json`, checking it, and the default configs printed by `spec`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespace,
    LinuxNamespaceType, LinuxResources, Spec,
};

use crate::error::{Error, Result};

/// The runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";

/// Loads and validates `<bundle>/config.json`; returns the spec and the absolute rootfs path.
pub fn load_bundle(bundle: &Path) -> Result<(Spec, PathBuf)> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| Error::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let spec: Spec = serde_json::from_slice(&data).map_err(|e| Error::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    validate(&spec)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("root.path is required".into()))?;
    let rootfs = bundle.join(root.path());
    let rootfs = rootfs
        .canonicalize()
        .map_err(|e| Error::InvalidSpec(format!("root.path {}: {e}", rootfs.display())))?;
    if !rootfs.is_dir() {
        return Err(Error::InvalidSpec(format!(
            "root.path {} is not a directory",
            rootfs.display()
        )));
    }
    Ok((spec, rootfs))
}

/// Checks what serde cannot: version, process, namespaces and their combinations.
pub fn validate(spec: &Spec) -> Result<()> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(Error::InvalidSpec(format!(
            "ociVersion {version:?} is not supported (1.x expected)"
        )));
    }
    if let Some(process) = spec.process() {
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::InvalidSpec("process.args must not be empty".into()));
        }
        if !process.cwd().is_absolute() {
            return Err(Error::InvalidSpec(format!(
                "process.cwd {} is not an absolute path",
                process.cwd().display()
            )));
        }
    }
    let namespaces = namespaces(spec);
    let mut seen = HashSet::new();
    for ns in &namespaces {
        if !seen.insert(ns.typ()) {
            return Err(Error::InvalidSpec(format!(
                "namespace {:?} is listed twice",
                ns.typ()
            )));
        }
    }
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Error::InvalidSpec(
            "hostname requires a new UTS namespace".into(),
        ));
    }
    if let Some(linux) = spec.linux() {
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !has(LinuxNamespaceType::User) {
            return Err(Error::InvalidSpec(
                "uidMappings require a user namespace".into(),
            ));
        }
        if let Some(sysctl) = linux.sysctl() {
            for key in sysctl.keys() {
                check_sysctl(key, &has)?;
            }
        }
    }
    Ok(())
}

/// Refuses sysctls that are not namespaced, or whose namespace the container does not own.
fn check_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
    ];
    let ipc_prefixed = key.starts_with("kernel.shm") || key.starts_with("fs.mqueue.");
    if ipc.contains(&key) || ipc_prefixed || key == "kernel.shm_rmid_forced" {
        if has(LinuxNamespaceType::Ipc) {
            return Ok(());
        }
        return Err(Error::InvalidSpec(format!(
            "sysctl {key} requires a new IPC namespace"
        )));
    }
    if key.starts_with("net.") {
        if has(LinuxNamespaceType::Network) {
            return Ok(());
        }
        return Err(Error::InvalidSpec(format!(
            "sysctl {key} requires a new network namespace"
        )));
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if has(LinuxNamespaceType::Uts) {
            return Ok(());
        }
        return Err(Error::InvalidSpec(format!(
            "sysctl {key} requires a new UTS namespace"
        )));
    }
    Err(Error::InvalidSpec(format!(
        "sysctl {key} is not namespaced and cannot be set in a container"
    )))
}

/// The namespaces of a spec (empty when there is no `linux` section).
pub fn namespaces(spec: &Spec) -> Vec<LinuxNamespace> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
}

fn caps(list: &[Capability]) -> Option<HashSet<Capability>> {
    Some(list.iter().copied().collect())
}

/// The container's resources with device cgroup rules completed as runc does: after the spec's
/// own rules, access to the default devices (null, zero, full, random, urandom, tty, ptmx and
/// ptys) and to every device in `linux.devices` is allowed, so the init can create them.
pub fn resources_with_device_defaults(spec: &Spec) -> Option<LinuxResources> {
    let linux = spec.linux().as_ref()?;
    let mut resources = linux.resources().clone()?;
    let Some(mut rules) = resources.devices().clone() else {
        return Some(resources);
    };
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some("rwm".into()));
        r
    };
    for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)] {
        rules.push(rule(LinuxDeviceType::C, Some(major), Some(minor)));
    }
    rules.push(rule(LinuxDeviceType::C, Some(136), None));
    for device in linux.devices().iter().flatten() {
        let typ = match device.typ() {
            LinuxDeviceType::U => LinuxDeviceType::C,
            // FIFOs are not devices to the cgroup: no rule.
            LinuxDeviceType::P => continue,
            other => other,
        };
        rules.push(rule(typ, Some(device.major()), Some(device.minor())));
    }
    resources.set_devices(Some(rules));
    Some(resources)
}

/// Pretty JSON of a spec with capability lists sorted (the types keep them in hash sets).
pub fn to_pretty_json(spec: &Spec) -> String {
    let mut value = serde_json::to_value(spec).unwrap_or_default();
    if let Some(caps) = value
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for list in caps.values_mut() {
            if let Some(items) = list.as_array_mut() {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// The default config printed by `spec`: the same container as `runc spec` describes.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_hostname(Some("runc".to_string()));
    spec.set_annotations(None);
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(true));
        let defaults = [
            Capability::AuditWrite,
            Capability::Kill,
            Capability::NetBindService,
        ];
        let mut capabilities = LinuxCapabilities::default();
        capabilities.set_bounding(caps(&defaults));
        capabilities.set_effective(caps(&defaults));
        capabilities.set_permitted(caps(&defaults));
        capabilities.set_ambient(caps(&defaults));
        capabilities.set_inheritable(None);
        process.set_capabilities(Some(capabilities));
    }
    if let Some(linux) = spec.linux_mut() {
        let namespaces = linux
            .namespaces()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|ns| ns.typ() != LinuxNamespaceType::Cgroup)
            .collect();
        linux.set_namespaces(Some(namespaces));
        let mut deny_all = LinuxDeviceCgroup::default();
        deny_all.set_allow(false);
        deny_all.set_access(Some("rwm".to_string()));
        let mut resources = LinuxResources::default();
        resources.set_devices(Some(vec![deny_all]));
        linux.set_resources(Some(resources));
    }
    spec
}

/// The default config for a rootless container of the calling user, as `runc spec --rootless`.
pub fn rootless_spec(uid: u32, gid: u32) -> Spec {
    let mut spec = default_spec();
    spec.set_mounts(Some(oci_spec::runtime::get_rootless_mounts()));
    let mut linux = oci_spec::runtime::Linux::rootless(uid, gid);
    if let Some(namespaces) = linux.namespaces().clone() {
        let namespaces = namespaces
            .into_iter()
            .filter(|ns| ns.typ() != LinuxNamespaceType::Cgroup)
            .collect();
        linux.set_namespaces(Some(namespaces));
    }
    spec.set_linux(Some(linux));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_namespaces(types: &[LinuxNamespaceType]) -> Spec {
        let mut spec = default_spec();
        let namespaces = types
            .iter()
            .map(|t| {
                let mut ns = LinuxNamespace::default();
                ns.set_typ(*t);
                ns
            })
            .collect();
        spec.linux_mut()
            .as_mut()
            .unwrap()
            .set_namespaces(Some(namespaces));
        spec
    }

    #[test]
    fn default_spec_is_valid() {
        validate(&default_spec()).unwrap();
        validate(&rootless_spec(1000, 1000)).unwrap();
    }

    #[test]
    fn duplicate_namespace_is_refused() {
        let spec = with_namespaces(&[LinuxNamespaceType::Uts, LinuxNamespaceType::Uts]);
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn hostname_without_uts_namespace_is_refused() {
        let spec = with_namespaces(&[LinuxNamespaceType::Mount]);
        assert!(validate(&spec).unwrap_err().to_string().contains("UTS"));
    }

    #[test]
    fn host_wide_sysctl_is_refused() {
        let mut spec = default_spec();
        let sysctl = [("vm.swappiness".to_string(), "0".to_string())].into();
        spec.linux_mut().as_mut().unwrap().set_sysctl(Some(sysctl));
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("not namespaced"));
    }

    #[test]
    fn unknown_namespace_type_fails_to_parse() {
        let json = r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"bogus"}]}}"#;
        assert!(serde_json::from_str::<Spec>(json).is_err());
    }
}

//! Seccomp for a container: Docker's profile format (the default profile and `seccomp=FILE`),
//! filtered by the container's capabilities and the host's architecture and kernel, and turned
//! into the OCI `linux.seccomp` the runtime loads.

mod default;

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator,
    LinuxSyscall,
};
use serde::Deserialize;

use super::error::{Error, Result};

/// A seccomp profile in Docker's JSON format (`docker run --security-opt seccomp=FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// What happens to a syscall no rule matches (`SCMP_ACT_ERRNO`, …).
    pub default_action: String,
    /// The errno of an `SCMP_ACT_ERRNO` default action (EPERM when absent).
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// Architectures the filter covers, given directly.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// Architectures the filter covers, chosen by the host's own architecture.
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    /// The rules, in order.
    #[serde(default)]
    pub syscalls: Option<Vec<Rule>>,
}

/// One `archMap` entry: on `architecture`, also filter its sub-architectures.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// A libseccomp architecture name (`SCMP_ARCH_X86_64`).
    pub architecture: String,
    /// The other ABIs of that machine (`SCMP_ARCH_X86`, `SCMP_ARCH_X32`).
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One rule: an action for some syscalls, maybe only under conditions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// A single syscall name (older profiles); exclusive with `names`.
    #[serde(default)]
    pub name: Option<String>,
    /// The syscalls the rule applies to.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, …
    pub action: String,
    /// Conditions on the arguments (all must hold).
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    /// The errno of an `SCMP_ACT_ERRNO` action.
    #[serde(default)]
    pub errno_ret: Option<u32>,
    /// The rule applies only when all of these hold.
    #[serde(default)]
    pub includes: Filter,
    /// The rule is left out when any of these holds.
    #[serde(default)]
    pub excludes: Filter,
}

/// A syscall argument condition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    /// Which argument (0–5).
    pub index: u32,
    /// The value compared with.
    pub value: u64,
    /// The second value (the compared value of `SCMP_CMP_MASKED_EQ`).
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_EQ`, `SCMP_CMP_MASKED_EQ`, …
    pub op: String,
}

/// The conditions of a rule's `includes` or `excludes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Capabilities (`CAP_SYS_ADMIN`).
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    /// Go architecture names (`amd64`, `arm64`, `s390x`).
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    /// A kernel version (`4.8`).
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// Docker's default profile (see `default.rs` for the moby version it matches).
pub fn default_profile() -> Profile {
    default::profile()
}

/// Parses a profile file's content; a malformed one is an error saying what is wrong.
pub fn parse_profile(json: &str) -> Result<Profile> {
    serde_json::from_str(json).map_err(|e| Error::SeccompProfile {
        reason: e.to_string(),
    })
}

/// The host as a profile's conditions see it.
#[derive(Debug, Clone)]
pub struct Host {
    /// Go's name of the machine (`amd64`), as profiles' `arches` use.
    pub goarch: &'static str,
    /// libseccomp's name of the native architecture (`SCMP_ARCH_X86_64`).
    pub scmp_arch: &'static str,
    /// The running kernel's (major, minor) version.
    pub kernel: (u32, u32),
}

impl Host {
    /// The machine this process runs on.
    pub fn current() -> Host {
        let (goarch, scmp_arch) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "x86" => ("386", "SCMP_ARCH_X86"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            "arm" => ("arm", "SCMP_ARCH_ARM"),
            "s390x" => ("s390x", "SCMP_ARCH_S390X"),
            "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
            "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            "mips64" => ("mips64", "SCMP_ARCH_MIPS64"),
            other => (other, "SCMP_ARCH_NATIVE"),
        };
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Host {
            goarch,
            scmp_arch,
            kernel: parse_kernel(&release).unwrap_or((0, 0)),
        }
    }
}

/// `"5.10.0-26-amd64"` → `(5, 10)`.
fn parse_kernel(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

fn bad(reason: impl Into<String>) -> Error {
    Error::SeccompProfile {
        reason: reason.into(),
    }
}

fn action(name: &str) -> Result<LinuxSeccompAction> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| bad(format!("unknown action {name:?}")))
}

fn operator(name: &str) -> Result<LinuxSeccompOperator> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| bad(format!("unknown argument operator {name:?}")))
}

fn arch(name: &str) -> Result<Arch> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| bad(format!("unknown architecture {name:?}")))
}

/// Whether a rule's `includes`/`excludes` keep it for a container with `caps` on `host`.
fn applies(rule: &Rule, caps: &HashSet<String>, host: &Host) -> Result<bool> {
    let inc = &rule.includes;
    let exc = &rule.excludes;
    if let Some(arches) = &exc.arches {
        if arches.iter().any(|a| a == host.goarch) {
            return Ok(false);
        }
    }
    if let Some(excluded) = &exc.caps {
        if excluded.iter().any(|c| caps.contains(&normalize_cap(c))) {
            return Ok(false);
        }
    }
    if let Some(min) = &exc.min_kernel {
        if host.kernel >= kernel_condition(min)? {
            return Ok(false);
        }
    }
    if let Some(arches) = inc.arches.as_ref().filter(|a| !a.is_empty()) {
        if !arches.iter().any(|a| a == host.goarch) {
            return Ok(false);
        }
    }
    if let Some(required) = &inc.caps {
        if !required.iter().all(|c| caps.contains(&normalize_cap(c))) {
            return Ok(false);
        }
    }
    if let Some(min) = &inc.min_kernel {
        if host.kernel < kernel_condition(min)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn kernel_condition(version: &str) -> Result<(u32, u32)> {
    parse_kernel(version).ok_or_else(|| bad(format!("invalid minKernel {version:?}")))
}

/// `"sys_admin"` and `"CAP_SYS_ADMIN"` → `"CAP_SYS_ADMIN"`.
pub(super) fn normalize_cap(cap: &str) -> String {
    let upper = cap.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Turns `profile` into the filter for a container whose effective capabilities are `caps`
/// (`CAP_…` names) on `host`: rules whose conditions do not hold are left out.
pub fn to_oci(profile: &Profile, caps: &HashSet<String>, host: &Host) -> Result<LinuxSeccomp> {
    let default_action = action(&profile.default_action)?;
    let mut arches = Vec::new();
    match (&profile.architectures, &profile.arch_map) {
        (Some(a), Some(m)) if !a.is_empty() && !m.is_empty() => {
            return Err(bad("both architectures and archMap are given"));
        }
        (Some(a), _) if !a.is_empty() => {
            for name in a {
                arches.push(arch(name)?);
            }
        }
        (_, Some(map)) => {
            for entry in map {
                let main = arch(&entry.architecture)?;
                let subs = entry.sub_architectures.iter().flatten();
                let subs = subs.map(|s| arch(s)).collect::<Result<Vec<_>>>()?;
                if entry.architecture == host.scmp_arch {
                    arches.push(main);
                    arches.extend(subs);
                }
            }
        }
        _ => {}
    }
    let mut syscalls = Vec::new();
    for (i, rule) in profile.syscalls.iter().flatten().enumerate() {
        let names = match (&rule.name, &rule.names) {
            (Some(_), Some(n)) if !n.is_empty() => {
                return Err(bad(format!("rule {i} has both name and names")));
            }
            (Some(name), _) => vec![name.clone()],
            (None, Some(n)) if !n.is_empty() => n.clone(),
            _ => return Err(bad(format!("rule {i} names no syscall"))),
        };
        let act = action(&rule.action)?;
        if !applies(rule, caps, host)? {
            continue;
        }
        let mut args = Vec::new();
        for arg in rule.args.iter().flatten() {
            if arg.index > 5 {
                return Err(bad(format!(
                    "rule {i}: argument index {} is above 5",
                    arg.index
                )));
            }
            let mut a = LinuxSeccompArgBuilder::default()
                .index(arg.index as usize)
                .value(arg.value)
                .op(operator(&arg.op)?);
            if arg.value_two != 0 {
                a = a.value_two(arg.value_two);
            }
            args.push(a.build()?);
        }
        let mut syscall = LinuxSyscall::default();
        syscall.set_names(names);
        syscall.set_action(act);
        syscall.set_errno_ret(rule.errno_ret);
        syscall.set_args((!args.is_empty()).then_some(args));
        syscalls.push(syscall);
    }
    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(default_action);
    seccomp.set_default_errno_ret(Some(profile.default_errno_ret.unwrap_or(1)));
    seccomp.set_architectures((!arches.is_empty()).then_some(arches));
    seccomp.set_syscalls(Some(syscalls));
    Ok(seccomp)
}

#[cfg(test)]
mod tests;

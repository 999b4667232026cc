//! Building and loading the seccomp filter of `linux.seccomp` with libseccomp.
//!
//! Compiling Docker's default profile takes libseccomp about 20 ms, most of a container's
//! start. The runtime compiles a filter once, in the runtime process before it clones the init,
//! and keeps the BPF program in its state root keyed by the filter, the kernel and the runtime's
//! version; later containers load the kept program directly. Filters with a notify listener
//! or flags still go through libseccomp.

use std::os::fd::OwnedFd;
use std::path::Path;

use sha2::{Digest, Sha256};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::error::{Error, Result};

fn err(what: impl std::fmt::Display) -> Error {
    Error::Seccomp(what.to_string())
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    match action {
        LinuxSeccompAction::ScmpActKill => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

fn arch(arch: Arch) -> Result<ScmpArch> {
    let name = serde_json::to_value(arch)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let name = name.trim_start_matches("SCMP_ARCH_");
    name.parse::<ScmpArch>()
        .or_else(|_| format!("SCMP_ARCH_{name}").parse())
        .map_err(|_| err(format!("unknown architecture {name}")))
}

fn operator(op: LinuxSeccompOperator) -> fn(u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => |_| ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => |_| ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => |_| ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => |_| ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => |_| ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => |_| ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual,
    }
}

/// Whether the filter uses SCMP_ACT_NOTIFY (and so produces a listener fd to hand over).
pub fn uses_notify(seccomp: &LinuxSeccomp) -> bool {
    seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Compiles the filter. Syscalls unknown to libseccomp are skipped, as runc and crun do, so a
/// profile written for a newer kernel still loads.
pub fn build(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = action(seccomp.default_action(), seccomp.default_errno_ret());
    let mut filter = ScmpFilterContext::new(default).map_err(err)?;
    for a in seccomp.architectures().iter().flatten() {
        let a = arch(*a)?;
        if a != ScmpArch::native() {
            filter.add_arch(a).map_err(err)?;
        }
    }
    for flag in seccomp.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => {
                filter.set_ctl_log(true).map_err(err)?;
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                filter.set_ctl_ssb(true).map_err(err)?;
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
                filter.set_ctl_tsync(true).map_err(err)?;
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                filter.set_ctl_waitkill(true).map_err(err)?;
            }
        }
    }
    // The runtime sets no_new_privs itself when the spec asks; libseccomp must not force it.
    filter.set_ctl_nnp(false).map_err(err)?;
    filter
        .set_filter_attr(ScmpFilterAttr::ApiSysRawRc, 1)
        .map_err(err)?;
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue;
        }
        let mut comparators = Vec::new();
        for arg in rule.args().iter().flatten() {
            let op = operator(arg.op())(arg.value());
            let cmp = match arg.op() {
                LinuxSeccompOperator::ScmpCmpMaskedEq => {
                    ScmpArgCompare::new(arg.index() as u32, op, arg.value_two().unwrap_or(0))
                }
                _ => ScmpArgCompare::new(arg.index() as u32, op, arg.value()),
            };
            comparators.push(cmp);
        }
        for name in rule.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let result = if comparators.is_empty() {
                filter.add_rule(act, syscall)
            } else if same_arg_twice(rule.args().iter().flatten().map(|a| a.index())) {
                // libseccomp cannot AND two conditions on one argument: add them as
                // alternatives (OR), which is what profiles mean by listing them.
                comparators
                    .iter()
                    .try_for_each(|c| filter.add_rule_conditional(act, syscall, &[*c]).map(drop))
                    .map(|_| &mut filter)
            } else {
                filter.add_rule_conditional(act, syscall, &comparators)
            };
            result.map_err(|e| err(format!("rule for {name}: {e}")))?;
        }
    }
    Ok(filter)
}

fn same_arg_twice(indexes: impl Iterator<Item = usize>) -> bool {
    let mut seen = std::collections::HashSet::new();
    indexes.into_iter().any(|i| !seen.insert(i))
}

/// A filter ready for the init to load.
pub enum Prepared {
    /// A compiled classic-BPF program.
    Program(Vec<u8>),
    /// A libseccomp context (filters with a notify listener or flags).
    Context(ScmpFilterContext),
}

/// What the compiled program depends on besides the filter itself.
fn cache_key(seccomp: &LinuxSeccomp) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(seccomp).map_err(err)?);
    hasher.update(env!("CARGO_PKG_VERSION"));
    let uname = nix::sys::utsname::uname().map_err(err)?;
    hasher.update(uname.release().as_encoded_bytes());
    hasher.update(uname.machine().as_encoded_bytes());
    Ok(format!("{:x}", hasher.finalize()))
}

/// Compiles `seccomp` for the init, reusing the program kept under `cache` when there is one.
pub fn prepare(seccomp: &LinuxSeccomp, cache: &Path) -> Result<Prepared> {
    if uses_notify(seccomp) || seccomp.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return build(seccomp).map(Prepared::Context);
    }
    let path = cache.join(format!("{}.bpf", cache_key(seccomp)?));
    if let Ok(program) = std::fs::read(&path) {
        if !program.is_empty() && program.len().is_multiple_of(8) {
            return Ok(Prepared::Program(program));
        }
    }
    let context = build(seccomp)?;
    match export(&context, cache, &path) {
        Some(program) => Ok(Prepared::Program(program)),
        // A cache that cannot be written only costs the next container the compile.
        None => Ok(Prepared::Context(context)),
    }
}

/// Writes the compiled program to `path` (through a temporary file, renamed into place) and
/// returns it.
fn export(context: &ScmpFilterContext, cache: &Path, path: &Path) -> Option<Vec<u8>> {
    std::fs::create_dir_all(cache).ok()?;
    let tmp = cache.join(format!(".tmp-{}", std::process::id()));
    let written = (|| {
        let file = std::fs::File::create(&tmp).ok()?;
        context.export_bpf(&file).ok()?;
        let program = std::fs::read(&tmp).ok()?;
        (!program.is_empty() && program.len().is_multiple_of(8)).then_some(())?;
        std::fs::rename(&tmp, path).ok()?;
        Some(program)
    })();
    if written.is_none() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Loads a prepared filter into the calling process; returns the notify listener, if any.
pub fn load_prepared(filter: &Prepared, notify: bool) -> Result<Option<OwnedFd>> {
    match filter {
        Prepared::Program(program) => berth_sys::load_seccomp_program(program)
            .map(|()| None)
            .map_err(|e| err(format!("load filter: {e}"))),
        Prepared::Context(context) => load(context, notify),
    }
}

/// Loads the filter into the calling process and returns the notify listener, if any.
pub fn load(filter: &ScmpFilterContext, notify: bool) -> Result<Option<OwnedFd>> {
    filter
        .load()
        .map_err(|e| err(format!("load filter: {e}")))?;
    if !notify {
        return Ok(None);
    }
    let fd = filter.get_notify_fd().map_err(err)?;
    // The filter context owns its notify fd; keep a duplicate of our own.
    berth_sys::duplicate_raw_fd(fd)
        .map(Some)
        .map_err(|e| err(format!("duplicate notify fd: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompBuilder, LinuxSyscallBuilder};

    fn filter(errno_for: &str) -> LinuxSeccomp {
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .syscalls(vec![LinuxSyscallBuilder::default()
                .names(vec![errno_for.to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .build()
                .unwrap()])
            .build()
            .unwrap()
    }

    fn program(prepared: Prepared) -> Vec<u8> {
        match prepared {
            Prepared::Program(program) => program,
            Prepared::Context(_) => panic!("expected a compiled program"),
        }
    }

    #[test]
    fn compiled_programs_are_kept_per_filter_and_bad_ones_recompiled() {
        let cache =
            std::env::temp_dir().join(format!("berth-seccomp-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let first = program(prepare(&filter("mkdir"), &cache).unwrap());
        let kept: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
        assert_eq!(kept.len(), 1, "one program kept");
        assert_eq!(program(prepare(&filter("mkdir"), &cache).unwrap()), first);
        let other = program(prepare(&filter("rmdir"), &cache).unwrap());
        assert_ne!(other, first, "another filter, another program");
        // A damaged file is not loaded: the filter is compiled again and the file replaced.
        std::fs::write(kept[0].path(), b"1234567").unwrap();
        assert_eq!(program(prepare(&filter("mkdir"), &cache).unwrap()), first);
        assert_eq!(std::fs::read(kept[0].path()).unwrap(), first);
        std::fs::remove_dir_all(&cache).unwrap();
    }
}

//! Building and loading the seccomp filter of `linux.seccomp` with libseccomp.

use std::os::fd::OwnedFd;

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

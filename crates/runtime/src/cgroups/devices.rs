//! Device access rules for cgroup v2, which has no devices controller: the rules become an eBPF
//! program attached to the container's cgroup.
//!
//! OCI lists rules in order and a later rule overrides an earlier one, as with the v1
//! controller. A rule for all devices ("a", any major/minor, "rwm") resets the default; other
//! rules are exceptions, checked from the last to the first.

use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::BpfInsn;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Context, Result};

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;
const R7: u8 = 7;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95;

/// The kernel's device types and access bits in `struct bpf_cgroup_dev_ctx`.
fn device_type(typ: Option<LinuxDeviceType>) -> Option<i32> {
    match typ {
        Some(LinuxDeviceType::B) => Some(1),
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(2),
        Some(LinuxDeviceType::P) => Some(-1),
        Some(LinuxDeviceType::A) | None => None,
    }
}

fn access_bits(access: Option<&str>) -> i32 {
    access.unwrap_or("rwm").chars().fold(0, |bits, c| {
        bits | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

fn is_wildcard_all(rule: &LinuxDeviceCgroup) -> bool {
    device_type(rule.typ()).is_none()
        && rule.major().is_none_or(|m| m < 0)
        && rule.minor().is_none_or(|m| m < 0)
        && access_bits(rule.access().as_deref()) == 7
}

/// Compiles the rules into a program returning 1 (allow) or 0 (deny).
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<BpfInsn> {
    let mut default_allow = true;
    let mut exceptions: Vec<&LinuxDeviceCgroup> = Vec::new();
    for rule in rules {
        if device_type(rule.typ()) == Some(-1) {
            continue; // FIFOs are not subject to device rules.
        }
        if is_wildcard_all(rule) {
            default_allow = rule.allow();
            exceptions.clear();
        } else {
            exceptions.push(rule);
        }
    }
    let mut prog = vec![
        insn(LDX_W, R2, R1, 0, 0),
        insn(MOV_X, R3, R2, 0, 0),
        insn(AND_K, R3, 0, 0, 0xffff),
        insn(MOV_X, R4, R2, 0, 0),
        insn(RSH_K, R4, 0, 0, 16),
        insn(LDX_W, R5, R1, 4, 0),
        insn(LDX_W, R6, R1, 8, 0),
    ];
    for rule in exceptions.iter().rev() {
        // Each condition jumps past the rest of its block when it does not match; the offsets
        // are filled in once the block's length is known.
        let mut block: Vec<BpfInsn> = Vec::new();
        if let Some(t) = device_type(rule.typ()) {
            block.push(insn(JNE_K, R3, 0, 0, t));
        }
        let access = access_bits(rule.access().as_deref());
        block.push(insn(MOV_X, R7, R4, 0, 0));
        if rule.allow() {
            // An allow rule must cover every requested access bit.
            block.push(insn(AND_K, R7, 0, 0, !access & 7));
            block.push(insn(JNE_K, R7, 0, 0, 0));
        } else {
            // A deny rule applies if any requested bit is denied.
            block.push(insn(AND_K, R7, 0, 0, access));
            block.push(insn(JEQ_K, R7, 0, 0, 0));
        }
        if let Some(major) = rule.major().filter(|m| *m >= 0) {
            block.push(insn(JNE_K, R5, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor().filter(|m| *m >= 0) {
            block.push(insn(JNE_K, R6, 0, 0, minor as i32));
        }
        block.push(insn(MOV_K, R0, 0, 0, i32::from(rule.allow())));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JEQ_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(MOV_K, R0, 0, 0, i32::from(default_allow)));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// Attaches the program for `rules` to the cgroup v2 directory `dir`.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let cgroup = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context(|| format!("open {}", dir.display()))?;
    berth_sys::attach_device_program(cgroup.as_fd(), &program(rules))
        .context(|| format!("attach device rules to {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.into()));
        r
    }

    #[test]
    fn deny_all_then_exceptions() {
        let rules = [
            rule(false, None, None, None, "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm"),
        ];
        let prog = program(&rules);
        // The default is the last instruction pair: deny.
        assert_eq!(prog[prog.len() - 2], insn(MOV_K, R0, 0, 0, 0));
        // One exception block: type, access (mov, and, jne), major, minor, return, exit.
        assert_eq!(prog.len(), 7 + 8 + 2);
        assert_eq!(prog[7], insn(JNE_K, R3, 0, 7, 2));
    }

    #[test]
    fn no_rules_allow_everything() {
        let prog = program(&[]);
        assert_eq!(prog[prog.len() - 2], insn(MOV_K, R0, 0, 0, 1));
    }
}

//! `update`: turning flags or a resources document into `LinuxResources`.

use std::io::Read;

use berth_runtime::{Error, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::UpdateArgs;

/// Parses sizes like runc does: a number with an optional k/m/g/t (binary) suffix, or -1.
pub fn parse_bytes(text: &str) -> Result<i64> {
    let t = text.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b').trim_end_matches('i');
    let (digits, multiplier) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1i64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    digits
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| *v >= 0.0)
        .map(|v| (v * multiplier as f64) as i64)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid size {text:?}")))
}

/// The resources to apply: the `-r` document if given, with flags on top.
pub fn resources(args: &UpdateArgs) -> Result<LinuxResources> {
    let mut r = match args.resources.as_deref() {
        Some(path) => {
            let mut data = Vec::new();
            if path == "-" {
                std::io::stdin().read_to_end(&mut data)
            } else {
                std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut data))
            }
            .map_err(|e| Error::InvalidArgument(format!("read resources {path}: {e}")))?;
            serde_json::from_slice(&data)
                .map_err(|e| Error::InvalidArgument(format!("parse resources {path}: {e}")))?
        }
        None => LinuxResources::default(),
    };
    let mut memory = r.memory().unwrap_or_default();
    let mut memory_set = r.memory().is_some();
    let bytes = |v: &Option<String>| v.as_deref().map(parse_bytes).transpose();
    if let Some(v) = bytes(&args.memory)? {
        memory.set_limit(Some(v));
        memory_set = true;
    }
    if let Some(v) = bytes(&args.memory_reservation)? {
        memory.set_reservation(Some(v));
        memory_set = true;
    }
    if let Some(v) = bytes(&args.memory_swap)? {
        memory.set_swap(Some(v));
        memory_set = true;
    }
    if memory_set {
        r.set_memory(Some(memory as LinuxMemory));
    }
    let mut cpu = r.cpu().clone().unwrap_or_default();
    let mut cpu_set = r.cpu().is_some();
    if let Some(v) = args.cpu_share {
        cpu.set_shares(Some(v));
        cpu_set = true;
    }
    if let Some(v) = args.cpu_period {
        cpu.set_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = args.cpu_quota {
        cpu.set_quota(Some(v));
        cpu_set = true;
    }
    if let Some(v) = args.cpu_rt_period {
        cpu.set_realtime_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = args.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(v));
        cpu_set = true;
    }
    if let Some(v) = &args.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        cpu_set = true;
    }
    if let Some(v) = &args.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        cpu_set = true;
    }
    if cpu_set {
        r.set_cpu(Some(cpu as LinuxCpu));
    }
    if let Some(limit) = args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        r.set_pids(Some(pids));
    }
    if let Some(weight) = args.blkio_weight {
        let mut blkio: LinuxBlockIo = r.block_io().clone().unwrap_or_default();
        blkio.set_weight(Some(weight));
        r.set_block_io(Some(blkio));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("4m").unwrap(), 4 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}

//! What tests of berthd share to leave nothing behind: the containers recorded under a
//! daemon's data root, and the removal of whatever a daemon could not clean up itself (it
//! crashed, or a test killed it).

use std::path::Path;
use std::process::{Command, Stdio};

/// The ids of the containers recorded under `data_root`.
pub fn container_ids(data_root: &Path) -> Vec<String> {
    std::fs::read_dir(data_root.join("containers"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Pids of processes (other than this one) whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Removes containers `ids` with the runtime (`runtime` binary, state under `runtime_root`:
/// their processes and cgroups go), then kills every process still naming `dir` (shims).
pub fn remove(runtime: &Path, runtime_root: &Path, ids: &[String], dir: &Path) {
    for id in ids {
        let _ = Command::new(runtime)
            .arg("--root")
            .arg(runtime_root)
            .args(["delete", "--force", id])
            .stderr(Stdio::null())
            .status();
    }
    for pid in processes_mentioning(&dir.display().to_string()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

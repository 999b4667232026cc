//! Teardown of what engines leave behind: container processes and cgroups, shims and their
//! sockets, mounts. Nothing here panics: it runs during unwinding too.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::command::list_dir;
use crate::mounts::mounts;

/// Mount points of all cgroup (v1) and cgroup2 hierarchies.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let mut seen: Vec<PathBuf> = Vec::new();
    for (mount_point, fstype) in mounts() {
        if (fstype == "cgroup" || fstype == "cgroup2") && !seen.contains(&mount_point) {
            seen.push(mount_point);
        }
    }
    seen
}

/// All directories under `dir` (included), deepest first.
fn dirs_deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = fs::read_dir(&d) {
            for entry in rd.flatten() {
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(entry.path());
                }
            }
        }
        all.push(d);
    }
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    all
}

/// SIGKILLs every process in the cgroup subtree `parent` of every hierarchy, thawing frozen
/// cgroups first, until none is left (bounded).
pub fn kill_cgroup_processes(parent: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut found = false;
        for mount in cgroup_mounts() {
            let top = mount.join(parent);
            if !top.is_dir() {
                continue;
            }
            for dir in dirs_deepest_first(&top) {
                let _ = fs::write(dir.join("freezer.state"), "THAWED");
                let _ = fs::write(dir.join("cgroup.freeze"), "0");
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    found = true;
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        if !found || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes the cgroup subtree `parent` from every hierarchy (retrying while dying processes
/// leave their cgroups).
pub fn remove_cgroups(parent: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut left = false;
        for mount in cgroup_mounts() {
            let top = mount.join(parent);
            if !top.is_dir() {
                continue;
            }
            for dir in dirs_deepest_first(&top) {
                let _ = fs::remove_dir(&dir);
            }
            left |= top.exists();
        }
        if !left {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("could not remove all cgroups named {parent}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGKILLs the containerd shims that serve the containerd listening on `sock`.
pub fn kill_shims(sock: &Path) {
    let sock = sock.as_os_str().as_encoded_bytes();
    let find = || -> Vec<i32> {
        let Ok(rd) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let mut args = cmdline.split(|b| *b == 0);
                let is_shim = args
                    .next()
                    .is_some_and(|a| a.windows(15).any(|w| w == b"containerd-shim"));
                is_shim && cmdline.split(|b| *b == 0).any(|a| a == sock)
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = find();
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes the sockets of killed shims: the shims of containerd 1.x listen in the shared
/// /run/containerd/s, and each bundle's `address` file names its shim's socket.
pub fn remove_shim_sockets(containerd_state: &Path) {
    use std::os::unix::fs::FileTypeExt;
    let tasks = containerd_state.join("io.containerd.runtime.v2.task");
    for namespace in list_dir(&tasks) {
        for id in list_dir(&tasks.join(&namespace)) {
            let address = fs::read_to_string(tasks.join(&namespace).join(&id).join("address"))
                .unwrap_or_default();
            let path = Path::new(address.trim().trim_start_matches("unix://"));
            let is_socket = fs::symlink_metadata(path)
                .map(|m| m.file_type().is_socket())
                .unwrap_or(false);
            if path.parent() == Some(Path::new("/run/containerd/s")) && is_socket {
                let _ = fs::remove_file(path);
            }
        }
    }
}

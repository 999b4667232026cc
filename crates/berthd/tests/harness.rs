//! The test daemon's network namespace: berthd runs there, not in the host's, a restarted
//! berthd runs there again, and the namespace is gone once the daemon is dropped.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Daemon;

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

fn netns_of(pid: u32) -> u64 {
    inode(Path::new(&format!("/proc/{pid}/ns/net")))
}

#[test]
fn berthd_runs_in_its_own_network_namespace_across_restarts() {
    let mut daemon = Daemon::start();
    let netns = daemon.netns_path().to_path_buf();
    assert_eq!(netns_of(daemon.pid()), inode(&netns));
    assert_ne!(netns_of(daemon.pid()), netns_of(std::process::id()));
    // The mount namespace stays the host's.
    assert_eq!(
        inode(Path::new(&format!("/proc/{}/ns/mnt", daemon.pid()))),
        inode(Path::new("/proc/self/ns/mnt"))
    );

    let out = daemon
        .in_netns(&["readlink", "/proc/self/ns/net"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("net:[{}]", inode(&netns))
    );

    let before = daemon.pid();
    let snapshot = daemon.net_snapshot();
    daemon.kill_and_restart();
    assert_ne!(daemon.pid(), before);
    assert_eq!(netns_of(daemon.pid()), inode(&netns));
    assert_eq!(daemon.net_snapshot(), snapshot);

    drop(daemon);
    assert!(!netns.exists(), "{} left behind", netns.display());
}

//! Many short containers through berthd: each `docker run --rm busybox true` must leave nothing
//! behind — no mount under the daemon's roots, no cgroup, no shim, no fd in the daemon — and
//! the daemon's memory must not grow with the number of containers it ran.

use std::path::Path;
use std::time::Duration;

mod common;
use common::{cgroups_of, pids_mentioning, wait_until, Daemon};

/// Runs `docker run --rm --cidfile DIR/NAME busybox true`; returns the container's id.
fn run_true(daemon: &Daemon, cids: &Path, name: &str) -> String {
    let cidfile = cids.join(name);
    let cidfile = cidfile.to_str().unwrap();
    daemon.docker_ok(&["run", "--rm", "--cidfile", cidfile, "busybox", "true"]);
    std::fs::read_to_string(cidfile).unwrap()
}

/// The daemon's idle fd count and RSS, after one warm-up container.
fn idle(daemon: &Daemon, cids: &Path) -> (usize, u64) {
    run_true(daemon, cids, "warm-up");
    std::thread::sleep(Duration::from_millis(300));
    (daemon.fd_count(), daemon.rss_kib())
}

/// Fails the test on anything the containers `ids` left behind.
fn assert_clean(daemon: &Daemon, ids: &[String], idle_fds: usize, idle_rss: u64, rss_slack: u64) {
    wait_until("the containers' removal", Duration::from_secs(20), || {
        daemon.container_ids().is_empty()
    });
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]), "");
    assert_eq!(daemon.mounts(), Vec::<String>::new(), "mounts left");
    for id in ids {
        assert_eq!(
            cgroups_of(id),
            Vec::<std::path::PathBuf>::new(),
            "cgroups of {id}"
        );
        assert_eq!(pids_mentioning(id), Vec::<i32>::new(), "processes of {id}");
    }
    let leftovers = std::fs::read_dir(daemon.dir.join("exec/s")).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "shim sockets left");
    // Connections and blocking-pool threads wind down shortly after the last request.
    let mut fds = daemon.fd_count();
    for _ in 0..50 {
        if fds <= idle_fds + 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        fds = daemon.fd_count();
    }
    assert!(
        fds <= idle_fds + 4,
        "berthd holds {fds} fds, {idle_fds} when idle: {:?}",
        std::fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .collect::<Vec<_>>()
    );
    let rss = daemon.rss_kib();
    assert!(
        rss <= idle_rss + rss_slack,
        "berthd's RSS grew from {idle_rss} KiB to {rss} KiB"
    );
}

fn sequential(count: usize, rss_slack: u64) {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let cids = daemon.dir.join("cids");
    std::fs::create_dir(&cids).unwrap();
    let (fds, rss) = idle(&daemon, &cids);
    let ids: Vec<String> = (0..count)
        .map(|n| run_true(&daemon, &cids, &n.to_string()))
        .collect();
    assert_clean(&daemon, &ids, fds, rss, rss_slack);
}

#[test]
fn fifty_concurrent_runs_leave_nothing_behind() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let cids = daemon.dir.join("cids");
    std::fs::create_dir(&cids).unwrap();
    let (fds, rss) = idle(&daemon, &cids);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..50)
            .map(|n| {
                let (daemon, cids) = (&daemon, &cids);
                scope.spawn(move || run_true(daemon, cids, &n.to_string()))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
    // Fifty at once grow the allocator's arenas once; that is not a leak.
    assert_clean(&daemon, &ids, fds, rss, 32 << 10);
}

#[test]
fn two_hundred_sequential_runs_leave_nothing_behind() {
    sequential(200, 16 << 10);
}

/// The soak variant: `cargo nextest run -p berthd --run-ignored all load`.
#[test]
#[ignore]
fn five_hundred_sequential_runs_leave_nothing_behind() {
    sequential(500, 16 << 10);
}

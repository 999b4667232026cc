//! Many short containers through berthd: each `docker run --rm busybox true` must leave nothing
//! behind — no mount under the daemon's roots, no cgroup, no shim (running or unreaped), no fd
//! in the daemon — and the daemon's memory must not grow with the number of containers it ran.
//! Many execs and healthchecks likewise.

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
    assert_eq!(
        zombie_children(daemon),
        Vec::<String>::new(),
        "unreaped shims"
    );
    let leftovers = std::fs::read_dir(daemon.dir.join("exec/s")).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "shim sockets left");
    let fds = settled_fd_count(daemon, idle_fds + 4);
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

/// The soak variant: `cargo nextest run -p berthd --run-ignored only --test load`.
#[test]
#[ignore]
fn five_hundred_sequential_runs_leave_nothing_behind() {
    sequential(500, 16 << 10);
}

/// Children of the daemon that exited and were never reaped.
fn zombie_children(daemon: &Daemon) -> Vec<String> {
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
        let mut fields = after.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        if state == Some("Z") && ppid == Some(&daemon.pid().to_string()) {
            zombies.push(stat);
        }
    }
    zombies
}

#[test]
fn execs_and_healthchecks_leave_nothing_behind() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "host",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "1000",
    ]);
    daemon.docker_ok(&["exec", "host", "true"]);
    std::thread::sleep(Duration::from_millis(300));
    let (idle_fds, idle_rss) = (daemon.fd_count(), daemon.rss_kib());
    for n in 0..60 {
        let out = daemon.docker(&[
            "exec",
            "host",
            "sh",
            "-c",
            &format!("echo {n}; exit {}", n % 3),
        ]);
        assert_eq!(out.status.code(), Some(n % 3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{n}\n"));
    }
    std::thread::scope(|scope| {
        for _ in 0..20 {
            scope.spawn(|| daemon.docker_ok(&["exec", "host", "sleep", "0.1"]));
        }
    });
    wait_until("the healthcheck to pass", Duration::from_secs(10), || {
        daemon.inspect("{{.State.Health.Status}}", "host") == "healthy"
    });
    let top = daemon.docker_ok(&["top", "host"]);
    assert_eq!(
        top.lines().count(),
        2,
        "exec processes left in the container: {top}"
    );
    assert_eq!(zombie_children(&daemon), Vec::<String>::new());
    let fds = settled_fd_count(&daemon, idle_fds + 4);
    assert!(
        fds <= idle_fds + 4,
        "berthd holds {fds} fds, {idle_fds} when idle"
    );
    let rss = daemon.rss_kib();
    assert!(
        rss <= idle_rss + (16 << 10),
        "RSS grew from {idle_rss} KiB to {rss} KiB"
    );
    daemon.docker_ok(&["rm", "-f", "host"]);
    assert_eq!(zombie_children(&daemon), Vec::<String>::new());
}

#[test]
fn removals_racing_exits_leave_nothing_behind() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let cids = daemon.dir.join("cids");
    std::fs::create_dir(&cids).unwrap();
    let (fds, rss) = idle(&daemon, &cids);
    // Each container ends about when `rm -f` (or `stop`) reaches it.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..30)
            .map(|n| {
                let daemon = &daemon;
                scope.spawn(move || {
                    let id = daemon
                        .docker_ok(&["run", "-d", "busybox", "usleep", &(n * 3000).to_string()])
                        .trim()
                        .to_string();
                    std::thread::sleep(Duration::from_millis(n % 7 * 10));
                    if n % 2 == 0 {
                        let _ = daemon.docker(&["stop", "-t", "0", &id]);
                    }
                    daemon.docker_ok(&["rm", "-f", &id]);
                    id
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_clean(&daemon, &ids, fds, rss, 32 << 10);
}

/// berthd's fd count once it is at most `bound`, or after 5 s: connections and blocking-pool
/// threads wind down shortly after the last request.
fn settled_fd_count(daemon: &Daemon, bound: usize) -> usize {
    let mut fds = daemon.fd_count();
    for _ in 0..50 {
        if fds <= bound {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        fds = daemon.fd_count();
    }
    fds
}

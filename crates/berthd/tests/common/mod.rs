//! A berthd for tests: started in its own network namespace on a socket and roots in a temp
//! dir, driven with the real docker CLI or raw HTTP; on drop its containers are removed, their
//! leftovers killed, the daemon stopped and then its namespace deleted.
#![allow(dead_code)]

pub mod build;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::archive::{busybox_image_layer, docker_archive};
use berth_testkit::daemon::{berthd_args, berthd_log};
use berth_testkit::forward::Forward;
use berth_testkit::netns::NetNs;
use berth_testkit::tempdir::TempDir;

/// A berthd on a socket and roots in a temp dir, in a network namespace of its own.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
    pub dir: TempDir,
    launch: Launch,
    // Dropped last: after the daemon and its containers are gone.
    netns: NetNs,
}

/// The command starting berthd inside `netns` on `socket` with roots under `dir`.
pub fn berthd(netns: &NetNs, dir: &Path, socket: &Path) -> Command {
    let mut command = netns.command([env!("CARGO_BIN_EXE_berthd")]);
    berthd_args(&mut command, dir, socket);
    command
}

/// How a daemon is started, again the same way on a restart.
struct Launch {
    /// What the command line starts with before berthd (a wrapper that execs it).
    wrapper: Vec<String>,
    /// Arguments added after the harness's own.
    args: Vec<String>,
}

impl Launch {
    /// Spawns berthd in `netns`, its stderr appended to `<dir>/berthd.log`.
    fn spawn(&self, netns: &NetNs, dir: &Path, socket: &Path) -> Child {
        let berthd = env!("CARGO_BIN_EXE_berthd");
        let mut command = netns.command(self.wrapper.iter().map(String::as_str).chain([berthd]));
        berthd_args(&mut command, dir, socket);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(berthd_log(dir))
            .spawn()
            .expect("start berthd")
    }
}

impl Daemon {
    /// Starts berthd in a new network namespace and waits until its socket answers.
    pub fn start() -> Daemon {
        Daemon::start_with(&[], &[])
    }

    /// Like [`Daemon::start`], with `args` added to berthd's and the whole run through
    /// `wrapper`, a command line that ends by exec'ing the rest (empty: none). A restart
    /// runs the same command line.
    pub fn start_with(wrapper: &[&str], args: &[&str]) -> Daemon {
        let dir = TempDir::new("berthd");
        let socket = dir.join("berth.sock");
        let netns = NetNs::new();
        let launch = Launch {
            wrapper: wrapper.iter().map(|a| a.to_string()).collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        let child = launch.spawn(&netns, dir.path(), &socket);
        let mut daemon = Daemon {
            child,
            socket,
            dir,
            launch,
            netns,
        };
        daemon.wait_ready();
        daemon
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&self.socket).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("berthd exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "berthd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What berthd wrote on stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    /// SIGKILLs the daemon (its containers keep running) and starts it again on the same roots,
    /// in the same network namespace.
    pub fn kill_and_restart(&mut self) {
        self.kill_and_restart_with(|| {});
    }

    /// SIGKILLs the daemon, runs `meanwhile` while it is down, and starts it again.
    pub fn kill_and_restart_with(&mut self, meanwhile: impl FnOnce()) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        meanwhile();
        self.child = self
            .launch
            .spawn(&self.netns, self.dir.path(), &self.socket);
        self.wait_ready();
    }

    /// Another berthd on `socket` with roots under `dir`, in this daemon's network namespace.
    pub fn berthd(&self, dir: &Path, socket: &Path) -> Command {
        berthd(&self.netns, dir, socket)
    }

    /// The file the daemon's network namespace is bind-mounted on.
    pub fn netns_path(&self) -> &Path {
        self.netns.path()
    }

    /// `argv` run inside the daemon's network namespace (nsenter --net), e.g. curl on a port
    /// published on 127.0.0.1 or `nft list ruleset`.
    pub fn in_netns(&self, argv: &[&str]) -> Command {
        self.netns.command(argv)
    }

    /// Makes `address` (`127.0.0.1:PORT`) of the test's namespace, e.g. a registry's,
    /// reachable at the same address from the daemon, until the result is dropped.
    pub fn forward(&self, address: &str) -> Forward {
        self.netns.forward(address)
    }

    /// Links, addresses, routes and the nftables ruleset of the daemon's namespace, without
    /// what changes by itself: equal snapshots mean nothing was left set up in between.
    pub fn net_snapshot(&self) -> String {
        self.netns.snapshot()
    }

    /// Loads a busybox image named `name` through the docker CLI.
    pub fn load_busybox(&self, name: &str) {
        let archive = self.dir.join("busybox.tar");
        docker_archive(&archive, &[busybox_image_layer()], Some(name));
        self.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    }

    /// Runs `docker -H unix://SOCK args…` with a private client config.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_command(args)
            // On a 401 the CLI asks for credentials on stdin; a test has none to give.
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// The docker command, for tests that need its stdin.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args);
        command
    }

    /// Runs docker and returns its stdout, failing the test if docker fails.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// One raw HTTP/1.0 request; returns the status, the headers (lower-cased) and the body.
    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
        let mut stream = UnixStream::connect(&self.socket).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        // A daemon refusing a body too large answers before reading all of it.
        let _ = stream.write_all(body);
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_lowercase(), body.to_string())
    }

    /// The ids of the containers recorded under the data root.
    pub fn container_ids(&self) -> Vec<String> {
        berth_testkit::leftovers::container_ids(&self.dir.join("data"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let ids = self.container_ids();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.docker(&args);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        berth_testkit::leftovers::remove(
            &runtime_binary(),
            &self.dir.join("exec/runtime"),
            &ids,
            self.dir.path(),
        );
    }
}

/// The berth-runtime binary next to berthd.
/// The `berth-probe` test program (tools/probe), a static binary to bind-mount into containers.
pub fn probe_binary() -> PathBuf {
    runtime_binary().with_file_name("berth-probe")
}

pub fn runtime_binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_berthd"))
        .parent()
        .unwrap()
        .join("berth-runtime")
}

impl Daemon {
    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many file descriptors the daemon holds open.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("list the daemon's fds")
            .count()
    }

    /// The daemon's resident set size in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// `docker inspect -f FORMAT key`, trimmed.
    pub fn inspect(&self, format: &str, key: &str) -> String {
        self.docker_ok(&["inspect", "-f", format, key])
            .trim()
            .to_string()
    }

    /// The lines of /proc/mounts naming a path under the daemon's temp dir.
    pub fn mounts(&self) -> Vec<String> {
        let dir = self.dir.path().display().to_string();
        std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&dir))
            .map(str::to_string)
            .collect()
    }
}

/// Polls `condition` every 20 ms until it holds; fails the test with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pids of processes whose command line mentions `needle` (shims name their container id).
pub fn pids_mentioning(needle: &str) -> Vec<i32> {
    berth_testkit::leftovers::processes_mentioning(needle)
}

/// Cgroup directories `/sys/fs/cgroup/*/berth/<id>` (v1) or `/sys/fs/cgroup/berth/<id>` (v2)
/// that exist for container `id`.
pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    let mut bases = vec![root.to_path_buf()];
    bases.extend(
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    );
    for base in bases {
        let candidate = base.join("berth").join(id);
        if candidate.exists() {
            found.push(candidate);
        }
    }
    found
}

/// The Unix time `offset` seconds from now, as `docker events --since/--until` take it.
pub fn unix_time_in(offset: u64) -> String {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + offset)
        .to_string()
}

/// A child process (a client, a server the test started) killed and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

//! A private Docker engine for one test: containerd and Debian's dockerd with their own roots,
//! sockets and cgroup parent, dockerd in its own network namespace (`unshare --net`: with
//! `--bridge=none` it would otherwise delete the host's docker0). `Drop` removes the
//! containers, stops the daemons, kills leftover shims and container processes, unmounts and
//! removes everything, also when the test fails.

pub mod cleanup;
pub mod command;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::mounts::unmount_all_under;
use cleanup::{kill_cgroup_processes, kill_shims, remove_cgroups, remove_shim_sockets};
pub use command::{
    find_in_path, list_dir, path_str, run_command, run_command_with_timeout, tool,
    wait_with_timeout, Outcome, COMMAND_TIMEOUT,
};

/// What to install when an engine is missing.
pub const INSTALL_HINT: &str =
    "install the engines with `apt-get install docker.io containerd busybox-static` (CI installs them)";
/// The containerd namespace `ctr` commands use.
pub const CTR_NAMESPACE: &str = "berth-e2e";
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(30);
const DAEMON_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of each engine command while tearing down.
const CLEANUP_COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// Engines share /run/containerd/s and /run/docker: one at a time in a test binary.
static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How dockerd is started and where a failed test's logs go.
#[derive(Default, Clone)]
pub struct EngineOptions {
    /// `--add-runtime <name>=<path>`: an OCI runtime dockerd can run containers with.
    pub add_runtime: Option<(String, PathBuf)>,
    /// Where to copy the daemons' logs when the test fails (else their tails are printed).
    pub keep_logs_in: Option<PathBuf>,
}

/// A daemon process and its log file.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Daemon {
        let file = File::create(&log).expect("create daemon log");
        let file2 = file.try_clone().expect("clone daemon log");
        for var in [
            "NOTIFY_SOCKET",
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
            "CONTAINERD_ADDRESS",
            "DOCKER_HOST",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null()).stdout(file).stderr(file2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}; {INSTALL_HINT}"));
        Daemon { name, child, log }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL if it is still running after `DAEMON_STOP_TIMEOUT`.
    fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        if wait_with_timeout(&mut self.child, DAEMON_STOP_TIMEOUT).is_none() {
            eprintln!("{} did not stop on SIGTERM; killed it", self.name);
        }
    }
}

/// containerd (and, once started, dockerd) of one test; `Drop` tears it all down.
pub struct Engine {
    name: String,
    options: EngineOptions,
    /// Canonical path of the test's temporary directory.
    pub dir: PathBuf,
    /// Cgroup parent (relative to each hierarchy's root) of all containers of this test.
    pub cgroup_parent: String,
    /// containerd's socket.
    pub containerd_sock: PathBuf,
    /// dockerd's socket.
    pub docker_sock: PathBuf,
    containerd: Option<Daemon>,
    dockerd: Option<Daemon>,
    /// A registry serving inside dockerd's network namespace.
    registry: Option<Daemon>,
    /// Shared directories under /run the daemons create; removed at the end if they did not
    /// exist before and are empty.
    new_run_dirs: Vec<PathBuf>,
    _serial: MutexGuard<'static, ()>,
}

impl Engine {
    /// Starts containerd, then dockerd on it.
    pub fn start(test: &str, options: EngineOptions) -> Engine {
        let mut engine = Engine::new(test, options);
        engine.start_containerd();
        engine.start_dockerd();
        engine
    }

    /// The directories of an engine, with no daemon started yet.
    pub fn new(test: &str, options: EngineOptions) -> Engine {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            nix::unistd::geteuid().is_root(),
            "the docker/containerd tests must run as root (they start dockerd and containerd)"
        );
        let name = format!(
            "berth-e2e-{test}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Unix socket paths are limited to 108 bytes: stay short.
        let mut base = std::env::temp_dir();
        if base.as_os_str().len() > 40 {
            base = PathBuf::from("/tmp");
        }
        let dir = base.join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create test directory");
        let dir = fs::canonicalize(&dir).expect("canonicalize test directory");
        let new_run_dirs = [
            "/run/containerd/s",
            "/run/containerd/fifo",
            "/run/containerd/runc",
            "/run/containerd",
            "/run/docker/plugins",
            "/run/docker",
        ]
        .into_iter()
        .map(PathBuf::from)
        .filter(|p| !p.exists())
        .collect();
        Engine {
            containerd_sock: dir.join("containerd/containerd.sock"),
            docker_sock: dir.join("docker/docker.sock"),
            cgroup_parent: name.clone(),
            name,
            options,
            dir,
            containerd: None,
            dockerd: None,
            registry: None,
            new_run_dirs,
            _serial: serial,
        }
    }

    /// Starts containerd with its own root, state and socket (CRI disabled: it would start a
    /// streaming server and look for CNI).
    pub fn start_containerd(&mut self) {
        let root = self.dir.join("containerd");
        for sub in ["root", "state", "opt", "tmp"] {
            fs::create_dir_all(root.join(sub)).expect("create containerd directories");
        }
        let d = path_str(&root);
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ntemp = \"{d}/tmp\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n",
            sock = path_str(&self.containerd_sock)
        );
        let config_path = root.join("config.toml");
        fs::write(&config_path, config).expect("write containerd config");
        let mut cmd = Command::new(tool("containerd"));
        cmd.arg("--config").arg(&config_path);
        self.containerd = Some(Daemon::spawn(
            "containerd",
            cmd,
            self.dir.join("containerd.log"),
        ));
        self.wait_until_ready("containerd", |engine| {
            UnixStream::connect(&engine.containerd_sock).is_ok()
                && engine.ctr(&["version"]).success()
        });
    }

    /// Starts dockerd on this containerd, in its own network namespace, with its own data and
    /// exec roots, no bridge and no firewall rules.
    pub fn start_dockerd(&mut self) {
        let root = self.dir.join("docker");
        fs::create_dir_all(root.join("data")).expect("create dockerd data root");
        fs::create_dir_all(root.join("exec")).expect("create dockerd exec root");
        // dockerd before 23 writes a trust key to /etc/docker/key.json unless told otherwise.
        let version = run_command(Command::new(tool("dockerd")).arg("--version"), &self.dir);
        let major: u32 = version
            .stdout
            .split("version ")
            .nth(1)
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.trim().parse().ok())
            .unwrap_or(0);
        let daemon_json = if major > 0 && major < 23 {
            format!(
                r#"{{"deprecated-key-path": "{}/key.json"}}"#,
                path_str(&root)
            )
        } else {
            "{}".to_string()
        };
        fs::write(root.join("daemon.json"), daemon_json).expect("write daemon.json");

        let mut cmd = Command::new(tool("unshare"));
        cmd.args(["--net", "--"])
            .arg(tool("dockerd"))
            .arg("--config-file")
            .arg(root.join("daemon.json"))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", path_str(&self.docker_sock)))
            .arg("--containerd")
            .arg(&self.containerd_sock)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--bridge=none",
                "--userland-proxy=false",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{}", self.cgroup_parent));
        if let Some((name, path)) = &self.options.add_runtime {
            cmd.arg("--add-runtime")
                .arg(format!("{name}={}", path_str(path)));
        }
        self.dockerd = Some(Daemon::spawn("dockerd", cmd, self.dir.join("dockerd.log")));
        self.wait_until_ready("dockerd", |engine| docker_ping(&engine.docker_sock));
    }

    /// Polls `ready` until it holds; fails (with the logs) if a daemon exits or time runs out.
    fn wait_until_ready(&mut self, what: &str, ready: impl Fn(&Engine) -> bool) {
        let deadline = Instant::now() + DAEMON_START_TIMEOUT;
        loop {
            let exited = [&mut self.containerd, &mut self.dockerd, &mut self.registry]
                .into_iter()
                .flatten()
                .find_map(|d| match d.child.try_wait() {
                    Ok(Some(status)) => Some((d.name, status)),
                    _ => None,
                });
            if let Some((name, status)) = exited {
                self.fail(&format!("{name} exited during startup: {status}"));
            }
            if ready(self) {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "{what} did not answer within {DAEMON_START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `args` in dockerd's network namespace.
    pub fn in_netns(&self, args: &[&str]) -> Outcome {
        let pid = self.dockerd.as_ref().expect("dockerd runs").child.id();
        let mut cmd = Command::new(tool("nsenter"));
        cmd.arg(format!("--net=/proc/{pid}/ns/net"))
            .arg("--")
            .args(args);
        run_command(&mut cmd, &self.dir)
    }

    /// Serves the registry storage `storage` on `address` inside dockerd's network namespace,
    /// which cannot see the host's 127.0.0.1 (a second registry process on the same storage).
    pub fn serve_registry(&mut self, storage: &Path, address: &str) {
        self.expect_ok(self.in_netns(&["ip", "link", "set", "lo", "up"]));
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\nlog:\n  level: error\n",
            storage.display()
        );
        let path = self.dir.join("registry.yml");
        fs::write(&path, config).expect("write registry config");
        let pid = self.dockerd.as_ref().expect("dockerd runs").child.id();
        let mut cmd = Command::new(tool("nsenter"));
        cmd.arg(format!("--net=/proc/{pid}/ns/net"))
            .args(["--", "docker-registry", "serve"])
            .arg(&path);
        self.registry = Some(Daemon::spawn(
            "registry",
            cmd,
            self.dir.join("registry.log"),
        ));
        let url = format!("http://{address}/v2/");
        self.wait_until_ready("the registry in dockerd's namespace", |engine| {
            engine
                .in_netns(&["/bin/busybox", "wget", "-q", "-O", "/dev/null", &url])
                .success()
        });
    }

    /// Runs the docker CLI against this dockerd.
    pub fn docker<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        self.docker_with_timeout(args, COMMAND_TIMEOUT)
    }

    /// [`docker`](Self::docker) with another timeout.
    pub fn docker_with_timeout<S: AsRef<OsStr>>(&self, args: &[S], timeout: Duration) -> Outcome {
        let mut cmd = Command::new(tool("docker"));
        cmd.env("DOCKER_CONFIG", self.dir.join("docker-cli"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .arg("-H")
            .arg(format!("unix://{}", path_str(&self.docker_sock)))
            .args(args);
        run_command_with_timeout(&mut cmd, &self.dir, timeout)
    }

    /// Like [`docker`](Self::docker) (at most two minutes), and the command must succeed;
    /// returns its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker_with_timeout(args, Duration::from_secs(120));
        self.expect_ok(out).stdout
    }

    /// Runs `ctr` against this containerd, in [`CTR_NAMESPACE`].
    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        self.ctr_with_timeout(args, COMMAND_TIMEOUT)
    }

    /// [`ctr`](Self::ctr) with another timeout.
    pub fn ctr_with_timeout<S: AsRef<OsStr>>(&self, args: &[S], timeout: Duration) -> Outcome {
        let mut cmd = Command::new(tool("ctr"));
        cmd.env_remove("CONTAINERD_SNAPSHOTTER")
            .arg("--address")
            .arg(&self.containerd_sock)
            .arg("--namespace")
            .arg(CTR_NAMESPACE)
            .args(args);
        run_command_with_timeout(&mut cmd, &self.dir, timeout)
    }

    /// Fails the test (with the daemons' warnings and errors) unless `out` succeeded.
    pub fn expect_ok(&self, out: Outcome) -> Outcome {
        if !out.success() {
            self.fail(&format!("command failed:\n{}", out.describe()));
        }
        out
    }

    /// Panics with `msg` and the warnings and errors the daemons logged.
    pub fn fail(&self, msg: &str) -> ! {
        let mut report = format!("{msg}\n");
        for daemon in [&self.containerd, &self.dockerd, &self.registry]
            .into_iter()
            .flatten()
        {
            report.push_str(&format!(
                "\n=== {} warnings/errors (last 30) ===\n{}\n",
                daemon.name,
                log_problems(&daemon.log, 30)
            ));
        }
        if let Some(keep) = &self.options.keep_logs_in {
            report.push_str(&format!(
                "full logs kept in {}\n",
                keep.join(&self.name).display()
            ));
        }
        panic!("{report}");
    }

    /// Deletes whatever containers are left through the engines, so that the shims exit and
    /// clean up after themselves.
    fn remove_containers_through_engines(&mut self) {
        if self.dockerd.as_mut().is_some_and(Daemon::alive) {
            let out = self.docker_with_timeout(&["ps", "-aq"], CLEANUP_COMMAND_TIMEOUT);
            let ids: Vec<&str> = out.stdout.split_whitespace().collect();
            if out.success() && !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                self.docker_with_timeout(&args, CLEANUP_COMMAND_TIMEOUT);
            }
        }
        if self.containerd.as_mut().is_some_and(Daemon::alive) {
            let out = self.ctr_with_timeout(&["tasks", "ls", "-q"], CLEANUP_COMMAND_TIMEOUT);
            for id in out.stdout.split_whitespace() {
                self.ctr_with_timeout(&["tasks", "rm", "-f", id], CLEANUP_COMMAND_TIMEOUT);
            }
            let out = self.ctr_with_timeout(&["containers", "ls", "-q"], CLEANUP_COMMAND_TIMEOUT);
            for id in out.stdout.split_whitespace() {
                self.ctr_with_timeout(&["containers", "rm", id], CLEANUP_COMMAND_TIMEOUT);
            }
        }
    }

    /// Keeps (or prints the tails of) the daemons' logs of a failed test.
    fn keep_logs(&self) {
        for log in ["containerd.log", "dockerd.log", "registry.log"] {
            let from = self.dir.join(log);
            if !from.is_file() {
                continue;
            }
            if let Some(keep) = &self.options.keep_logs_in {
                let keep = keep.join(&self.name);
                if fs::create_dir_all(&keep).is_ok() {
                    let _ = fs::copy(&from, keep.join(log));
                }
            } else {
                let text = fs::read_to_string(&from).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!(
                    "=== {log} (last lines) ===\n{}",
                    lines[lines.len().saturating_sub(20)..].join("\n")
                );
            }
        }
    }

    fn teardown(&mut self) {
        // Container processes first (a frozen cgroup is thawed before SIGKILL), then the
        // containers through the engines, then the daemons and any shim left behind.
        kill_cgroup_processes(&self.cgroup_parent);
        self.remove_containers_through_engines();
        for daemon in [&mut self.registry, &mut self.dockerd, &mut self.containerd]
            .into_iter()
            .flatten()
        {
            daemon.stop();
        }
        kill_shims(&self.containerd_sock);
        remove_shim_sockets(&self.dir.join("containerd/state"));
        kill_cgroup_processes(&self.cgroup_parent);
        remove_cgroups(&self.cgroup_parent);
        if std::thread::panicking() {
            self.keep_logs();
        }
        let remaining = unmount_all_under(&self.dir);
        if remaining.is_empty() {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                eprintln!("cannot remove {}: {e}", self.dir.display());
            }
        } else {
            eprintln!(
                "left {} in place: still mounted under it: {remaining:?}",
                self.dir.display()
            );
        }
        // Shims remove their sockets as they exit, maybe just after this: retry a little.
        for _ in 0..50 {
            for dir in &self.new_run_dirs {
                let _ = fs::remove_dir(dir);
            }
            if self.new_run_dirs.iter().all(|d| !d.exists()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// GET /_ping over the docker socket.
fn docker_ping(sock: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.") && response.lines().next().is_some_and(|l| l.contains(" 200 "))
}

/// The last `max` warning/error lines of a daemon log (each cut at 2000 bytes).
fn log_problems(log: &Path, max: usize) -> String {
    let text = String::from_utf8_lossy(&fs::read(log).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("level=warning")
                || l.contains("level=error")
                || l.contains("level=fatal")
                || l.contains("panic")
        })
        .collect();
    let start = lines.len().saturating_sub(max);
    lines[start..]
        .iter()
        .map(|l| {
            if l.len() > 2000 {
                let mut end = 2000;
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}...", &l[..end])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

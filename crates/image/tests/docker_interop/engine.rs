//! A private Docker engine for one test: containerd and Debian's dockerd with their own roots,
//! sockets and cgroup parent, dockerd in its own network namespace (`--bridge=none` would
//! otherwise delete the host's docker0). `Drop` stops both, kills leftover shims and
//! container processes, unmounts and removes everything, also when the test fails.
//!
//! Modelled on crates/runtime/tests/engines (which also drives berth-runtime); trimmed to
//! what image tests need: the default runc, `docker load/save/run --rm`.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Engine {
    pub dir: PathBuf,
    containerd_sock: PathBuf,
    docker_sock: PathBuf,
    cgroup_parent: String,
    daemons: Vec<(&'static str, Child)>,
    /// Directories under /run the daemons create that did not exist before.
    new_run_dirs: Vec<PathBuf>,
}

fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> (&'static str, Child) {
    let file = fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    for var in [
        "NOTIFY_SOCKET",
        "LISTEN_FDS",
        "LISTEN_PID",
        "CONTAINERD_ADDRESS",
        "DOCKER_HOST",
    ] {
        cmd.env_remove(var);
    }
    let child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {name}: {e} (apt-get install docker.io containerd)")
    });
    (name, child)
}

impl Engine {
    /// Starts containerd and dockerd; panics (after cleaning up) if either does not answer.
    pub fn start(test: &str) -> Engine {
        assert!(
            nix::unistd::geteuid().is_root(),
            "starting dockerd needs root"
        );
        // Unix socket paths are short: stay in /tmp.
        let name = format!("berth-img-{test}-{}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
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
        let mut engine = Engine {
            containerd_sock: dir.join("containerd/containerd.sock"),
            docker_sock: dir.join("docker.sock"),
            cgroup_parent: name,
            daemons: Vec::new(),
            new_run_dirs,
            dir,
        };
        engine.start_containerd();
        engine.start_dockerd();
        engine
    }

    fn start_containerd(&mut self) {
        let root = self.dir.join("containerd");
        for sub in ["root", "state", "opt", "tmp"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        let d = root.display();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ntemp = \"{d}/tmp\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n",
            sock = self.containerd_sock.display()
        );
        fs::write(root.join("config.toml"), config).unwrap();
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(root.join("config.toml"));
        self.daemons
            .push(spawn("containerd", cmd, &self.dir.join("containerd.log")));
        let sock = self.containerd_sock.clone();
        self.wait_for("containerd", || UnixStream::connect(&sock).is_ok());
    }

    fn start_dockerd(&mut self) {
        let root = self.dir.join("docker");
        fs::create_dir_all(root.join("data")).unwrap();
        fs::create_dir_all(root.join("exec")).unwrap();
        // dockerd before 23 writes a trust key to /etc/docker/key.json unless told otherwise.
        let config = format!(
            r#"{{"deprecated-key-path": "{}/key.json"}}"#,
            root.display()
        );
        fs::write(root.join("daemon.json"), config).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "--", "dockerd", "--config-file"])
            .arg(root.join("daemon.json"))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.docker_sock.display()))
            .arg("--containerd")
            .arg(&self.containerd_sock)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--ip-forward=false",
            ])
            .args([
                "--bridge=none",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{}", self.cgroup_parent));
        self.daemons
            .push(spawn("dockerd", cmd, &self.dir.join("dockerd.log")));
        let sock = self.docker_sock.clone();
        self.wait_for("dockerd", || {
            Command::new("curl")
                .args(["-sf", "--max-time", "2", "--unix-socket"])
                .arg(&sock)
                .arg("http://docker/_ping")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    fn wait_for(&mut self, name: &str, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !ready() {
            let mut exited = None;
            for (daemon, child) in &mut self.daemons {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some((*daemon, status));
                }
            }
            if let Some((daemon, status)) = exited {
                panic!("{daemon} exited ({status}); log:\n{}", self.log(daemon));
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not answer; log:\n{}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self, daemon: &str) -> String {
        let text = fs::read_to_string(self.dir.join(format!("{daemon}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Runs the docker CLI against this engine (at most two minutes).
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["-k", "5", "120", "docker", "-H"])
            .arg(format!("unix://{}", self.docker_sock.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("run docker")
    }

    /// Like [`docker`](Self::docker), and the command must succeed; returns its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}{}\ndockerd log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log("dockerd")
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// SIGTERM, then SIGKILL after ten seconds.
fn stop(child: &mut Child) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Processes whose command line mentions `needle` (the shims of this test's containerd).
fn processes_mentioning(needle: &[u8]) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid: &i32| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.split(|b| *b == 0).any(|arg| arg == needle)
        })
        .collect()
}

/// Kills the processes in, then removes, the cgroup `parent` in every hierarchy.
fn remove_cgroup(parent: &str) {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if !matches!(fields.get(sep + 1), Some(&"cgroup") | Some(&"cgroup2")) {
            continue;
        }
        let top = Path::new(fields[4]).join(parent);
        let mut dirs = vec![top.clone()];
        let mut i = 0;
        while i < dirs.len() {
            if let Ok(entries) = fs::read_dir(&dirs[i]) {
                dirs.extend(
                    entries
                        .flatten()
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.path()),
                );
            }
            i += 1;
        }
        for dir in dirs.iter().rev() {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.parse().ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Detaches every mount under `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // dockerd first (it stops its containers), then containerd, then whatever outlived them.
        while let Some((_, mut child)) = self.daemons.pop() {
            stop(&mut child);
        }
        for pid in processes_mentioning(self.containerd_sock.as_os_str().as_encoded_bytes()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        remove_cgroup(&self.cgroup_parent);
        unmount_under(&self.dir);
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove {}: {e}", self.dir.display());
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

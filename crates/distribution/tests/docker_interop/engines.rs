//! containerd and dockerd for one test, the way crates/runtime/tests/engines starts them: own
//! roots, sockets and cgroup parent, dockerd in its own network namespace (`unshare --net`),
//! and everything stopped, unmounted and removed on drop, also when the test fails.
//!
//! dockerd's network namespace cannot see the host's 127.0.0.1, so a second registry process
//! serving the same storage directory is started inside it ([`Engines::serve_registry`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The daemons of one test.
pub struct Engines {
    pub dir: PathBuf,
    cgroup_parent: String,
    containerd: Option<Child>,
    dockerd: Option<Child>,
    registry: Option<Child>,
}

fn spawn(mut command: Command, log: &Path) -> Child {
    let file = fs::File::create(log).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .env_remove("NOTIFY_SOCKET")
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (apt-get install docker.io containerd)"))
}

fn wait_until(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, then SIGKILL after ten seconds.
fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
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

impl Engines {
    /// Starts containerd, then dockerd on it.
    pub fn start(name: &str) -> Engines {
        // Unix socket paths are short: stay in /tmp.
        let dir = PathBuf::from(format!("/tmp/berth-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut engines = Engines {
            cgroup_parent: format!("berth-{name}-{}", std::process::id()),
            dir,
            containerd: None,
            dockerd: None,
            registry: None,
        };
        let d = engines.dir.display().to_string();
        let config = format!(
            "version = 2\nroot = \"{d}/containerd/root\"\nstate = \"{d}/containerd/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/containerd/opt\"\n"
        );
        fs::write(engines.dir.join("containerd.toml"), config).unwrap();
        let mut containerd = Command::new("containerd");
        containerd
            .arg("--config")
            .arg(engines.dir.join("containerd.toml"));
        let log = engines.dir.join("containerd.log");
        engines.containerd = Some(spawn(containerd, &log));
        let sock = engines.dir.join("containerd.sock");
        wait_until("containerd", &log, || sock.exists());

        // dockerd 20.10 writes a trust key to /etc/docker/key.json unless told otherwise.
        fs::write(
            engines.dir.join("daemon.json"),
            format!(r#"{{"deprecated-key-path": "{d}/key.json"}}"#),
        )
        .unwrap();
        let mut dockerd = Command::new("unshare");
        dockerd
            .args(["--net", "--", "dockerd", "--config-file"])
            .arg(engines.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(engines.dir.join("docker-data"))
            .arg("--exec-root")
            .arg(engines.dir.join("docker-exec"))
            .arg("--pidfile")
            .arg(engines.dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{d}/docker.sock"))
            .arg("--containerd")
            .arg(&sock)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--bridge=none",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{}", engines.cgroup_parent));
        let log = engines.dir.join("dockerd.log");
        engines.dockerd = Some(spawn(dockerd, &log));
        wait_until("dockerd", &log, || {
            engines.docker(&["version"]).status.success()
        });
        engines.in_netns(&["ip", "link", "set", "lo", "up"]);
        engines
    }

    /// Runs a command in dockerd's network namespace.
    fn in_netns(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(self.netns())
            .arg("--")
            .args(args)
            .output()
            .unwrap()
    }

    fn netns(&self) -> String {
        let pid = self.dockerd.as_ref().expect("dockerd runs").id();
        format!("--net=/proc/{pid}/ns/net")
    }

    /// Serves the registry storage `storage` on `address` inside dockerd's network namespace.
    pub fn serve_registry(&mut self, storage: &Path, address: &str) {
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\nlog:\n  level: error\n",
            storage.display()
        );
        let path = self.dir.join("registry.yml");
        fs::write(&path, config).unwrap();
        let mut command = Command::new("nsenter");
        command
            .arg(self.netns())
            .args(["--", "docker-registry", "serve"])
            .arg(&path);
        let log = self.dir.join("registry.log");
        self.registry = Some(spawn(command, &log));
        let url = format!("http://{address}/v2/");
        wait_until("the registry in dockerd's namespace", &log, || {
            self.in_netns(&["/bin/busybox", "wget", "-q", "-O", "/dev/null", &url])
                .status
                .success()
        });
    }

    /// Runs the docker CLI against this dockerd (at most two minutes).
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("120")
            .arg("docker")
            .env("DOCKER_CONFIG", self.dir.join("docker-cli"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .arg("-H")
            .arg(format!("unix://{}/docker.sock", self.dir.display()))
            .args(args)
            .output()
            .unwrap()
    }

    /// Every mount point under the test's directory, innermost first.
    fn mounts_under(&self) -> Vec<PathBuf> {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut list: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|m| PathBuf::from(m.replace("\\040", " ")))
            .filter(|m| m.starts_with(&self.dir))
            .collect();
        list.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        list
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        if self.dockerd.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                self.docker(&["rm", "-f", id]);
            }
        }
        for child in [&mut self.registry, &mut self.dockerd, &mut self.containerd]
            .into_iter()
            .flatten()
        {
            stop(child);
        }
        // Shims of this containerd (they name its socket on their command line).
        let sock = self.dir.join("containerd.sock");
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let is_ours = cmdline
                .split(|b| *b == 0)
                .any(|a| a == sock.as_os_str().as_encoded_bytes());
            let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            if is_ours && String::from_utf8_lossy(program).contains("containerd-shim") {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for mount in self.mounts_under() {
            let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
        }
        // cgroup v1 (one hierarchy per controller) and v2 (one tree).
        for cgroups in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(cgroups.path().join(&self.cgroup_parent));
        }
        let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.cgroup_parent));
        if std::thread::panicking() {
            for log in ["containerd.log", "dockerd.log", "registry.log"] {
                let text = fs::read_to_string(self.dir.join(log)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                eprintln!("=== {log} (last lines) ===");
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

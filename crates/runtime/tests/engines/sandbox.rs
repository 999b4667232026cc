//! The daemons one test starts, and their complete teardown.

use super::*;

pub(super) struct Daemon {
    pub(super) name: &'static str,
    pub(super) child: Child,
    pub(super) log: PathBuf,
}

impl Daemon {
    pub(super) fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Daemon {
        let file = File::create(&log).expect("create daemon log");
        let file2 = file.try_clone().expect("clone daemon log");
        for var in [
            "NOTIFY_SOCKET",
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null()).stdout(file).stderr(file2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}; {INSTALL_HINT}"));
        Daemon { name, child, log }
    }

    /// SIGTERM, then SIGKILL if it is still running after `DAEMON_STOP_TIMEOUT`.
    pub(super) fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        if wait_with_timeout(&mut self.child, DAEMON_STOP_TIMEOUT).is_none() {
            eprintln!("{} did not stop on SIGTERM; killed it", self.name);
        }
    }
}

/// Everything one test starts; `Drop` tears it all down.
pub(super) struct Sandbox {
    pub(super) name: String,
    /// Canonical path of the test's temporary directory.
    pub(super) dir: PathBuf,
    /// Cgroup parent (relative to each hierarchy's root) of all containers of this test.
    pub(super) cgroup_parent: String,
    pub(super) containerd_sock: PathBuf,
    pub(super) docker_sock: PathBuf,
    pub(super) containerd: Option<Daemon>,
    pub(super) dockerd: Option<Daemon>,
    /// Shared directories under /run the daemons create; removed at the end if they did not
    /// exist before and are empty.
    pub(super) new_run_dirs: Vec<PathBuf>,
    pub(super) _serial: MutexGuard<'static, ()>,
}

impl Sandbox {
    pub(super) fn new(test: &str) -> Sandbox {
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
        Sandbox {
            containerd_sock: dir.join("containerd/containerd.sock"),
            docker_sock: dir.join("docker/docker.sock"),
            cgroup_parent: name.clone(),
            name,
            dir,
            containerd: None,
            dockerd: None,
            new_run_dirs,
            _serial: serial,
        }
    }

    pub(super) fn require_tools(&self, tools: &[&str]) {
        let missing: Vec<&str> = tools
            .iter()
            .copied()
            .filter(|t| find_in_path(t).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "required programs not found in PATH: {}; {INSTALL_HINT}",
            missing.join(", ")
        );
        assert!(
            Path::new(BUSYBOX).is_file(),
            "{BUSYBOX} not found (a static busybox builds the test image); {INSTALL_HINT}"
        );
    }

    pub(super) fn start_containerd(&mut self) {
        let root = self.dir.join("containerd");
        for sub in ["root", "state", "opt", "tmp"] {
            fs::create_dir_all(root.join(sub)).expect("create containerd directories");
        }
        let d = path_str(&root);
        // CRI is disabled: it would start a streaming server and look for CNI.
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
temp = "{d}/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
            sock = path_str(&self.containerd_sock)
        );
        let config_path = root.join("config.toml");
        fs::write(&config_path, config).expect("write containerd config");
        let mut cmd = Command::new(tool("containerd"));
        cmd.arg("--config").arg(&config_path);
        cmd.env_remove("CONTAINERD_ADDRESS");
        self.containerd = Some(Daemon::spawn(
            "containerd",
            cmd,
            self.dir.join("containerd.log"),
        ));

        let deadline = Instant::now() + DAEMON_START_TIMEOUT;
        loop {
            self.expect_daemon_alive("containerd");
            if UnixStream::connect(&self.containerd_sock).is_ok()
                && self.ctr_str(&["version"]).success()
            {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "containerd did not answer on {} within {DAEMON_START_TIMEOUT:?}",
                    self.containerd_sock.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(super) fn start_dockerd(&mut self) {
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

        // Its own network namespace: with --bridge=none dockerd deletes any docker0 it sees.
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
            .arg(format!("/{}", self.cgroup_parent))
            .arg("--add-runtime")
            .arg(format!("berth={RUNTIME}"));
        self.dockerd = Some(Daemon::spawn("dockerd", cmd, self.dir.join("dockerd.log")));

        let deadline = Instant::now() + DAEMON_START_TIMEOUT;
        loop {
            self.expect_daemon_alive("dockerd");
            if docker_ping(&self.docker_sock) {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "dockerd did not answer on {} within {DAEMON_START_TIMEOUT:?}",
                    self.docker_sock.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(super) fn expect_daemon_alive(&mut self, name: &str) {
        let daemon = match name {
            "dockerd" => self.dockerd.as_mut(),
            _ => self.containerd.as_mut(),
        };
        if let Some(d) = daemon {
            if let Ok(Some(status)) = d.child.try_wait() {
                self.fail(&format!("{name} exited during startup: {status}"));
            }
        }
    }

    pub(super) fn docker<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        self.docker_with_timeout(args, COMMAND_TIMEOUT)
    }

    pub(super) fn docker_with_timeout<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        timeout: Duration,
    ) -> Outcome {
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

    pub(super) fn docker_str(&self, args: &[&str]) -> Outcome {
        self.docker(args)
    }

    pub(super) fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        self.ctr_with_timeout(args, COMMAND_TIMEOUT)
    }

    pub(super) fn ctr_with_timeout<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        timeout: Duration,
    ) -> Outcome {
        let mut cmd = Command::new(tool("ctr"));
        cmd.env_remove("CONTAINERD_SNAPSHOTTER")
            .arg("--address")
            .arg(&self.containerd_sock)
            .arg("--namespace")
            .arg(CTR_NAMESPACE)
            .args(args);
        run_command_with_timeout(&mut cmd, &self.dir, timeout)
    }

    pub(super) fn ctr_str(&self, args: &[&str]) -> Outcome {
        self.ctr(args)
    }

    /// `ctr run --rm` with berth-runtime as the runc binary; `source` is `--rootfs DIR` or an
    /// image reference.
    pub(super) fn ctr_run(&self, id: &str, source: &[&str], command: &[&str]) -> Outcome {
        let runc_root = self.dir.join("ctr-runc");
        let fifo_dir = self.dir.join("ctr-fifo");
        let cgroup = format!("/{}/{id}", self.cgroup_parent);
        let mut args: Vec<&str> = vec![
            "run",
            "--rm",
            "--runtime",
            "io.containerd.runc.v2",
            "--runc-binary",
            RUNTIME,
            "--runc-root",
            path_str(&runc_root),
            "--fifo-dir",
            path_str(&fifo_dir),
            "--cgroup",
            &cgroup,
        ];
        args.extend_from_slice(source);
        args.push(id);
        args.extend_from_slice(command);
        self.ctr(&args)
    }

    pub(super) fn expect_ok(&self, out: Outcome) -> Outcome {
        if !out.success() {
            self.fail(&format!("command failed:\n{}", out.describe()));
        }
        out
    }

    pub(super) fn check(&self, ok: bool, what: &str, out: &Outcome) {
        if !ok {
            self.fail(&format!("check failed: {what}\n{}", out.describe()));
        }
    }

    pub(super) fn check_msg(&self, ok: bool, what: &str) {
        if !ok {
            self.fail(&format!("check failed: {what}"));
        }
    }

    /// The runtime removes each container's cgroup on delete: nothing is left under the parent.
    pub(super) fn check_no_container_cgroups(&self) {
        let mut left = Vec::new();
        for mount in cgroup_mounts() {
            let parent = mount.join(&self.cgroup_parent);
            for child in list_dir(&parent) {
                if parent.join(&child).is_dir() {
                    left.push(parent.join(child).display().to_string());
                }
            }
        }
        self.check_msg(
            left.is_empty(),
            &format!("container cgroups removed after delete, found {left:?}"),
        );
    }

    /// Panics with `msg` and the warnings and errors the daemons logged.
    pub(super) fn fail(&self, msg: &str) -> ! {
        let mut report = format!("{msg}\n");
        for daemon in [&self.containerd, &self.dockerd].into_iter().flatten() {
            report.push_str(&format!(
                "\n=== {} warnings/errors (last 30), full log kept in {} ===\n{}\n",
                daemon.name,
                self.kept_logs_dir().display(),
                log_problems(&daemon.log, 30)
            ));
        }
        panic!("{report}");
    }

    pub(super) fn kept_logs_dir(&self) -> PathBuf {
        Path::new(KEEP_LOGS_DIR).join(&self.name)
    }

    /// Deletes whatever containers are left through the engines, so that the shims exit and
    /// clean up after themselves.
    pub(super) fn remove_containers_through_engines(&mut self) {
        let dockerd_alive = self
            .dockerd
            .as_mut()
            .is_some_and(|d| matches!(d.child.try_wait(), Ok(None)));
        if dockerd_alive {
            let out = self.docker_with_timeout(&["ps", "-aq"], CLEANUP_COMMAND_TIMEOUT);
            let ids: Vec<&str> = out.stdout.split_whitespace().collect();
            if out.success() && !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                self.docker_with_timeout(&args, CLEANUP_COMMAND_TIMEOUT);
            }
        }
        let containerd_alive = self
            .containerd
            .as_mut()
            .is_some_and(|d| matches!(d.child.try_wait(), Ok(None)));
        if containerd_alive {
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

    pub(super) fn teardown(&mut self) {
        // Container processes first (a frozen cgroup is thawed before SIGKILL), then the
        // containers through the engines, then the daemons and any shim left behind.
        kill_cgroup_processes(&self.cgroup_parent);
        self.remove_containers_through_engines();
        if let Some(d) = self.dockerd.as_mut() {
            d.stop();
        }
        if let Some(d) = self.containerd.as_mut() {
            d.stop();
        }
        kill_shims(&self.containerd_sock);
        remove_shim_sockets(&self.dir.join("containerd/state"));
        kill_cgroup_processes(&self.cgroup_parent);
        remove_cgroups(&self.cgroup_parent);

        if std::thread::panicking() {
            let keep = self.kept_logs_dir();
            for log in ["containerd.log", "dockerd.log"] {
                let from = self.dir.join(log);
                if from.is_file() && fs::create_dir_all(&keep).is_ok() {
                    let _ = fs::copy(from, keep.join(log));
                }
            }
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
        for dir in &self.new_run_dirs {
            let _ = fs::remove_dir(dir);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// GET /_ping over the docker socket.
pub(super) fn docker_ping(sock: &Path) -> bool {
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

/// The last `max` warning/error lines of a daemon log.
pub(super) fn log_problems(log: &Path, max: usize) -> String {
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

/// (mount point, file system type) of every mount, from /proc/self/mountinfo.
pub(super) fn mounts() -> Vec<(PathBuf, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mount_point = fields.get(4)?;
            let sep = fields.iter().position(|f| *f == "-")?;
            let fstype = fields.get(sep + 1)?;
            Some((
                PathBuf::from(unescape_mountinfo(mount_point)),
                fstype.to_string(),
            ))
        })
        .collect()
}

/// Undoes the octal escapes (`\040` for a space, ...) of /proc/self/mountinfo.
pub(super) fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4);
        if bytes[i] == b'\\' && octal.is_some_and(|o| o.iter().all(|b| (b'0'..=b'7').contains(b))) {
            let o = octal.unwrap_or_default();
            out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points of all cgroup (v1) and cgroup2 hierarchies.
pub(super) fn cgroup_mounts() -> Vec<PathBuf> {
    let mut seen: Vec<PathBuf> = Vec::new();
    for (mount_point, fstype) in mounts() {
        if (fstype == "cgroup" || fstype == "cgroup2") && !seen.contains(&mount_point) {
            seen.push(mount_point);
        }
    }
    seen
}

/// All directories under `dir` (included), deepest first.
pub(super) fn dirs_deepest_first(dir: &Path) -> Vec<PathBuf> {
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
pub(super) fn kill_cgroup_processes(parent: &str) {
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
pub(super) fn remove_cgroups(parent: &str) {
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
pub(super) fn kill_shims(sock: &Path) {
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
pub(super) fn remove_shim_sockets(containerd_state: &Path) {
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

/// Lazily unmounts every mount at or below `dir`, innermost first; returns what is still
/// mounted.
pub(super) fn unmount_all_under(dir: &Path) -> Vec<PathBuf> {
    let under = || -> Vec<PathBuf> {
        let mut list: Vec<PathBuf> = mounts()
            .into_iter()
            .map(|(mount_point, _)| mount_point)
            .filter(|m| m.starts_with(dir))
            .collect();
        list.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        list.dedup();
        list
    };
    for _ in 0..10 {
        let list = under();
        if list.is_empty() {
            break;
        }
        for mount_point in list {
            let _ = nix::mount::umount2(&mount_point, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    under()
}

//! End to end: real container engines drive `berth-runtime` as their OCI runtime.
//!
//! * dockerd, started with `--add-runtime berth=<berth-runtime>`, runs
//!   `docker run --runtime berth ...` (output, exit codes, exec, top, pause, stop, rm).
//! * containerd, driven by `ctr run --runtime io.containerd.runc.v2 --runc-binary <berth-runtime>`,
//!   runs containers from a plain rootfs directory and from an imported image.
//!
//! Each test starts its own daemons: containerd with a generated config (own root, state and
//! socket in a temporary directory), dockerd with its own data root, exec root, pid file and
//! socket, inside its own network namespace (`unshare --net`) so that `--bridge=none` cannot touch
//! the host's network. Containers get their own cgroup parent. A `Drop` guard kills and removes
//! everything (containers, shims, daemons, mounts, cgroups, directories), also when a test fails.
//!
//! The tests need root and the engines: `apt-get install docker.io containerd busybox-static`.
//! They fail (they do not skip) when something is missing.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const RUNTIME: &str = env!("CARGO_BIN_EXE_berth-runtime");
/// Where the logs of a failed test are kept.
const KEEP_LOGS_DIR: &str = env!("CARGO_TARGET_TMPDIR");
const INSTALL_HINT: &str = "install the engines with `apt-get install docker.io containerd busybox-static` (CI installs them)";
const BUSYBOX: &str = "/bin/busybox";
/// Name of the docker image imported from the busybox rootfs.
const DOCKER_IMAGE: &str = "berth-test/busybox:latest";
/// Tag in the hand-made image archive for `ctr images import` (containerd adds `docker.io/`).
const CTR_IMAGE_TAG: &str = "berth-test/busybox:latest";
const CTR_IMAGE: &str = "docker.io/berth-test/busybox:latest";
const CTR_NAMESPACE: &str = "berth-e2e";
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const DAEMON_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of each engine command while tearing down.
const CLEANUP_COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// Both tests start daemons and share /run/containerd/s; run them one after the other.
static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

#[test]
fn dockerd_runs_containers_with_berth_runtime() {
    let mut sb = Sandbox::new("docker");
    sb.require_tools(&[
        "containerd",
        "containerd-shim-runc-v2",
        "ctr",
        "dockerd",
        "docker",
        "unshare",
        "tar",
    ]);
    sb.start_containerd();
    sb.start_dockerd();

    let rootfs = build_busybox_rootfs(&sb, &sb.dir.join("rootfs"));
    let rootfs_tar = tar_dir(&sb, &rootfs, &sb.dir.join("rootfs.tar"));
    sb.expect_ok(sb.docker(&[
        OsStr::new("import"),
        rootfs_tar.as_os_str(),
        OsStr::new(DOCKER_IMAGE),
    ]));

    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", "none", "--runtime", "berth"];
        all.push(DOCKER_IMAGE);
        all.extend_from_slice(args);
        sb.docker_str(&all)
    };

    // 1. Output reaches `docker run`.
    let out = sb.expect_ok(run(&["echo", "hello"]));
    sb.check(
        out.stdout.trim() == "hello",
        "docker run ... echo hello prints hello",
        &out,
    );

    // 2. The exit code propagates.
    let out = run(&["sh", "-c", "exit 3"]);
    sb.check(
        out.code() == Some(3),
        "docker run ... sh -c 'exit 3' exits with 3",
        &out,
    );

    // 3. A detached container: exec, top, pause/unpause, stop (SIGTERM reaches it), rm.
    let script = "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    let out = sb.expect_ok(sb.docker_str(&[
        "run",
        "-d",
        "--network",
        "none",
        "--runtime",
        "berth",
        DOCKER_IMAGE,
        "sh",
        "-c",
        script,
    ]));
    let id = out.stdout.trim().to_string();
    sb.check(
        !id.is_empty(),
        "docker run -d prints the container id",
        &out,
    );

    let out = sb.expect_ok(sb.docker_str(&["inspect", "-f", "{{.HostConfig.Runtime}}", &id]));
    sb.check(
        out.stdout.trim() == "berth",
        "the container uses the berth runtime",
        &out,
    );

    let out = sb.docker_str(&["exec", &id, "sh", "-c", "echo exec-ok; exit 5"]);
    sb.check(
        out.code() == Some(5) && out.stdout.trim() == "exec-ok",
        "docker exec prints exec-ok and exits with 5",
        &out,
    );

    let out = sb.expect_ok(sb.docker_str(&["top", &id]));
    sb.check(
        out.stdout.contains("PID"),
        "docker top lists the processes",
        &out,
    );

    sb.expect_ok(sb.docker_str(&["pause", &id]));
    let out = sb.expect_ok(sb.docker_str(&["inspect", "-f", "{{.State.Status}}", &id]));
    sb.check(
        out.stdout.trim() == "paused",
        "docker pause pauses the container",
        &out,
    );
    sb.expect_ok(sb.docker_str(&["unpause", &id]));
    let out = sb.expect_ok(sb.docker_str(&["exec", &id, "echo", "after-unpause"]));
    sb.check(
        out.stdout.trim() == "after-unpause",
        "the container runs again after docker unpause",
        &out,
    );

    sb.expect_ok(sb.docker_str(&["stop", "-t", "10", &id]));
    let out = sb.expect_ok(sb.docker_str(&["inspect", "-f", "{{.State.ExitCode}}", &id]));
    sb.check(
        out.stdout.trim() == "7",
        "docker stop delivers SIGTERM (the container's trap exits with 7)",
        &out,
    );
    let out = sb.expect_ok(sb.docker_str(&["logs", &id]));
    sb.check(
        out.stdout.contains("ready"),
        "docker logs shows the container's output",
        &out,
    );
    sb.expect_ok(sb.docker_str(&["rm", &id]));

    // The runtime cleaned up after itself: no state left in its --root, no container cgroups.
    let state_root = sb.dir.join("docker/exec/runtime-runc/moby");
    let leftovers = list_dir(&state_root);
    sb.check_msg(
        leftovers.is_empty(),
        &format!(
            "no runtime state left in {} after docker rm, found {leftovers:?}",
            state_root.display()
        ),
    );
    sb.check_no_container_cgroups();
}

#[test]
fn containerd_ctr_runs_containers_with_berth_runtime() {
    let mut sb = Sandbox::new("ctr");
    sb.require_tools(&[
        "containerd",
        "containerd-shim-runc-v2",
        "ctr",
        "tar",
        "sha256sum",
    ]);
    sb.start_containerd();

    let rootfs = build_busybox_rootfs(&sb, &sb.dir.join("rootfs"));

    // 1. From a plain rootfs directory (no snapshotter).
    let out = sb.expect_ok(sb.ctr_run(
        "c1",
        &["--rootfs", path_str(&rootfs)],
        &["/bin/echo", "hello"],
    ));
    sb.check(
        out.stdout.trim() == "hello",
        "ctr run --rootfs ... echo hello prints hello",
        &out,
    );

    let out = sb.ctr_run(
        "c2",
        &["--rootfs", path_str(&rootfs)],
        &["/bin/sh", "-c", "exit 3"],
    );
    sb.check(
        out.code() == Some(3),
        "ctr run --rootfs ... sh -c 'exit 3' exits with 3",
        &out,
    );

    // 2. From an imported image (rootfs mounted by containerd's snapshotter).
    let layer = tar_dir(&sb, &rootfs, &sb.dir.join("layer.tar"));
    let archive = build_image_archive(&sb, &layer, &sb.dir.join("image"));
    sb.expect_ok(sb.ctr(&[
        OsStr::new("images"),
        OsStr::new("import"),
        archive.as_os_str(),
    ]));
    let out = sb.expect_ok(sb.ctr_run(
        "c3",
        &[CTR_IMAGE],
        &[
            "sh",
            "-c",
            "echo \"image PATH=$PATH\"; cat /proc/self/cgroup",
        ],
    ));
    sb.check(
        out.stdout.lines().next() == Some("image PATH=/bin:/sbin"),
        "ctr run IMAGE ... prints the image's PATH",
        &out,
    );
    sb.check(
        out.stdout.contains(&format!("/{}/c3", sb.cgroup_parent)),
        "the container runs in the cgroup given with ctr run --cgroup",
        &out,
    );
    let out = sb.ctr_run(
        "c4",
        &[CTR_IMAGE],
        &["sh", "-c", "echo to-stderr >&2; exit 42"],
    );
    sb.check(
        out.code() == Some(42) && out.stderr.contains("to-stderr"),
        "ctr run IMAGE ... passes stderr through and exits with 42",
        &out,
    );

    // `--rm` deleted everything through the runtime.
    let out = sb.expect_ok(sb.ctr_str(&["tasks", "ls", "-q"]));
    sb.check(
        out.stdout.trim().is_empty(),
        "no tasks left after ctr run --rm",
        &out,
    );
    let out = sb.expect_ok(sb.ctr_str(&["containers", "ls", "-q"]));
    sb.check(
        out.stdout.trim().is_empty(),
        "no containers left after ctr run --rm",
        &out,
    );
    let state_root = sb.dir.join("ctr-runc").join(CTR_NAMESPACE);
    let leftovers = list_dir(&state_root);
    sb.check_msg(
        leftovers.is_empty(),
        &format!(
            "no runtime state left in {} after ctr run --rm, found {leftovers:?}",
            state_root.display()
        ),
    );
    sb.check_no_container_cgroups();
}

// ---------------------------------------------------------------------------------------------
// Commands

/// What a finished (or timed out) command did.
struct Outcome {
    command: String,
    /// `None` when the command could not start or timed out and was killed.
    status: Option<ExitStatus>,
    timeout: Duration,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn success(&self) -> bool {
        self.code() == Some(0)
    }

    fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!(
                "did not finish: could not start, or timed out after {:?} and was killed",
                self.timeout
            ),
        };
        format!(
            "$ {}\n{status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` with a timeout; stdout and stderr go to files in `scratch` (a pipe could be held
/// open by a daemonised grandchild and block the reader forever).
fn run_command(cmd: &mut Command, scratch: &Path) -> Outcome {
    run_command_with_timeout(cmd, scratch, COMMAND_TIMEOUT)
}

/// `run_command` with another timeout. Never panics (it also runs during teardown).
fn run_command_with_timeout(cmd: &mut Command, scratch: &Path, timeout: Duration) -> Outcome {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let out_path = scratch.join(format!("cmd-{n}.out"));
    let err_path = scratch.join(format!("cmd-{n}.err"));
    let command = format!("{cmd:?}");
    let mut start_error = String::new();
    let status = match (File::create(&out_path), File::create(&err_path)) {
        (Ok(out_file), Ok(err_file)) => {
            cmd.stdin(Stdio::null()).stdout(out_file).stderr(err_file);
            match cmd.spawn() {
                Ok(mut child) => wait_with_timeout(&mut child, timeout),
                Err(e) => {
                    start_error = format!("cannot start the command: {e}");
                    None
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            start_error = format!("cannot create the command's output files: {e}");
            None
        }
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let outcome = Outcome {
        command,
        status,
        timeout,
        stdout: read(&out_path),
        stderr: read(&err_path) + &start_error,
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    outcome
}

/// Waits for `child`; kills it (SIGKILL) and returns `None` once `timeout` has passed.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The absolute path of `name` (as found by `find_in_path`), or `name` itself.
fn tool(name: &str) -> PathBuf {
    find_in_path(name).unwrap_or_else(|| PathBuf::from(name))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn list_dir(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Images

/// A root file system with a static busybox and a link for each of its applets in /bin.
fn build_busybox_rootfs(sb: &Sandbox, rootfs: &Path) -> PathBuf {
    for dir in ["bin", "dev", "etc", "proc", "root", "sys", "tmp"] {
        fs::create_dir_all(rootfs.join(dir)).expect("create rootfs directory");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .expect("chmod /tmp");
    let busybox = rootfs.join("bin/busybox");
    fs::copy(BUSYBOX, &busybox).expect("copy busybox");
    fs::set_permissions(&busybox, fs::Permissions::from_mode(0o755)).expect("chmod busybox");
    let out = sb.expect_ok(run_command(Command::new(BUSYBOX).arg("--list"), &sb.dir));
    for applet in out.stdout.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        match symlink("busybox", rootfs.join("bin").join(applet)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("symlink busybox applet {applet}: {e}"),
        }
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("write passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("write group");
    rootfs.to_path_buf()
}

fn tar_dir(sb: &Sandbox, dir: &Path, tar: &Path) -> PathBuf {
    sb.expect_ok(run_command(
        Command::new(tool("tar"))
            .arg("--numeric-owner")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(tar)
            .arg("."),
        &sb.dir,
    ));
    tar.to_path_buf()
}

/// A `docker save`-style archive (manifest.json, config, one layer) that `ctr images import`
/// understands, made without docker.
fn build_image_archive(sb: &Sandbox, layer: &Path, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).expect("create image directory");
    fs::copy(layer, dir.join("layer.tar")).expect("copy layer");
    let out = sb.expect_ok(run_command(
        Command::new(tool("sha256sum")).arg(dir.join("layer.tar")),
        &sb.dir,
    ));
    let digest = out
        .stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    sb.check(
        digest.len() == 64,
        "sha256sum prints the layer digest",
        &out,
    );
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{"Env":["PATH=/bin:/sbin"],"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{digest}"]}}}}"#
    );
    fs::write(dir.join("config.json"), config).expect("write image config");
    let manifest = format!(
        r#"[{{"Config":"config.json","RepoTags":["{CTR_IMAGE_TAG}"],"Layers":["layer.tar"]}}]"#
    );
    fs::write(dir.join("manifest.json"), manifest).expect("write image manifest");
    let archive = dir.with_extension("tar");
    sb.expect_ok(run_command(
        Command::new(tool("tar"))
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(&archive)
            .args(["manifest.json", "config.json", "layer.tar"]),
        &sb.dir,
    ));
    archive
}

// ---------------------------------------------------------------------------------------------
// Daemons and the cleanup guard

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
    fn stop(&mut self) {
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
struct Sandbox {
    name: String,
    /// Canonical path of the test's temporary directory.
    dir: PathBuf,
    /// Cgroup parent (relative to each hierarchy's root) of all containers of this test.
    cgroup_parent: String,
    containerd_sock: PathBuf,
    docker_sock: PathBuf,
    containerd: Option<Daemon>,
    dockerd: Option<Daemon>,
    /// Shared directories under /run the daemons create; removed at the end if they did not
    /// exist before and are empty.
    new_run_dirs: Vec<PathBuf>,
    _serial: MutexGuard<'static, ()>,
}

impl Sandbox {
    fn new(test: &str) -> Sandbox {
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

    fn require_tools(&self, tools: &[&str]) {
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

    fn start_containerd(&mut self) {
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

    fn start_dockerd(&mut self) {
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

    fn expect_daemon_alive(&mut self, name: &str) {
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

    fn docker<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        self.docker_with_timeout(args, COMMAND_TIMEOUT)
    }

    fn docker_with_timeout<S: AsRef<OsStr>>(&self, args: &[S], timeout: Duration) -> Outcome {
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

    fn docker_str(&self, args: &[&str]) -> Outcome {
        self.docker(args)
    }

    fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        self.ctr_with_timeout(args, COMMAND_TIMEOUT)
    }

    fn ctr_with_timeout<S: AsRef<OsStr>>(&self, args: &[S], timeout: Duration) -> Outcome {
        let mut cmd = Command::new(tool("ctr"));
        cmd.env_remove("CONTAINERD_SNAPSHOTTER")
            .arg("--address")
            .arg(&self.containerd_sock)
            .arg("--namespace")
            .arg(CTR_NAMESPACE)
            .args(args);
        run_command_with_timeout(&mut cmd, &self.dir, timeout)
    }

    fn ctr_str(&self, args: &[&str]) -> Outcome {
        self.ctr(args)
    }

    /// `ctr run --rm` with berth-runtime as the runc binary; `source` is `--rootfs DIR` or an
    /// image reference.
    fn ctr_run(&self, id: &str, source: &[&str], command: &[&str]) -> Outcome {
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

    fn expect_ok(&self, out: Outcome) -> Outcome {
        if !out.success() {
            self.fail(&format!("command failed:\n{}", out.describe()));
        }
        out
    }

    fn check(&self, ok: bool, what: &str, out: &Outcome) {
        if !ok {
            self.fail(&format!("check failed: {what}\n{}", out.describe()));
        }
    }

    fn check_msg(&self, ok: bool, what: &str) {
        if !ok {
            self.fail(&format!("check failed: {what}"));
        }
    }

    /// The runtime removes each container's cgroup on delete: nothing is left under the parent.
    fn check_no_container_cgroups(&self) {
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
    fn fail(&self, msg: &str) -> ! {
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

    fn kept_logs_dir(&self) -> PathBuf {
        Path::new(KEEP_LOGS_DIR).join(&self.name)
    }

    /// Deletes whatever containers are left through the engines, so that the shims exit and
    /// clean up after themselves.
    fn remove_containers_through_engines(&mut self) {
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

    fn teardown(&mut self) {
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

/// The last `max` warning/error lines of a daemon log.
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

/// (mount point, file system type) of every mount, from /proc/self/mountinfo.
fn mounts() -> Vec<(PathBuf, String)> {
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
fn unescape_mountinfo(s: &str) -> String {
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
fn cgroup_mounts() -> Vec<PathBuf> {
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
fn kill_cgroup_processes(parent: &str) {
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
fn remove_cgroups(parent: &str) {
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
fn kill_shims(sock: &Path) {
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
fn remove_shim_sockets(containerd_state: &Path) {
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
fn unmount_all_under(dir: &Path) -> Vec<PathBuf> {
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

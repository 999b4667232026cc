//! `--runtime runc|crun`: containers run by an external OCI runtime under berthd, driven by the
//! docker CLI; what a docker user sees must be what berth-runtime gives (output, exit codes,
//! tty, exec, pause, stats, top, stop, live restore).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{wait_until, Daemon};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A daemon whose containers run under an external runtime: on drop, after the daemon's own
/// clean-up, the runtime deletes whatever it still holds.
struct WithRuntime {
    daemon: Daemon,
    /// The command line that runs the runtime (a wrapper for crun).
    runtime: Vec<String>,
    name: &'static str,
}

impl WithRuntime {
    fn runc() -> WithRuntime {
        let daemon = Daemon::start();
        daemon.load_busybox("busybox:latest");
        WithRuntime {
            daemon,
            runtime: vec!["runc".into()],
            name: "runc",
        }
    }
}

impl Drop for WithRuntime {
    fn drop(&mut self) {
        let ids = self.daemon.container_ids();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.daemon.docker(&args);
        }
        let root = self.daemon.dir.join("exec/runtimes").join(self.name);
        for id in ids {
            let _ = Command::new(&self.runtime[0])
                .args(&self.runtime[1..])
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force", &id])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl WithRuntime {
    /// The container's status as its runtime reports it (`RUNTIME state ID`).
    fn runtime_status(&self, key: &str) -> String {
        let id = self.daemon.inspect("{{.Id}}", key);
        let out = Command::new(&self.runtime[0])
            .args(&self.runtime[1..])
            .arg("--root")
            .arg(self.daemon.dir.join("exec/runtimes").join(self.name))
            .args(["state", &id])
            .output()
            .unwrap();
        let state: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{} state {id}: {}", self.name, text(&out)));
        state["status"].as_str().unwrap_or_default().to_string()
    }
}

/// Field `n` after the command in /proc/PID/stat (0: the state, 1: the parent's pid).
fn stat_field(pid: &str, n: usize) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_default()
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(n))
        .unwrap_or_default()
        .to_string()
}

impl std::ops::Deref for WithRuntime {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

#[test]
fn runc_runs_a_container_with_its_output_exit_code_and_terminal() {
    let daemon = WithRuntime::runc();
    let out = daemon.docker(&[
        "run",
        "--runtime",
        "runc",
        "--name",
        "once",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(daemon.inspect("{{.HostConfig.Runtime}}", "once"), "runc");
    assert_eq!(
        daemon.inspect("{{.State.Status}} {{.State.ExitCode}}", "once"),
        "exited 3"
    );
    let logs = daemon.docker(&["logs", "once"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "oops\n");
    // runc's state for it is gone with the exit.
    let root = daemon.dir.join("exec/runtimes/runc");
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "runc state left: {left:?}");

    // A terminal: the pty master comes back from runc over the console socket.
    let out = daemon.docker(&[
        "run",
        "--rm",
        "-t",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "tty; stty size",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("/dev/pts/0\r\n"),
        "{}",
        text(&out)
    );

    // stdin through the pipes, to the end of input.
    let mut child = daemon
        .docker_command(&[
            "run",
            "--rm",
            "-i",
            "--runtime",
            "runc",
            "busybox",
            "wc",
            "-l",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nthree\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");

    // A program that does not exist: Docker's 127.
    let out = daemon.docker(&["run", "--rm", "--runtime", "runc", "busybox", "/nope"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out));
}

#[test]
fn runc_containers_exec_pause_show_stats_and_top_and_stop() {
    let daemon = WithRuntime::runc();
    daemon.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "svc",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 143' TERM; while :; do usleep 20000; done",
    ]);
    assert_eq!(daemon.runtime_status("svc"), "running");
    // runc's init went to the shim (a child subreaper), which leaves no zombie behind.
    let init = daemon.inspect("{{.State.Pid}}", "svc");
    let shim = stat_field(&init, 1);
    assert!(
        std::fs::read_to_string(format!("/proc/{shim}/cmdline"))
            .unwrap()
            .starts_with(&format!(
                "{}",
                common::runtime_binary()
                    .with_file_name("berth-shim")
                    .display()
            )),
        "the parent of {init} is not a shim"
    );
    let zombies: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.parse::<u32>().is_ok())
        .filter(|pid| stat_field(pid, 1) == shim && stat_field(pid, 0) == "Z")
        .collect();
    assert!(zombies.is_empty(), "zombies under the shim: {zombies:?}");
    let out = daemon.docker(&["exec", "svc", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let out = daemon.docker_ok(&[
        "exec",
        "-u",
        "nobody",
        "-e",
        "WHO=me",
        "-w",
        "/tmp",
        "svc",
        "sh",
        "-c",
        "id -u; echo $WHO; pwd",
    ]);
    assert_eq!(out, "65534\nme\n/tmp\n");
    let exec_tty = daemon.docker_ok(&["exec", "-t", "svc", "tty"]);
    assert!(exec_tty.starts_with("/dev/pts/"), "{exec_tty:?}");
    daemon.docker_ok(&["exec", "-d", "-t", "svc", "sh", "-c", "tty > /tmp/detached"]);
    wait_until("the detached exec", Duration::from_secs(5), || {
        let out = daemon.docker(&["exec", "svc", "cat", "/tmp/detached"]);
        String::from_utf8_lossy(&out.stdout).starts_with("/dev/pts/")
    });

    daemon.docker_ok(&["pause", "svc"]);
    assert_eq!(daemon.inspect("{{.State.Status}}", "svc"), "paused");
    assert_eq!(daemon.runtime_status("svc"), "paused");
    daemon.docker_ok(&["unpause", "svc"]);
    assert_eq!(daemon.inspect("{{.State.Status}}", "svc"), "running");
    daemon.docker_ok(&["exec", "svc", "true"]);

    let top = daemon.docker_ok(&["top", "svc"]);
    assert!(top.contains("trap 'exit 143' TERM"), "{top}");
    let stats = daemon.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.PIDs}}",
        "svc",
    ]);
    let fields: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"svc"), "{stats}");
    assert_ne!(fields.get(1), Some(&"0B"), "{stats}");
    assert_ne!(fields.last(), Some(&"0"), "{stats}");

    daemon.docker_ok(&["update", "--memory", "64m", "svc"]);
    let limit = daemon.docker_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "svc"]);
    assert!(limit.trim().ends_with("/ 64MiB"), "{limit}");

    daemon.docker_ok(&["stop", "svc"]);
    assert_eq!(
        daemon.inspect("{{.State.Status}} {{.State.ExitCode}}", "svc"),
        "exited 143"
    );
}

#[test]
fn runc_containers_survive_a_daemon_kill() {
    let mut daemon = WithRuntime::runc();
    daemon.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "lasting",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' TERM; echo up; while :; do usleep 20000; done",
    ]);
    let pid = daemon.inspect("{{.State.Pid}}", "lasting");
    daemon.daemon.kill_and_restart();
    assert_eq!(daemon.inspect("{{.State.Status}}", "lasting"), "running");
    assert_eq!(daemon.inspect("{{.State.Pid}}", "lasting"), pid);
    assert_eq!(daemon.runtime_status("lasting"), "running");
    assert_eq!(daemon.inspect("{{.HostConfig.Runtime}}", "lasting"), "runc");
    // Exec goes through runc after the restart too.
    assert_eq!(
        daemon.docker_ok(&["exec", "lasting", "echo", "still"]),
        "still\n"
    );
    daemon.docker_ok(&["stop", "lasting"]);
    assert_eq!(
        daemon.inspect("{{.State.Status}} {{.State.ExitCode}}", "lasting"),
        "exited 42"
    );
    assert_eq!(daemon.docker_ok(&["logs", "lasting"]), "up\n");
}

#[test]
fn runtimes_are_listed_and_unknown_ones_refused() {
    let daemon = Daemon::start_with(
        &[],
        &[
            "--add-runtime",
            "myrunc=/usr/sbin/runc",
            "--add-runtime",
            "ghost=/nonexistent/ghost",
        ],
    );
    let runtimes =
        daemon.docker_ok(&["info", "--format", "{{json .Runtimes}} {{.DefaultRuntime}}"]);
    let (json, default) = runtimes.trim().rsplit_once(' ').unwrap();
    assert_eq!(default, "berth-runtime");
    let listed: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(listed["runc"]["path"], "runc", "{listed}");
    assert_eq!(listed["crun"]["path"], "crun", "{listed}");
    assert_eq!(listed["myrunc"]["path"], "/usr/sbin/runc", "{listed}");
    assert!(listed["berth-runtime"]["path"].is_string(), "{listed}");

    daemon.load_busybox("busybox:latest");
    let out = daemon.docker(&["create", "--runtime", "nope", "busybox", "true"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error response from daemon: unknown or invalid runtime name: nope"
    );
    let body = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Runtime":"nope"}}"#;
    let (status, _, _) = daemon.http("POST", "/containers/create", body);
    assert_eq!(status, 400);
    assert!(daemon.container_ids().is_empty());

    // An added runtime runs containers like the one it names.
    let out = daemon.docker_ok(&[
        "run",
        "--rm",
        "--runtime",
        "myrunc",
        "busybox",
        "echo",
        "mine",
    ]);
    assert_eq!(out, "mine\n");
    // One whose binary is missing: the error names it.
    let out = daemon.docker(&["run", "--rm", "--runtime", "ghost", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("runtime /nonexistent/ghost: cannot execute it"),
        "{}",
        text(&out)
    );
    // The default when none is asked for.
    daemon.docker_ok(&["create", "--name", "plain", "busybox", "true"]);
    assert_eq!(
        daemon.inspect("{{.HostConfig.Runtime}}", "plain"),
        "berth-runtime"
    );

    let bad = daemon
        .berthd(dir_for_bad().path(), Path::new("/nonexistent/berth.sock"))
        .args(["--add-runtime", "berth-runtime=/bin/true"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("reserved"),
        "{}",
        text(&bad)
    );
}

fn dir_for_bad() -> berth_testkit::tempdir::TempDir {
    berth_testkit::tempdir::TempDir::new("rt-bad")
}

/// crun refuses this host's hybrid cgroup layout; in a mount namespace without the unified
/// hierarchy it works. The daemon runs there, and so does the clean-up.
const CRUN_WRAPPER: &str = "umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$0\" \"$@\"";

#[test]
fn crun_runs_containers_in_a_namespace_without_the_unified_hierarchy() {
    let daemon = WithRuntime {
        daemon: Daemon::start_with(
            &[
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                CRUN_WRAPPER,
            ],
            &[],
        ),
        runtime: [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            CRUN_WRAPPER,
            "crun",
        ]
        .map(String::from)
        .to_vec(),
        name: "crun",
    };
    daemon.load_busybox("busybox:latest");

    let out = daemon.docker(&[
        "run",
        "--rm",
        "--runtime",
        "crun",
        "busybox",
        "sh",
        "-c",
        "echo from crun; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from crun\n");

    daemon.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "crun",
        "--name",
        "cr",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(daemon.runtime_status("cr"), "running");
    let out = daemon.docker(&["exec", "cr", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    daemon.docker_ok(&["pause", "cr"]);
    daemon.docker_ok(&["unpause", "cr"]);
    let top = daemon.docker_ok(&["top", "cr"]);
    assert!(top.contains("sleep 1000"), "{top}");
    daemon.docker_ok(&["kill", "cr"]);
    wait_until("cr to exit", Duration::from_secs(10), || {
        daemon.inspect("{{.State.Status}}", "cr") == "exited"
    });
    assert_eq!(daemon.inspect("{{.State.ExitCode}}", "cr"), "137");
}

#[test]
fn runc_containers_keep_init_healthchecks_restart_policies_and_interactive_terminals() {
    let daemon = WithRuntime::runc();
    let out = daemon.docker_ok(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "--init",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline",
    ]);
    assert!(out.starts_with("/sbin/docker-init -- sh -c"), "{out}");

    daemon.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "checked",
        "--health-cmd",
        "test -e /tmp/ok || touch /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    wait_until("checked to be healthy", Duration::from_secs(10), || {
        daemon.inspect("{{.State.Health.Status}}", "checked") == "healthy"
    });

    daemon.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 4",
    ]);
    wait_until("flaky to give up", Duration::from_secs(15), || {
        daemon.inspect("{{.State.Status}} {{.RestartCount}}", "flaky") == "exited 2"
    });
    assert_eq!(daemon.inspect("{{.State.ExitCode}}", "flaky"), "4");

    // `docker run -it` on a terminal (script gives the CLI one): what is typed is echoed and
    // read by the container's shell.
    let command = format!(
        "docker -H unix://{} run --rm -it --runtime runc busybox sh",
        daemon.socket.display()
    );
    let mut script = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("DOCKER_CONFIG", daemon.dir.join("docker-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = script.stdin.take().unwrap();
    use std::io::Write;
    std::thread::sleep(Duration::from_millis(500));
    input.write_all(b"echo $((6*7))\r").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    input.write_all(b"exit 9\r").unwrap();
    drop(input);
    let out = script.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("echo $((6*7))"), "{shown:?}");
    assert!(shown.contains("\r\n42\r\n"), "{shown:?}");
    assert_eq!(out.status.code(), Some(9), "{shown:?}");
}

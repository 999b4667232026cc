//! Live restore: berthd is SIGKILLed and started again on the same roots while containers run;
//! what a docker user sees afterwards — the containers still running, logs whole, exits that
//! happened meanwhile, restart policies — must be as if the daemon had never gone.

use std::time::Duration;

mod common;
use common::{wait_until, Daemon};

const COUNTER: &str = "i=0; while :; do echo $i; i=$((i+1)); usleep 10000; done";

fn host_kill(signal: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

fn gone(pid: &str) -> bool {
    // A zombie (no longer running, not yet reaped) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

/// The counter's log lines, as numbers.
fn counted(daemon: &Daemon) -> Vec<u64> {
    daemon
        .docker_ok(&["logs", "counter"])
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("log line {l:?}")))
        .collect()
}

#[test]
fn containers_survive_a_daemon_kill() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&[
        "run", "-d", "--name", "counter", "busybox", "sh", "-c", COUNTER,
    ]);
    for n in 1..10 {
        let name = format!("sleeper{n}");
        daemon.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
    }
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ender",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' TERM; while :; do usleep 10000; done",
    ]);
    let ender_pid = daemon.inspect("{{.State.Pid}}", "ender");
    wait_until("the counter to count", Duration::from_secs(5), || {
        counted(&daemon).len() > 20
    });
    let before = daemon.docker_ok(&["ps", "-q", "--no-trunc"]);
    assert_eq!(before.lines().count(), 11, "{before}");

    daemon.kill_and_restart_with(|| {
        // The container ends while no daemon watches it.
        host_kill("-TERM", &ender_pid);
        wait_until("ender to exit", Duration::from_secs(5), || gone(&ender_pid));
        std::thread::sleep(Duration::from_millis(500));
    });

    let mut after: Vec<String> = daemon
        .docker_ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    after.sort();
    let ender_id = daemon.inspect("{{.Id}}", "ender");
    let mut wanted: Vec<String> = before
        .lines()
        .filter(|id| *id != ender_id)
        .map(str::to_string)
        .collect();
    wanted.sort();
    assert_eq!(after, wanted, "running after the restart");
    assert_eq!(
        daemon.inspect("{{.State.Status}} {{.State.ExitCode}}", "ender"),
        "exited 42"
    );
    let ps = daemon.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "name=ender",
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.starts_with("Exited (42)"), "{ps}");

    // The counter went on while the daemon was down, and its log has every line once.
    let down_since = counted(&daemon).len();
    wait_until("the counter to go on", Duration::from_secs(5), || {
        counted(&daemon).len() > down_since + 20
    });
    let lines = counted(&daemon);
    let expected: Vec<u64> = (0..lines.len() as u64).collect();
    assert_eq!(
        lines, expected,
        "the counter's log has a gap or a duplicate"
    );
    // `logs --tail` reads a restored container's log too.
    let tail = daemon.docker_ok(&["logs", "--tail", "1", "counter"]);
    assert!(tail.trim().parse::<u64>().is_ok(), "{tail}");

    // The restored daemon watches, inspects and signals restored containers.
    let top = daemon.docker_ok(&["top", "sleeper5"]);
    assert!(top.contains("sleep 1000"), "{top}");
    let stats = daemon.docker_ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", "sleeper5"]);
    assert_eq!(stats.trim(), "1");
    let shims: Vec<String> = ["sleeper1", "sleeper2", "sleeper3", "counter"]
        .iter()
        .map(|name| daemon.inspect("{{.Id}}", name))
        .collect();

    // Stop, kill and rm work on restored containers.
    daemon.docker_ok(&["stop", "-t", "1", "sleeper1"]);
    assert_eq!(
        daemon.inspect("{{.State.Status}} {{.State.ExitCode}}", "sleeper1"),
        "exited 137"
    );
    daemon.docker_ok(&["kill", "sleeper2"]);
    assert_eq!(daemon.docker_ok(&["wait", "sleeper2"]).trim(), "137");
    daemon.docker_ok(&["rm", "sleeper1", "sleeper2", "ender"]);
    daemon.docker_ok(&["rm", "-f", "counter", "sleeper3"]);
    let left = daemon.docker_ok(&["ps", "-aq"]);
    assert_eq!(left.lines().count(), 6, "{left}");
    let exec = daemon.docker_ok(&["exec", "sleeper4", "echo", "still here"]);
    assert_eq!(exec, "still here\n");
    // A restored container restarts under a new shim; the old one ends.
    let old_pid = daemon.inspect("{{.State.Pid}}", "sleeper6");
    daemon.docker_ok(&["restart", "-t", "0", "sleeper6"]);
    assert_eq!(daemon.inspect("{{.State.Running}}", "sleeper6"), "true");
    assert_ne!(daemon.inspect("{{.State.Pid}}", "sleeper6"), old_pid);
    let sleeper6 = daemon.inspect("{{.Id}}", "sleeper6");
    wait_until("one shim for sleeper6", Duration::from_secs(5), || {
        common::pids_mentioning(&sleeper6).len() == 1
    });
    // Their shims ended with them.
    for id in shims {
        wait_until(
            &format!("the shim of {id} to end"),
            Duration::from_secs(5),
            || common::pids_mentioning(&id).is_empty(),
        );
    }
}

#[test]
fn restart_policies_apply_across_a_daemon_kill() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    daemon.kill_and_restart();

    // The restored container's process dies: the policy starts it again.
    let pid = daemon.inspect("{{.State.Pid}}", "always");
    host_kill("-KILL", &pid);
    wait_until("always to restart", Duration::from_secs(10), || {
        daemon.inspect("{{.State.Running}} {{.RestartCount}}", "always") == "true 1"
            && daemon.inspect("{{.State.Pid}}", "always") != pid
    });
    let ps = daemon.docker_ok(&["ps", "--filter", "name=always", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Up "), "{ps}");

    // Killed while the daemon is down: started again when it comes back.
    let pid = daemon.inspect("{{.State.Pid}}", "always");
    daemon.kill_and_restart_with(|| {
        host_kill("-KILL", &pid);
        wait_until("always to die", Duration::from_secs(5), || gone(&pid));
    });
    wait_until(
        "always to run after the restart",
        Duration::from_secs(10),
        || daemon.inspect("{{.State.Running}}", "always") == "true",
    );
    assert_ne!(daemon.inspect("{{.State.Pid}}", "always"), pid);

    // on-failure:2 gives up after two restarts.
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    wait_until("flaky to give up", Duration::from_secs(10), || {
        daemon.inspect("{{.State.Status}} {{.RestartCount}}", "flaky") == "exited 2"
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        daemon.inspect(
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
            "flaky"
        ),
        "exited 2 3"
    );

    // As with dockerd, a daemon start restarts a stopped `always` container but not a stopped
    // `unless-stopped` one.
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "unless",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ]);
    daemon.docker_ok(&["stop", "-t", "0", "always", "unless"]);
    daemon.kill_and_restart();
    wait_until("always to run again", Duration::from_secs(10), || {
        daemon.inspect("{{.State.Status}}", "always") == "running"
    });
    assert_eq!(daemon.inspect("{{.State.Status}}", "unless"), "exited");
}

#[test]
fn paused_and_auto_removed_containers_across_a_daemon_kill() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["run", "-d", "--name", "frozen", "busybox", "sleep", "1000"]);
    daemon.docker_ok(&["pause", "frozen"]);
    daemon.docker_ok(&[
        "run", "-d", "--rm", "--name", "brief", "busybox", "sleep", "1",
    ]);
    let brief = daemon.inspect("{{.Id}}", "brief");
    let since = common::unix_time_in(0);
    daemon.kill_and_restart_with(|| std::thread::sleep(Duration::from_millis(1500)));

    // `--rm` holds across the restart: the container that ended meanwhile is removed.
    wait_until("brief to be removed", Duration::from_secs(5), || {
        !daemon
            .docker_ok(&["ps", "-aq", "--no-trunc"])
            .contains(&brief)
    });
    assert!(!daemon.container_ids().contains(&brief));
    assert!(
        daemon.mounts().iter().all(|m| !m.contains(&brief)),
        "{:?}",
        daemon.mounts()
    );

    assert_eq!(daemon.inspect("{{.State.Status}}", "frozen"), "paused");
    daemon.docker_ok(&["unpause", "frozen"]);
    assert_eq!(daemon.inspect("{{.State.Status}}", "frozen"), "running");
    daemon.docker_ok(&["stop", "-t", "0", "frozen"]);
    let until = common::unix_time_in(1);
    let events = daemon.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    for wanted in ["die brief", "destroy brief", "unpause frozen", "die frozen"] {
        assert!(
            events.lines().any(|l| l == wanted),
            "{wanted} not in {events}"
        );
    }
}

/// Processes other than berthd whose command line names the daemon's temp dir (shims).
fn strays(daemon: &Daemon) -> Vec<String> {
    common::pids_mentioning(&daemon.dir.path().display().to_string())
        .into_iter()
        .filter(|pid| *pid as u32 != daemon.pid())
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

#[test]
fn a_daemon_killed_amid_runs_leaves_nothing_it_does_not_know() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Short attached runs, and detached ones that would outlive the test if the restarted
        // daemon lost track of them.
        for n in 0..6 {
            let args: &[&str] = if n % 2 == 0 {
                &["run", "--rm", "busybox", "sleep", "0.2"]
            } else {
                &["run", "-d", "--rm", "busybox", "sleep", "60"]
            };
            let (daemon, stop) = (&daemon, &stop);
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = daemon.docker(args);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        let _ = std::process::Command::new("kill")
            .args(["-9", &daemon.pid().to_string()])
            .status();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    daemon.kill_and_restart();

    // Whatever the daemon lists is removed; nothing may run, stay mounted or keep runtime
    // state that it does not list.
    std::thread::sleep(Duration::from_secs(1));
    let left = daemon.docker_ok(&["ps", "-aq"]);
    if !left.trim().is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(left.lines());
        daemon.docker_ok(&args);
    }
    wait_until("the records to go", Duration::from_secs(10), || {
        daemon.container_ids().is_empty()
    });
    wait_until("the shims to end", Duration::from_secs(10), || {
        strays(&daemon).is_empty()
    });
    assert_eq!(daemon.mounts(), Vec::<String>::new(), "mounts left");
    // Container state only: the runtime's kept seccomp programs (`.seccomp`) stay by design.
    let runtime_state: Vec<_> = std::fs::read_dir(daemon.dir.join("exec/runtime"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|name| name != ".seccomp")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        runtime_state,
        Vec::<std::ffi::OsString>::new(),
        "runtime state left"
    );
}

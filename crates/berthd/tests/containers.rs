//! Containers through berthd, driven by the real docker CLI: what a docker user sees from run,
//! ps, logs, exec, inspect, stop, rm, wait, attach, top, stats and events.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::Daemon;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let out = daemon.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    // --rm: nothing is left.
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]), "");
    assert!(daemon.container_ids().is_empty());

    let out = daemon.docker(&["run", "--rm", "busybox", "/nope"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out));
    let out = daemon.docker(&["run", "--rm", "no-such-image-here"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    let out = daemon.docker(&["run", "--rm", "--runtime", "nope", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(
        text(&out).contains("unknown or invalid runtime name: nope"),
        "{}",
        text(&out)
    );
    let out = daemon.docker(&["image", "inspect", "nope"]);
    assert!(
        text(&out).contains("No such image: nope:latest"),
        "{}",
        text(&out)
    );
}

#[test]
fn detached_container_logs_exec_inspect_top_stop_and_rm() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let id = daemon
        .docker_ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "-e",
            "GREETING=hi",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 143' TERM; echo started; echo $GREETING >&2; while :; do sleep 0.1; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");

    let ps = daemon.docker_ok(&["ps"]);
    let row = ps.lines().nth(1).unwrap_or_default().to_string();
    assert!(row.starts_with(&id[..12]), "{ps}");
    assert!(
        row.contains("busybox") && row.contains("Up ") && row.ends_with("web"),
        "{ps}"
    );
    assert_eq!(daemon.docker_ok(&["ps", "-q", "--no-trunc"]).trim(), id);

    // Logs keep stdout and stderr apart.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = daemon.docker(&["logs", "web"]);
        if String::from_utf8_lossy(&out.stdout) == "started\n" {
            assert_eq!(String::from_utf8_lossy(&out.stderr), "hi\n");
            break;
        }
        assert!(Instant::now() < deadline, "logs: {}", text(&out));
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_eq!(
        daemon
            .docker_ok(&["exec", "web", "cat", "/etc/hostname"])
            .trim(),
        &id[..12]
    );
    let out = daemon.docker(&["exec", "web", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let out = daemon.docker(&["exec", "web", "/no/such/command"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out));
    let out = daemon.docker(&["exec", "web", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert_eq!(
        daemon.docker_ok(&[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $X $PWD"
        ]),
        "1 /tmp\n"
    );

    let state = daemon.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Running}} {{.Name}} {{.Config.Image}}",
        "web",
    ]);
    assert_eq!(state.trim(), "running true /web busybox");

    let top = daemon.docker_ok(&["top", "web"]);
    assert!(top.starts_with("UID") && top.contains("trap"), "{top}");

    let stats = daemon.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "web",
    ]);
    let (name, pids) = stats.trim().split_once(' ').unwrap();
    assert_eq!(name, "web", "{stats}");
    assert!(matches!(pids, "1" | "2"), "{stats}");

    let started = Instant::now();
    daemon.docker_ok(&["stop", "-t", "5", "web"]);
    // The shell's trap ends it well before the timeout.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let state = daemon.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]);
    assert_eq!(state.trim(), "exited 143");
    let ps = daemon.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Exited (143)"), "{ps}");

    let out = daemon.docker(&["rm", "nope"]);
    assert!(
        text(&out).contains("No such container: nope"),
        "{}",
        text(&out)
    );
    daemon.docker_ok(&["rm", "web"]);
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]), "");

    // A pid 1 without a SIGTERM handler ignores it: stop kills it after the timeout.
    daemon.docker_ok(&[
        "run", "-d", "--name", "stubborn", "busybox", "sleep", "1000",
    ]);
    let started = Instant::now();
    daemon.docker_ok(&["stop", "-t", "1", "stubborn"]);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let state = daemon.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]);
    assert_eq!(state.trim(), "137");
}

#[test]
fn rm_refuses_a_running_container_without_force_and_names_conflict() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["run", "-d", "--name", "one", "busybox", "sleep", "1000"]);
    let out = daemon.docker(&["run", "-d", "--name", "one", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out).contains("is already in use"), "{}", text(&out));
    let out = daemon.docker(&["rm", "one"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("stop the container before removing or force remove"),
        "{}",
        text(&out)
    );
    daemon.docker_ok(&["rm", "-f", "one"]);
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn attach_with_stdin_and_wait() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let mut child = daemon
        .docker_command(&[
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "tr a-z A-Z; exit 4",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");

    // Like dockerd, waiting on a container that never ran returns at once.
    daemon.docker_ok(&[
        "create",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 9",
    ]);
    assert_eq!(daemon.docker_ok(&["wait", "later"]).trim(), "0");
    daemon.docker_ok(&["start", "later"]);
    let started = Instant::now();
    assert_eq!(daemon.docker_ok(&["wait", "later"]).trim(), "9");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // start -a attaches before starting: nothing printed is lost.
    let out = daemon.docker(&["start", "-a", "later"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
}

/// Clients that do not ask for an upgrade get the stream as a plain `200` body, as from dockerd.
#[test]
fn attach_and_exec_without_upgrade_stream_in_the_body() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "plain",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo out; echo err >&2",
    ]);
    let (status, head, body) = daemon.http(
        "POST",
        "/containers/plain/attach?stream=1&stdout=1&stderr=1",
        b"",
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    assert!(body.contains("\u{1}\0\0\0\0\0\0\u{4}out\n"), "{body:?}");
    assert!(body.contains("\u{2}\0\0\0\0\0\0\u{4}err\n"), "{body:?}");
    daemon.docker_ok(&["rm", "-f", "plain"]);

    daemon.docker_ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "60"]);

    let (status, _, body) = daemon.http(
        "POST",
        "/containers/plain/exec",
        br#"{"AttachStdout":true,"Cmd":["echo","from exec"]}"#,
    );
    assert_eq!(status, 201, "{body}");
    let exec: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = exec["Id"].as_str().unwrap();
    let (status, _, body) = daemon.http("POST", &format!("/exec/{id}/start"), b"{}");
    assert_eq!(status, 200);
    assert_eq!(body, "\u{1}\0\0\0\0\0\0\u{a}from exec\n");
    daemon.docker_ok(&["rm", "-f", "plain"]);
}

/// `POST /exec/{id}/resize` reaches the process's terminal (the docker CLI sends it for
/// `exec -it` and on every window change).
#[test]
fn a_terminal_exec_is_resized() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["run", "-d", "--name", "tall", "busybox", "sleep", "60"]);
    let (status, _, body) = daemon.http(
        "POST",
        "/containers/tall/exec",
        br#"{"AttachStdout":true,"Tty":true,"Cmd":["sh","-c","sleep 1; stty size"]}"#,
    );
    assert_eq!(status, 201, "{body}");
    let exec: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = exec["Id"].as_str().unwrap().to_string();
    let output = std::thread::scope(|scope| {
        let start =
            scope.spawn(|| daemon.http("POST", &format!("/exec/{id}/start"), br#"{"Tty":true}"#));
        common::wait_until("the exec to take a resize", Duration::from_secs(5), || {
            daemon
                .http("POST", &format!("/exec/{id}/resize?h=33&w=101"), b"")
                .0
                == 200
        });
        start.join().unwrap()
    });
    assert_eq!(output.0, 200);
    assert!(output.2.contains("33 101"), "{:?}", output.2);
    // A finished exec has no terminal to resize.
    let (status, _, _) = daemon.http("POST", &format!("/exec/{id}/resize?h=10&w=10"), b"");
    assert_eq!(status, 409);
    daemon.docker_ok(&["rm", "-f", "tall"]);
}

#[test]
fn events_report_the_life_of_a_container() {
    let daemon = Daemon::start();
    let since = common::unix_time_in(0);
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["tag", "busybox", "mine:1"]);
    daemon.docker_ok(&["rmi", "mine:1"]);
    daemon.docker_ok(&["run", "--rm", "--name", "brief", "busybox", "true"]);
    let until = common::unix_time_in(1);
    let events = daemon.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=brief",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.lines().collect();
    for wanted in ["create", "start", "die", "destroy"] {
        assert!(actions.contains(&wanted), "{actions:?}");
    }
    let images = daemon.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let images: Vec<&str> = images.lines().collect();
    assert_eq!(
        images,
        ["load busybox:latest", "tag mine:1", "untag mine:1"],
        "{images:?}"
    );
}

#[test]
fn init_reaps_and_forwards_signals() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let out = daemon.docker_ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline",
    ]);
    assert!(out.starts_with("/sbin/docker-init -- sh -c"), "{out}");
    // sleep as pid 1 would ignore SIGTERM; under the init it dies of it at once.
    daemon.docker_ok(&[
        "run", "-d", "--init", "--name", "sleepy", "busybox", "sleep", "1000",
    ]);
    let started = Instant::now();
    daemon.docker_ok(&["stop", "-t", "5", "sleepy"]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let code = daemon.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "sleepy"]);
    assert_eq!(code.trim(), "143");
}

#[test]
fn an_exec_root_too_long_for_socket_paths_is_refused_at_start() {
    let dir = berth_testkit::tempdir::TempDir::new("berthd-long");
    let exec_root = dir.join("x".repeat(60));
    let netns = berth_testkit::NetNs::new();
    let out = netns
        .command([env!("CARGO_BIN_EXE_berthd")])
        .arg("--host")
        .arg(format!("unix://{}", dir.join("s.sock").display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(&exec_root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is too long") && stderr.contains("--exec-root"),
        "{stderr}"
    );
}

#[test]
fn healthchecks_show_in_inspect_ps_and_events_and_on_unhealthy_restarts() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "fine",
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
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "--restart",
        "on-unhealthy",
        "--stop-timeout",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let status = |name: &str| {
        daemon
            .docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", name])
            .trim()
            .to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while status("fine") != "healthy" {
        assert!(Instant::now() < deadline, "fine: {}", status("fine"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let ps = daemon.docker_ok(&["ps", "--filter", "name=fine", "--format", "{{.Status}}"]);
    assert!(ps.trim().ends_with("(healthy)"), "{ps}");
    let log = daemon.docker_ok(&[
        "inspect",
        "-f",
        "{{(index .State.Health.Log 0).ExitCode}}",
        "fine",
    ]);
    assert_eq!(log.trim(), "0");

    // Two failed probes make it unhealthy; on-unhealthy then restarts it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let restarts = daemon.docker_ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Running}}",
            "sick",
        ]);
        if restarts.trim() != "0 true" && restarts.trim().ends_with("true") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sick never restarted: {restarts}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let until = common::unix_time_in(1);
    let events = daemon.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=health_status",
        "--format",
        "{{.Actor.Attributes.name}} {{.Action}}",
    ]);
    assert!(events.contains("fine health_status: healthy"), "{events}");
    assert!(events.contains("sick health_status: unhealthy"), "{events}");
}

#[test]
fn hostile_requests_get_clear_errors_and_the_daemon_carries_on() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let (status, _, body) = daemon.http("POST", "/containers/create", b"{not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed JSON"), "{body}");
    let huge = format!(
        "{{\"Image\":\"busybox\",\"Env\":[\"{}\"]}}",
        "x".repeat(2 << 20)
    );
    // The daemon refuses a body over its limit, possibly closing the connection before it has
    // read it all: the client then sees the 400 or a reset, and nothing is created.
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    let head = format!(
        "POST /containers/create HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        huge.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(huge.as_bytes());
    let mut answer = String::new();
    match std::io::Read::read_to_string(&mut stream, &mut answer) {
        Ok(_) => assert!(answer.starts_with("HTTP/1.0 400"), "{answer}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(
        daemon.docker_ok(&["ps", "-aq"]).is_empty(),
        "nothing was created"
    );
    let (status, _, body) = daemon.http(
        "POST",
        "/containers/create?name=..%2F..%2Fetc",
        br#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Invalid container name"), "{body}");
    let (status, _, body) = daemon.http("GET", "/containers/..%2F..%2Fetc%2Fpasswd/json", b"");
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = daemon.http("POST", "/containers/nope/frobnicate", b"");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("message"), "{body}");
    let (status, _, body) = daemon.http(
        "POST",
        "/containers/create",
        br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Binds":["rel/ative:/x"]}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("invalid characters for a local volume name"),
        "{body}"
    );
    // A client that connects and sends half a request does not hold the daemon up.
    let mut slow = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    std::io::Write::write_all(
        &mut slow,
        b"POST /containers/create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "busybox", "echo", "still here"]),
        "still here\n"
    );
    drop(slow);
    assert!(daemon.docker_ok(&["ps", "-aq"]).is_empty());
}

#[test]
fn system_df_counts_images_and_containers() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["create", "--name", "idle", "busybox", "true"]);
    daemon.docker_ok(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero > /big",
    ]);
    let size = daemon.docker_ok(&["inspect", "-s", "-f", "{{.SizeRw}}", "writer"]);
    assert_eq!(size.trim(), "3000000", "{size}");
    let ps = daemon.docker_ok(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        "name=writer",
        "--format",
        "{{.Size}}",
    ]);
    assert!(ps.starts_with("3MB"), "{ps}");
    daemon.docker_ok(&["rm", "writer"]);
    let df = daemon.docker_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    let rows: Vec<&str> = df.lines().collect();
    assert_eq!(
        rows,
        [
            "Images 1 1",
            "Containers 1 0",
            "Local Volumes 0 0",
            "Build Cache 0 0"
        ],
        "{df}"
    );
}

#[test]
fn sigterm_ends_open_streams_and_the_daemon_exits_leaving_containers_running() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["run", "-d", "--name", "stays", "busybox", "sleep", "1000"]);
    let mut events = daemon
        .docker_command(&["events"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut logs = daemon
        .docker_command(&["logs", "-f", "stays"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let _ = events.wait();
    let _ = logs.wait();
    // Live restore: the container outlived its daemon, and the next one finds it running.
    daemon.kill_and_restart();
    let state = daemon.docker_ok(&["inspect", "-f", "{{.State.Running}}", "stays"]);
    assert_eq!(state.trim(), "true");
}

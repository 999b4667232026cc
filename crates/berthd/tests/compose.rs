//! docker-compose (Debian's 1.29) against berthd in its own network namespace: a two-service
//! project on its own network, one service publishing a port, the other reaching it by name,
//! both sharing a named volume.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::Daemon;

const COMPOSE_FILE: &str = r#"version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "while true; do echo web-hello | nc -l -p 80; done"]
    ports: ["18300:80"]
    volumes: ["shared:/shared"]
  client:
    image: busybox
    command: ["sleep", "600"]
    volumes: ["shared:/shared", "/scratch"]
volumes:
  shared: {}
"#;

/// `docker-compose -p duo -f FILE args…` against the daemon, run inside its namespace (so
/// nothing else changes) with a private client config.
fn compose(daemon: &Daemon, file: &std::path::Path, args: &[&str]) -> Output {
    let mut command: Command = daemon.in_netns(&["docker-compose", "--no-ansi", "-p", "duo"]);
    command
        .arg("-f")
        .arg(file)
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", daemon.socket.display()))
        .env("DOCKER_CONFIG", daemon.dir.join("docker-config"))
        .stdin(std::process::Stdio::null());
    command.output().expect("run docker-compose")
}

fn compose_ok(daemon: &Daemon, file: &std::path::Path, args: &[&str]) -> String {
    let out = compose(daemon, file, args);
    assert!(
        out.status.success(),
        "docker-compose {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_compose_project_comes_up_talks_by_service_name_and_goes_away() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let file = daemon.dir.join("docker-compose.yml");
    std::fs::write(&file, COMPOSE_FILE).unwrap();
    compose_ok(&daemon, &file, &["up", "-d"]);
    let networks = daemon.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(networks.lines().any(|n| n == "duo_default"), "{networks}");

    let seen = compose_ok(&daemon, &file, &["exec", "-T", "client", "nc", "web", "80"]);
    assert_eq!(seen, "web-hello\n");
    compose_ok(
        &daemon,
        &file,
        &[
            "exec",
            "-T",
            "client",
            "sh",
            "-c",
            "echo shared > /shared/f",
        ],
    );
    let shared = compose_ok(&daemon, &file, &["exec", "-T", "web", "cat", "/shared/f"]);
    assert_eq!(shared, "shared\n");
    common::wait_until("the published port", Duration::from_secs(10), || {
        let out = daemon
            .in_netns(&[
                "timeout",
                "5",
                "bash",
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/18300; timeout 3 cat <&3",
            ])
            .output()
            .unwrap();
        out.stdout == b"web-hello\n"
    });
    let ps = compose_ok(&daemon, &file, &["ps"]);
    let web = ps
        .lines()
        .find(|l| l.starts_with("duo_web_1"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(
        web.contains("Up") && web.contains("0.0.0.0:18300->80/tcp"),
        "{ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.starts_with("duo_client_1") && l.contains("Up")),
        "{ps}"
    );

    compose_ok(&daemon, &file, &["down"]);
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]), "");
    let networks = daemon.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains("duo_default"), "{networks}");
    // `down` keeps the project's named volume; `down -v` removes it.
    let volumes = daemon.docker_ok(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(volumes.lines().any(|v| v == "duo_shared"), "{volumes}");
    compose_ok(&daemon, &file, &["down", "-v"]);
    let volumes = daemon.docker_ok(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(!volumes.contains("duo_shared"), "{volumes}");
}

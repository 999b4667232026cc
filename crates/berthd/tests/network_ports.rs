//! Published port ranges and what `docker port` and `docker ps` show of them, and a daemon
//! killed while its containers die: when it comes back nothing of theirs is left in its network
//! namespace. berthd runs in its own network namespace, driven by the docker CLI.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Daemon;

const WAIT: Duration = Duration::from_secs(20);

/// What a TCP server on `127.0.0.1:port` of the daemon's namespace says (empty: nothing).
fn tcp_read(daemon: &Daemon, port: u16) -> String {
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port}; timeout 3 cat <&3");
    let out = daemon
        .in_netns(&["timeout", "10", "bash", "-c", &script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker run -d --name NAME PUBLISH… busybox` serving `NAME` on TCP ports 80 and 81.
fn serve(daemon: &Daemon, name: &str, publish: &[&str]) {
    let serve =
        format!("for p in 80 81; do (while true; do echo {name} | nc -l -p $p; done) & done; wait");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend(publish);
    args.extend(["busybox", "sh", "-c", &serve]);
    daemon.docker_ok(&args);
}

fn answers(daemon: &Daemon, port: u16, word: &str) {
    common::wait_until(&format!("{word} on port {port}"), WAIT, || {
        tcp_read(daemon, port) == format!("{word}\n")
    });
}

#[test]
fn port_ranges_pick_free_ports_and_show_in_port_and_ps() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    serve(&daemon, "first", &["-p", "18000:80"]);
    // The range's first port is taken: the next free one is used.
    serve(&daemon, "ranged", &["-p", "18000-18002:80"]);
    assert_eq!(
        daemon.docker_ok(&["port", "ranged"]),
        "80/tcp -> 0.0.0.0:18001\n"
    );
    serve(&daemon, "loop", &["-p", "127.0.0.1::80"]);
    let mapped = daemon.docker_ok(&["port", "loop", "80/tcp"]);
    let port: u16 = mapped
        .trim()
        .strip_prefix("127.0.0.1:")
        .unwrap()
        .parse()
        .unwrap();
    serve(&daemon, "pair", &["-p", "18010-18011:80-81"]);
    assert_eq!(
        daemon.docker_ok(&["port", "pair"]),
        "80/tcp -> 0.0.0.0:18010\n81/tcp -> 0.0.0.0:18011\n"
    );
    answers(&daemon, 18000, "first");
    answers(&daemon, 18001, "ranged");
    answers(&daemon, port, "loop");
    answers(&daemon, 18010, "pair");
    answers(&daemon, 18011, "pair");

    let mut ps: Vec<String> = daemon
        .docker_ok(&["ps", "--format", "{{.Names}} {{.Ports}}"])
        .lines()
        .map(str::to_string)
        .collect();
    ps.sort();
    assert_eq!(
        ps,
        [
            "first 0.0.0.0:18000->80/tcp".to_string(),
            format!("loop 127.0.0.1:{port}->80/tcp"),
            "pair 0.0.0.0:18010->80/tcp, 0.0.0.0:18011->81/tcp".to_string(),
            "ranged 0.0.0.0:18001->80/tcp".to_string(),
        ]
    );
    // A range with every port taken is refused and leaves nothing behind.
    let out = daemon.docker(&["run", "--rm", "-p", "18010-18011:80", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("18010-18011"),
        "{out:?}"
    );
    daemon.docker_ok(&["rm", "-f", "first", "ranged", "loop", "pair"]);
    assert_eq!(tcp_read(&daemon, 18001), "");
}

/// SIGKILLs every process of the containers `names`: their init and their shim.
fn kill_containers(daemon: &Daemon, names: &[&str]) -> impl FnOnce() {
    let mut victims = Vec::new();
    for name in names {
        victims.push(daemon.inspect("{{.State.Pid}}", name));
        let shims = common::pids_mentioning(&daemon.inspect("{{.Id}}", name));
        assert!(!shims.is_empty(), "no shim of {name}");
        victims.extend(shims.iter().map(|p| p.to_string()));
    }
    move || {
        let status = Command::new("kill")
            .arg("-9")
            .args(&victims)
            .status()
            .unwrap();
        assert!(status.success(), "kill -9 {victims:?}");
    }
}

#[test]
fn containers_dying_while_the_daemon_is_down_leave_nothing_behind() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["network", "create", "--subnet", "10.94.0.0/24", "crashnet"]);
    // Bridges and berth's table come with the first containers: make them before comparing.
    for network in ["bridge", "crashnet"] {
        let run = [
            "run",
            "--rm",
            "--network",
            network,
            "-p",
            "7000:80",
            "busybox",
            "true",
        ];
        daemon.docker_ok(&run);
    }
    let settled = || !daemon.net_snapshot().contains("tentative");
    common::wait_until("the bridges' addresses to settle", WAIT, settled);
    let before = daemon.net_snapshot();
    serve(&daemon, "doomed1", &["-p", "18200:80"]);
    serve(
        &daemon,
        "doomed2",
        &["--network", "crashnet", "-p", "18201:80"],
    );
    answers(&daemon, 18201, "doomed2");
    let ids = ["doomed1", "doomed2"].map(|n| daemon.inspect("{{.Id}}", n));

    let kill = kill_containers(&daemon, &["doomed1", "doomed2"]);
    daemon.kill_and_restart_with(kill);
    common::wait_until("the dead containers' network to go", WAIT, || {
        daemon.net_snapshot() == before
    });
    for id in &ids {
        // The namespace file goes last in the teardown, which runs after the restart.
        let netns = daemon.dir.join("exec/netns").join(id);
        common::wait_until("the dead containers' namespace files to go", WAIT, || {
            !netns.exists()
        });
        // Nor their cgroups, which their shims would have removed.
        common::wait_until("the dead containers' cgroups to go", WAIT, || {
            common::cgroups_of(id).is_empty()
        });
    }
    let states = daemon.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(
        states.contains("doomed1 exited") && states.contains("doomed2 exited"),
        "{states}"
    );
    // Their ports can be published again.
    serve(&daemon, "again", &["-p", "18200:80", "-p", "18201:81"]);
    answers(&daemon, 18200, "again");
    answers(&daemon, 18201, "again");
    daemon.docker_ok(&["rm", "-f", "again", "doomed1", "doomed2"]);
    daemon.docker_ok(&["network", "rm", "crashnet"]);
}

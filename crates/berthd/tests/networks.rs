//! Networks driven by the docker CLI against berthd, which runs in its own network namespace
//! (the harness makes one per daemon): names and aliases resolve on user networks, networks are
//! isolated, published ports answer on the namespace's loopback, `host`, `none` and
//! `container:` modes, connect/disconnect, bad input, teardown and live restore.

mod common;

use std::process::Output;

use common::Daemon;

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `script` with bash inside the daemon's namespace (the host side of its networks).
fn host_side(daemon: &Daemon, script: &str) -> Output {
    daemon
        .in_netns(&["timeout", "10", "bash", "-c", script])
        .output()
        .unwrap()
}

/// Reads what a TCP server on the host side's `port` says.
fn tcp_read(daemon: &Daemon, host: &str, port: u16) -> String {
    let out = host_side(
        daemon,
        &format!("exec 3<>/dev/tcp/{host}/{port}; timeout 3 cat <&3"),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends a UDP datagram to the host side's `port` and returns the reply.
fn udp_exchange(daemon: &Daemon, port: u16) -> String {
    let script = format!(
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); \
         s.sendto(b'ping\\n', ('127.0.0.1', {port})); print(s.recvfrom(100)[0].decode(), end='')"
    );
    let out = daemon
        .in_netns(&["python3", "-c", &script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP server in a container answering every connection with `word`.
fn serve_word(word: &str) -> String {
    format!("while true; do echo {word} | nc -l -p 80; done")
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["network", "create", "--subnet", "10.77.0.0/24", "front"]);
    daemon.docker_ok(&["network", "create", "back"]);
    for (name, alias) in [("web1", "web"), ("web2", "web")] {
        daemon.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "front",
            "--network-alias",
            alias,
            "busybox",
            "sh",
            "-c",
            &serve_word(name),
        ]);
    }
    let ip1 = daemon.inspect("{{.NetworkSettings.Networks.front.IPAddress}}", "web1");
    let ip2 = daemon.inspect("{{.NetworkSettings.Networks.front.IPAddress}}", "web2");
    assert!(
        ip1.starts_with("10.77.0.") && ip2.starts_with("10.77.0."),
        "{ip1} {ip2}"
    );
    assert_ne!(ip1, ip2);

    // By name, by alias (both addresses), by short id; the resolver is the embedded one.
    let short_id = &daemon.inspect("{{.Id}}", "web2")[..12];
    let probe = format!(
        "cat /etc/resolv.conf; nslookup web1; nslookup web; nslookup {short_id}; \
         nc web1 80 </dev/null; nc web2 80 </dev/null"
    );
    let out = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        &probe,
    ]);
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    assert!(seen.starts_with("nameserver 127.0.0.11\n"), "{seen}");
    assert!(seen.contains(&format!("Address: {ip1}")), "{seen}");
    assert!(seen.contains(&format!("Address: {ip2}")), "{seen}");
    assert!(seen.contains("web1\nweb2\n"), "{seen}");

    // Another network sees neither the names nor the addresses.
    let out = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "sh",
        "-c",
        &format!("nslookup web1; nc -w 2 {ip1} 80 </dev/null && echo reached"),
    ]);
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!seen.contains(&ip1), "{}", text(&out));
    assert!(!seen.contains("reached"), "{}", text(&out));

    // The network shows its containers; a network in use cannot go.
    let members = daemon.docker_ok(&[
        "network",
        "inspect",
        "front",
        "--format",
        "{{range .Containers}}{{.Name}} {{end}}",
    ]);
    let mut members: Vec<&str> = members.split_whitespace().collect();
    members.sort();
    assert_eq!(members, ["web1", "web2"]);
    let out = daemon.docker(&["network", "rm", "front"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("has active endpoints"),
        "{}",
        text(&out)
    );
    daemon.docker_ok(&["rm", "-f", "web1", "web2"]);
    daemon.docker_ok(&["network", "rm", "front", "back"]);
}

#[test]
fn published_ports_answer_on_loopback_and_bad_specs_are_refused() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let probe = format!("{}:/probe:ro", common::probe_binary().display());
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pub",
        "-v",
        &probe,
        "-p",
        "8080:80",
        "-p",
        "127.0.0.1:9999:99/udp",
        "busybox",
        "sh",
        "-c",
        "/probe udp-echo 99 & while true; do echo tcp-hello | nc -l -p 80; done",
    ]);
    assert_eq!(
        daemon.docker_ok(&["port", "pub"]),
        "80/tcp -> 0.0.0.0:8080\n99/udp -> 127.0.0.1:9999\n"
    );
    common::wait_until(
        "the published TCP port",
        std::time::Duration::from_secs(10),
        || tcp_read(&daemon, "127.0.0.1", 8080) == "tcp-hello\n",
    );
    common::wait_until(
        "the published UDP port",
        std::time::Duration::from_secs(10),
        || udp_exchange(&daemon, 9999) == "udp-ping\n",
    );
    let ps = daemon.docker_ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), "0.0.0.0:8080->80/tcp, 127.0.0.1:9999->99/udp");

    // -P: every exposed port to a free port the kernel picks.
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "any",
        "--expose",
        "80",
        "-P",
        "busybox",
        "sh",
        "-c",
        &serve_word("random"),
    ]);
    let mapped = daemon.docker_ok(&["port", "any", "80"]);
    let port: u16 = mapped.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    common::wait_until("the -P port", std::time::Duration::from_secs(10), || {
        tcp_read(&daemon, "127.0.0.1", port) == "random\n"
    });

    // A port taken, a bad spec, an address the host does not have: clear errors, nothing made.
    let before = daemon.docker_ok(&["ps", "-aq"]);
    for (args, words) in [
        (vec!["-p", "8080:80"], "port is already allocated"),
        (vec!["-p", "70000:80"], "invalid hostPort"),
        (
            vec!["-p", "192.0.2.1:8081:80"],
            "Bind for 192.0.2.1:8081 failed",
        ),
    ] {
        let mut run = vec!["run", "--rm"];
        run.extend(args);
        run.extend(["busybox", "true"]);
        let out = daemon.docker(&run);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(text(&out).contains(words), "{words}: {}", text(&out));
    }
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]), before);
    daemon.docker_ok(&["rm", "-f", "pub", "any"]);
    common::wait_until(
        "the forwarding rules to go",
        std::time::Duration::from_secs(10),
        || {
            let rules = daemon
                .in_netns(&["nft", "list", "ruleset"])
                .output()
                .unwrap();
            !String::from_utf8_lossy(&rules.stdout).contains("dport 8080")
        },
    );
}

#[test]
fn host_none_and_container_network_modes() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    // host: the daemon's own namespace, with its loopback and bridge.
    let host_links = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(host_links.contains(": lo:"), "{host_links}");
    // none: loopback only, up.
    let none = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "addr",
    ]);
    assert!(none.contains("lo") && none.contains("127.0.0.1"), "{none}");
    assert!(!none.contains("eth0"), "{none}");
    // container:NAME: the other container's interfaces and address.
    daemon.docker_ok(&["run", "-d", "--name", "owner", "busybox", "sleep", "60"]);
    let ip = daemon.inspect("{{.NetworkSettings.IPAddress}}", "owner");
    assert!(!ip.is_empty());
    let shared = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(shared.contains(&format!("inet {ip}/")), "{shared}");
    daemon.docker_ok(&["rm", "-f", "owner"]);
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["network", "create", "--subnet", "10.78.0.0/24", "side"]);
    daemon.docker_ok(&["run", "-d", "--name", "roamer", "busybox", "sleep", "60"]);
    daemon.docker_ok(&[
        "network",
        "connect",
        "--alias",
        "wanderer",
        "--ip",
        "10.78.0.50",
        "side",
        "roamer",
    ]);
    let addrs = daemon.docker_ok(&["exec", "roamer", "ip", "-o", "-4", "addr"]);
    assert!(
        addrs.contains("eth1") && addrs.contains("10.78.0.50/24"),
        "{addrs}"
    );
    let seen = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "side",
        "busybox",
        "nslookup",
        "wanderer",
    ]);
    assert!(seen.contains("Address: 10.78.0.50"), "{seen}");
    let networks = daemon.inspect(
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "roamer",
    );
    assert_eq!(networks.trim(), "bridge side");

    daemon.docker_ok(&["network", "disconnect", "side", "roamer"]);
    let addrs = daemon.docker_ok(&["exec", "roamer", "ip", "-o", "-4", "addr"]);
    assert!(!addrs.contains("eth1"), "{addrs}");
    let out = daemon.docker(&["network", "disconnect", "side", "roamer"]);
    assert!(!out.status.success(), "{}", text(&out));
    daemon.docker_ok(&["rm", "-f", "roamer"]);
    daemon.docker_ok(&["network", "rm", "side"]);
}

#[test]
fn bad_network_requests_are_clear_errors_and_change_nothing() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["network", "create", "--subnet", "10.79.0.0/16", "first"]);
    let listed = daemon.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    for (args, words) in [
        (
            vec!["network", "create", "--subnet", "10.79.1.0/24", "second"],
            "overlaps",
        ),
        (
            vec![
                "network",
                "create",
                "--subnet",
                "10.80.0.0/24",
                "--gateway",
                "10.81.0.1",
                "third",
            ],
            "10.81.0.1",
        ),
        (
            vec!["network", "create", "--subnet", "not-a-subnet", "fourth"],
            "not-a-subnet",
        ),
        (vec!["network", "create", "first"], "already exists"),
        (vec!["network", "rm", "bridge"], "pre-defined network"),
        (
            vec!["network", "rm", "nowhere"],
            "network nowhere not found",
        ),
        (
            vec!["run", "--rm", "--network", "nowhere", "busybox", "true"],
            "network nowhere not found",
        ),
        (
            vec![
                "run",
                "--rm",
                "--network",
                "first",
                "--ip",
                "10.1.0.5",
                "busybox",
                "true",
            ],
            "10.1.0.5",
        ),
    ] {
        let out = daemon.docker(&args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(words), "{args:?}: {}", text(&out));
    }
    assert_eq!(
        daemon.docker_ok(&["network", "ls", "--format", "{{.Name}}"]),
        listed
    );
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]), "");
    daemon.docker_ok(&["network", "rm", "first"]);
}

#[test]
fn containers_created_and_removed_leave_the_namespace_as_it_was() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    // The default bridge and berth's table come with the first container: make them first.
    // (A bridge also changes state when it first gets a port: give each network a container.)
    daemon.docker_ok(&["network", "create", "many"]);
    for network in ["bridge", "many"] {
        daemon.docker_ok(&[
            "run",
            "--rm",
            "--network",
            network,
            "-p",
            "7000:80",
            "busybox",
            "true",
        ]);
    }
    common::wait_until(
        "the bridges' addresses to settle",
        std::time::Duration::from_secs(10),
        || !daemon.net_snapshot().contains("tentative"),
    );
    let before = daemon.net_snapshot();
    let mut ids = Vec::new();
    for i in 0..200 {
        let network = if i % 2 == 0 { "bridge" } else { "many" };
        let port = format!("{}:80", 20000 + i);
        ids.push(
            daemon
                .docker_ok(&[
                    "run",
                    "-d",
                    "--network",
                    network,
                    "-p",
                    &port,
                    "busybox",
                    "sleep",
                    "60",
                ])
                .trim()
                .to_string(),
        );
    }
    let during = daemon.net_snapshot();
    assert_ne!(during, before);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    daemon.docker_ok(&rm);
    // The forwarding rules of removed containers go in the background.
    common::wait_until(
        "the namespace to be as before",
        std::time::Duration::from_secs(10),
        || daemon.net_snapshot() == before,
    );
    daemon.docker_ok(&["network", "rm", "many"]);
}

#[test]
fn a_restarted_daemon_keeps_ports_published_and_names_resolving() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["network", "create", "keep"]);
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "kept",
        "--network",
        "keep",
        "-p",
        "8090:80",
        "busybox",
        "sh",
        "-c",
        &serve_word("still-here"),
    ]);
    common::wait_until(
        "the published port",
        std::time::Duration::from_secs(10),
        || tcp_read(&daemon, "127.0.0.1", 8090) == "still-here\n",
    );
    daemon.kill_and_restart();
    assert_eq!(tcp_read(&daemon, "127.0.0.1", 8090), "still-here\n");
    let seen = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "busybox",
        "nc",
        "kept",
        "80",
    ]);
    assert_eq!(seen, "still-here\n");
    // The port is still held: another container cannot take it.
    let out = daemon.docker(&["run", "--rm", "-p", "8090:80", "busybox", "true"]);
    assert!(
        text(&out).contains("port is already allocated"),
        "{}",
        text(&out)
    );
    daemon.docker_ok(&["rm", "-f", "kept"]);
    daemon.docker_ok(&["network", "rm", "keep"]);
}

//! Network options driven by the docker CLI against berthd in its own network namespace:
//! `--internal` networks, IPv6 networks, and the per-container flags (`--ip`, `--mac-address`,
//! `--dns*`, `--add-host`, `--hostname`) as a process inside the container sees them.

mod common;

use std::process::Output;

use common::{Daemon, Killed};

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What a TCP server at `host:port` says, read from the daemon's namespace (empty: nothing).
fn tcp_read(daemon: &Daemon, host: &str, port: u16) -> String {
    let script = format!("exec 3<>/dev/tcp/{host}/{port}; timeout 3 cat <&3");
    let out = daemon
        .in_netns(&["timeout", "10", "bash", "-c", &script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker run -d --name NAME --network NETWORK busybox` serving `NAME` on TCP port 80.
fn serve_name(daemon: &Daemon, name: &str, network: &str, extra: &[&str]) {
    let serve = format!("while true; do echo {name} | nc -l -p 80; done");
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend(extra);
    args.extend(["busybox", "sh", "-c", &serve]);
    daemon.docker_ok(&args);
}

#[test]
fn an_internal_network_reaches_its_members_and_nothing_else() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["network", "create", "--subnet", "10.91.0.0/24", "outer"]);
    let args = [
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.92.0.0/24",
    ];
    daemon.docker_ok(&[&args[..], &["inner"]].concat());
    assert_eq!(daemon.inspect("{{.Internal}}", "inner"), "true");
    serve_name(&daemon, "outside", "outer", &["-p", "18101:80"]);
    serve_name(&daemon, "inside", "inner", &["-p", "18100:80"]);
    let outside = daemon.inspect("{{.NetworkSettings.Networks.outer.IPAddress}}", "outside");

    // A member reaches another by name; there is no route out, and with one added by hand
    // (NET_ADMIN) the firewall drops what it sends out, to a container or to a published port.
    let probe = format!(
        "nc inside 80 </dev/null; ip route; nc -w 2 {outside} 80 </dev/null && echo direct; \
         ip route add default via 10.92.0.1 && echo added; nc -w 2 {outside} 80 </dev/null \
         && echo routed; nc -w 2 10.91.0.1 18101 </dev/null && echo published"
    );
    let out = daemon.docker(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_ADMIN",
        "--network",
        "inner",
        "busybox",
        "sh",
        "-c",
        &probe,
    ]);
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(seen.starts_with("inside\n"), "{}", text(&out));
    assert!(!seen.contains("default"), "{}", text(&out));
    assert!(!seen.contains("outside"), "{}", text(&out));
    assert!(seen.contains("added\n"), "{}", text(&out));
    for word in ["direct", "routed", "published"] {
        assert!(!seen.contains(word), "{word}: {}", text(&out));
    }
    // (The published port does answer a container on a network that is not internal.)
    let seen = daemon.docker_ok(&["run", "--rm", "busybox", "nc", "10.91.0.1", "18101"]);
    assert_eq!(seen, "outside\n");
    // The outside cannot come in either, nor through the published port.
    let inside = daemon.inspect("{{.NetworkSettings.Networks.inner.IPAddress}}", "inside");
    let out = daemon.docker(&[
        "exec",
        "outside",
        "sh",
        "-c",
        &format!("nc -w 2 {inside} 80 </dev/null && echo reached"),
    ]);
    assert!(!text(&out).contains("reached"), "{}", text(&out));
    assert_eq!(tcp_read(&daemon, "127.0.0.1", 18100), "");
    daemon.docker_ok(&["rm", "-f", "inside", "outside"]);
    daemon.docker_ok(&["network", "rm", "inner", "outer"]);
}

#[test]
fn an_ipv6_network_gives_addresses_that_resolve_and_answer() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:77::/64",
        "six",
    ]);
    assert_eq!(daemon.inspect("{{.EnableIPv6}}", "six"), "true");
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "six-a",
        "--network",
        "six",
        "busybox",
        "sleep",
        "60",
    ]);
    let v6 = daemon.inspect(
        "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}",
        "six-a",
    );
    assert!(v6.starts_with("fd00:77::"), "{v6}");
    let inside = daemon.docker_ok(&["exec", "six-a", "ip", "-o", "-6", "addr", "show", "eth0"]);
    assert!(inside.contains(&format!("inet6 {v6}/64")), "{inside}");
    // Another member finds it by name (AAAA) and reaches it over IPv6.
    let out = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "six",
        "busybox",
        "sh",
        "-c",
        "nslookup -type=AAAA six-a; ping -6 -c 1 -W 3 six-a",
    ]);
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    assert!(seen.contains(&format!("Address: {v6}")), "{}", text(&out));
    assert!(seen.contains("1 packets received"), "{}", text(&out));
    daemon.docker_ok(&["rm", "-f", "six-a"]);
    daemon.docker_ok(&["network", "rm", "six"]);
}

/// The words of `line`, for command lines without quoting.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn dns_flags_are_written_into_resolv_conf_on_the_default_bridge() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let resolv = daemon.docker_ok(&words(
        "run --rm --dns 10.0.0.53 --dns-search example.org --dns-option ndots:2 \
         busybox cat /etc/resolv.conf",
    ));
    let lines: Vec<&str> = resolv.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.contains(&"nameserver 10.0.0.53"), "{resolv}");
    assert!(lines.contains(&"search example.org"), "{resolv}");
    assert!(lines.contains(&"options ndots:2"), "{resolv}");
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
}

#[test]
fn address_mac_and_extra_hosts_show_inside_the_container() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&words(
        "network create --subnet 10.93.0.0/24 --gateway 10.93.0.254 opts",
    ));
    let mut run = words(
        "run --rm --network opts --ip 10.93.0.42 --mac-address 02:42:0a:5d:00:2a \
         --add-host db:10.1.2.3 --add-host gw:host-gateway busybox sh -c",
    );
    run.push("cat /etc/hosts /sys/class/net/eth0/address; ip -o -4 addr show eth0");
    let seen = daemon.docker_ok(&run);
    let hosts: Vec<Vec<&str>> = seen
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(hosts.contains(&vec!["10.1.2.3", "db"]), "{seen}");
    assert!(hosts.contains(&vec!["10.93.0.254", "gw"]), "{seen}");
    assert!(seen.contains("02:42:0a:5d:00:2a\n"), "{seen}");
    assert!(seen.contains("inet 10.93.0.42/24"), "{seen}");
    daemon.docker_ok(&["network", "rm", "opts"]);
}

#[test]
fn a_hostname_resolves_on_a_user_network() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&words("network create --subnet 10.99.0.0/24 names"));
    daemon.docker_ok(&words(
        "run -d --name named --hostname myhost --network names \
         --mac-address 02:42:0a:63:00:07 busybox sleep 60",
    ));
    let mac = daemon.inspect("{{.NetworkSettings.Networks.names.MacAddress}}", "named");
    assert_eq!(mac, "02:42:0a:63:00:07");
    let ip = daemon.inspect("{{.NetworkSettings.Networks.names.IPAddress}}", "named");
    for name in ["myhost", "named.names"] {
        let line = format!("run --rm --network names busybox nslookup {name}");
        let seen = daemon.docker_ok(&words(&line));
        assert!(seen.contains(&format!("Address: {ip}")), "{name}: {seen}");
    }
    // Its address resolves back to its name on the network (PTR).
    let seen = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "names",
        "busybox",
        "nslookup",
        &ip,
    ]);
    assert!(seen.contains("name = named.names"), "{seen}");
    assert_eq!(daemon.docker_ok(&["exec", "named", "hostname"]), "myhost\n");
    daemon.docker_ok(&["rm", "-f", "named"]);
    daemon.docker_ok(&["network", "rm", "names"]);
}

const STUB_DNS: &str = r#"
import socket, sys
answer = bytes(int(part) for part in sys.argv[2].split("."))
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    query, peer = server.recvfrom(512)
    end = query.index(0, 12) + 5
    records = b""
    if query[end - 4:end - 2] == b"\x00\x01":
        records = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + answer
    count = (1 if records else 0).to_bytes(2, "big")
    header = query[:2] + b"\x81\x80\x00\x01" + count + b"\x00\x00\x00\x00"
    server.sendto(header + query[12:end] + records, peer)
"#;

/// A DNS server on `addr`:53 in the daemon's namespace that answers every A query with
/// `answer` (and other types with no records); stopped when dropped.
fn start_stub_dns(daemon: &Daemon, addr: &str, answer: &str) -> Killed {
    use std::io::BufRead;
    let mut child = daemon
        .in_netns(&["python3", "-c", STUB_DNS, addr, answer])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the stub DNS server");
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    let stub = Killed(child);
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line, "ready\n",
        "the stub DNS server on {addr} did not start"
    );
    stub
}

#[test]
fn the_embedded_dns_forwards_to_each_containers_own_dns_servers() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let _first = start_stub_dns(&daemon, "127.0.0.2", "192.0.2.77");
    let _second = start_stub_dns(&daemon, "127.0.0.3", "192.0.2.88");
    daemon.docker_ok(&words("network create --subnet 10.98.0.0/24 fwd"));
    daemon.docker_ok(&words(
        "run -d --name first --network fwd --dns 127.0.0.2 busybox sleep 60",
    ));
    daemon.docker_ok(&words(
        "run -d --name second --network fwd --dns 127.0.0.3 busybox sleep 60",
    ));
    let resolv = daemon.docker_ok(&["exec", "first", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    check_lookups(&daemon, "at start");
    daemon.kill_and_restart();
    check_lookups(&daemon, "after a daemon kill");
    daemon.docker_ok(&["rm", "-f", "first", "second"]);
    daemon.docker_ok(&["network", "rm", "fwd"]);
}

/// Each container of the test above gets its own server's answer for a name outside, and
/// the address of the other for its name.
fn check_lookups(daemon: &Daemon, when: &str) {
    let lookup =
        |container: &str, name: &str| daemon.docker_ok(&["exec", container, "nslookup", name]);
    for (name, address) in [("first", "192.0.2.77"), ("second", "192.0.2.88")] {
        let seen = lookup(name, "outside.test");
        assert!(
            seen.contains(&format!("Address: {address}")),
            "{when}, {name}: {seen}"
        );
    }
    let seen = lookup("first", "second");
    let ip = daemon.inspect("{{.NetworkSettings.Networks.fwd.IPAddress}}", "second");
    assert!(seen.contains(&format!("Address: {ip}")), "{when}: {seen}");
}

//! Address management and driver options of user networks, driven by the docker CLI against
//! berthd in its own network namespace: `--ip-range`, addresses that survive a daemon crash and
//! come back when their container goes, the bridge name and MTU options.

mod common;

use common::Daemon;

/// The words of `line`, for command lines without quoting.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn address(daemon: &Daemon, network: &str, container: &str) -> String {
    let template = format!("{{{{.NetworkSettings.Networks.{network}.IPAddress}}}}");
    daemon.inspect(&template, container)
}

#[test]
fn addresses_come_from_the_range_are_never_given_twice_and_come_back() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&words(
        "network create --subnet 10.101.0.0/24 --ip-range 10.101.0.8/30 ranged",
    ));
    let run = |name: &str| {
        let line = format!("run -d --name {name} --network ranged busybox sleep 60");
        daemon.docker_ok(&words(&line));
    };
    run("r1");
    run("r2");
    let (a1, a2) = (
        address(&daemon, "ranged", "r1"),
        address(&daemon, "ranged", "r2"),
    );
    // The daemon dies; what it handed out is still taken when it comes back.
    daemon.kill_and_restart();
    let run = |name: &str| {
        let line = format!("run -d --name {name} --network ranged busybox sleep 60");
        daemon.docker(&words(&line))
    };
    assert!(run("r3").status.success());
    assert!(run("r4").status.success());
    let a3 = address(&daemon, "ranged", "r3");
    let a4 = address(&daemon, "ranged", "r4");
    let mut all = vec![a1.clone(), a2, a3, a4];
    all.sort();
    assert_eq!(
        all,
        ["10.101.0.10", "10.101.0.11", "10.101.0.8", "10.101.0.9"]
    );
    // The range is used up: a fifth is refused, saying so, and (--rm) leaves nothing behind.
    let out = daemon.docker(&words("run --rm --network ranged busybox true"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("10.101.0.8/30"),
        "{out:?}"
    );
    assert_eq!(daemon.docker_ok(&["ps", "-aq"]).lines().count(), 4);
    // A removed container's address is free again, even asked for by name.
    daemon.docker_ok(&words("rm -f r1"));
    let line = format!("run --rm --network ranged --ip {a1} busybox ip -o -4 addr show eth0");
    let seen = daemon.docker_ok(&words(&line));
    assert!(seen.contains(&format!("inet {a1}/24")), "{seen}");
    daemon.docker_ok(&words("rm -f r2 r3 r4"));
    daemon.docker_ok(&words("network rm ranged"));
}

#[test]
fn the_bridge_name_and_mtu_options_shape_the_links() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&words(
        "network create --subnet 10.102.0.0/24 -o com.docker.network.bridge.name=brtest0 \
         -o com.docker.network.driver.mtu=1400 shaped",
    ));
    let seen = daemon.docker_ok(&words(
        "run --rm --network shaped busybox cat /sys/class/net/eth0/mtu",
    ));
    assert_eq!(seen, "1400\n");
    let out = daemon
        .in_netns(&["ip", "-o", "addr", "show", "dev", "brtest0"])
        .output()
        .unwrap();
    let bridge = String::from_utf8_lossy(&out.stdout);
    assert!(bridge.contains("inet 10.102.0.1/24"), "{bridge}");
    let options = daemon.inspect("{{json .Options}}", "shaped");
    assert!(
        options.contains("\"com.docker.network.bridge.name\":\"brtest0\""),
        "{options}"
    );
    daemon.docker_ok(&words("network rm shaped"));
    let out = daemon
        .in_netns(&["ip", "link", "show", "dev", "brtest0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "brtest0 is left after network rm");
}

//! The nftables table on the real kernel: published ports, masquerade, isolation and internal
//! networks, each test in its own private network and mount namespace.

mod common;

use std::net::SocketAddr;

use berth_network::firewall::{Firewall, NetworkRules, PortMapping, Ruleset};
use berth_network::link::Netlink;
use berth_network::reserve::{PortReservation, Protocol};
use berth_network::sysctl;
use common::{snapshot, Host};

fn network(bridge: &str, subnet: &str, internal: bool) -> NetworkRules {
    NetworkRules {
        bridge: bridge.to_owned(),
        subnets: vec![subnet.parse().unwrap()],
        internal,
        masquerade: true,
    }
}

fn mapping(protocol: Protocol, host_port: u16, container: &str, bridge: &str) -> PortMapping {
    let container: SocketAddr = container.parse().unwrap();
    PortMapping {
        protocol,
        host_ip: None,
        host_port,
        container_ip: container.ip(),
        container_port: container.port(),
        bridge: bridge.to_owned(),
    }
}

#[test]
fn published_tcp_and_udp_ports_answer_from_loopback_and_through_hairpin() {
    let host = Host::new("publish");
    let before = snapshot();
    sysctl::enable_ipv4_forwarding().unwrap();
    host.bridge("brpub", "10.61.0.1/24");
    sysctl::enable_route_localnet("brpub").unwrap();
    let a = host.container("a");
    let b = host.container("b");
    host.attach(&a, "brpub", "10.61.0.2/24", Some("10.61.0.1"));
    host.attach(&b, "brpub", "10.61.0.3/24", Some("10.61.0.1"));
    a.tcp_echo("10.61.0.2:80");
    a.udp_echo("10.61.0.2:5353");

    let tcp = PortReservation::bind(Protocol::Tcp, None, 0).unwrap();
    let udp = PortReservation::bind(Protocol::Udp, None, 0).unwrap();
    let tcp_port: SocketAddr = format!("127.0.0.1:{}", tcp.port()).parse().unwrap();
    let udp_port: SocketAddr = format!("127.0.0.1:{}", udp.port()).parse().unwrap();
    // Only the reservation holds the port yet: it never answers.
    assert!(common::tcp_ask(tcp_port).is_err());

    let firewall = Firewall::default();
    let ruleset = Ruleset {
        networks: vec![network("brpub", "10.61.0.0/24", false)],
        ports: vec![
            mapping(Protocol::Tcp, tcp.port(), "10.61.0.2:80", "brpub"),
            mapping(Protocol::Udp, udp.port(), "10.61.0.2:5353", "brpub"),
        ],
    };
    firewall.apply(&ruleset).unwrap();
    let listed = common::run("nft", &["list", "ruleset"]);
    firewall.apply(&ruleset).unwrap();
    assert_eq!(
        common::run("nft", &["list", "ruleset"]),
        listed,
        "apply is not idempotent"
    );

    // From the host's loopback: the source is masqueraded to the bridge's address.
    assert_eq!(common::tcp_ask(tcp_port), Ok("10.61.0.1".to_owned()));
    assert_eq!(common::udp_ask(udp_port), Ok("10.61.0.1".to_owned()));
    // Through the host's address, from the host, another container and the container itself.
    let via_gateway: SocketAddr = format!("10.61.0.1:{}", tcp.port()).parse().unwrap();
    assert_eq!(common::tcp_ask(via_gateway), Ok("10.61.0.1".to_owned()));
    assert_eq!(b.tcp_ask(via_gateway), Ok("10.61.0.1".to_owned()));
    assert_eq!(a.tcp_ask(via_gateway), Ok("10.61.0.1".to_owned()));
    let udp_via_gateway: SocketAddr = format!("10.61.0.1:{}", udp.port()).parse().unwrap();
    assert_eq!(b.udp_ask(udp_via_gateway), Ok("10.61.0.1".to_owned()));

    firewall.clear().unwrap();
    assert!(common::tcp_ask(tcp_port).is_err());
    assert_eq!(common::run("nft", &["list", "ruleset"]), "");

    host.detach(&a, "brpub");
    host.detach(&b, "brpub");
    drop((a, b, tcp, udp));
    host.block_on(async { Netlink::connect()?.delete("brpub").await })
        .unwrap();
    assert_eq!(snapshot(), before);
}

#[test]
fn networks_are_isolated_masqueraded_and_internal_ones_cut_off() {
    let host = Host::new("isolate");
    let before = snapshot();
    sysctl::enable_ipv4_forwarding().unwrap();
    // "The world": an uplink the firewall does not know, with a server that has no route back
    // to the containers' subnets, so it only answers masqueraded traffic.
    host.bridge("brout", "192.0.2.1/24");
    let world = host.container("world");
    host.attach(&world, "brout", "192.0.2.2/24", None);
    let world_server = world.tcp_echo("192.0.2.2:80");

    host.bridge("br1", "10.62.1.1/24");
    host.bridge("br2", "10.62.2.1/24");
    host.bridge("brint", "10.62.3.1/24");
    let a = host.container("a");
    let b = host.container("b");
    let c = host.container("c");
    host.attach(&a, "br1", "10.62.1.2/24", Some("10.62.1.1"));
    host.attach(&b, "br2", "10.62.2.2/24", Some("10.62.2.1"));
    host.attach(&c, "brint", "10.62.3.2/24", None);
    let b_server = b.tcp_echo("10.62.2.2:80");
    let c_server = c.tcp_echo("10.62.3.2:80");

    // Without berth's table the host routes between the bridges, and nothing is masqueraded.
    assert_eq!(a.tcp_ask(b_server), Ok("10.62.1.2".to_owned()));
    assert!(a.tcp_ask(world_server).is_err());

    let firewall = Firewall::default();
    firewall
        .apply(&Ruleset {
            networks: vec![
                network("br1", "10.62.1.0/24", false),
                network("br2", "10.62.2.0/24", false),
                network("brint", "10.62.3.0/24", true),
            ],
            ports: vec![mapping(Protocol::Tcp, 18080, "10.62.2.2:80", "br2")],
        })
        .unwrap();

    let refused = a.tcp_ask(b_server);
    assert!(refused.is_err(), "br1 reached br2: {refused:?}");
    assert_eq!(a.tcp_ask(world_server), Ok("192.0.2.1".to_owned()));
    assert_eq!(b.tcp_ask(world_server), Ok("192.0.2.1".to_owned()));
    // A published port is reachable from another network, through the host's address.
    let published: SocketAddr = "10.62.1.1:18080".parse().unwrap();
    assert_eq!(a.tcp_ask(published), Ok("10.62.2.1".to_owned()));

    // The internal network has no route out…
    let no_route = c.tcp_ask(world_server).unwrap_err();
    assert!(no_route.contains("unreachable"), "{no_route}");
    // …and even with one the firewall drops what it forwards, both ways.
    let added = c.command("ip", &["route", "add", "default", "via", "10.62.3.1"]);
    assert!(added.status.success(), "{added:?}");
    assert!(c.tcp_ask(world_server).is_err());
    assert!(a.tcp_ask(c_server).is_err());
    // The host itself still reaches its containers.
    assert_eq!(common::tcp_ask(c_server), Ok("10.62.3.1".to_owned()));

    firewall.clear().unwrap();
    host.detach(&a, "br1");
    host.detach(&b, "br2");
    host.detach(&c, "brint");
    host.detach(&world, "brout");
    drop((a, b, c, world));
    host.block_on(async {
        let netlink = Netlink::connect()?;
        for bridge in ["br1", "br2", "brint", "brout"] {
            netlink.delete(bridge).await?;
        }
        Ok::<_, berth_network::link::LinkError>(())
    })
    .unwrap();
    assert_eq!(snapshot(), before);
}

#[test]
fn ipv6_ports_are_published_and_subnets_masqueraded() {
    let host = Host::new("publish6");
    let before = snapshot();
    sysctl::enable_ipv6_forwarding().unwrap();
    let bridge = |name: &str, gateway: &str| {
        let bridge = berth_network::link::Bridge {
            name: name.to_owned(),
            mtu: None,
            addresses: vec![gateway.parse().unwrap()],
        };
        host.block_on(async { Netlink::connect()?.ensure_bridge(&bridge).await })
            .unwrap();
    };
    // A client beyond an uplink, without a route to the containers' subnet.
    bridge("brout6", "fd99::1/64");
    let world = host.container("world");
    host.attach(&world, "brout6", "fd99::2/64", None);
    let world_server = world.tcp_echo("[fd99::2]:80");

    bridge("brv6", "fd63::1/64");
    let a = host.container("a");
    host.attach(&a, "brv6", "fd63::2/64", Some("fd63::1"));
    let server = a.tcp_echo("[fd63::2]:80");

    let firewall = Firewall::default();
    let mut published = mapping(Protocol::Tcp, 18443, "[fd63::2]:80", "brv6");
    published.host_ip = Some("fd99::1".parse().unwrap());
    firewall
        .apply(&Ruleset {
            networks: vec![network("brv6", "fd63::/64", false)],
            ports: vec![published],
        })
        .unwrap();

    // On the way out the container's address is masqueraded. (This first exchange also lets
    // the host learn the client's link-layer address: a forwarding host answering a fresh
    // neighbour first through the DNAT waits up to two seconds for neighbour discovery.)
    assert_eq!(a.tcp_ask(world_server), Ok("fd99::1".to_owned()));
    // The client reaches the container through the host's address, and the container sees
    // the client as it is (no source NAT on the way in).
    let via_host: SocketAddr = "[fd99::1]:18443".parse().unwrap();
    assert_eq!(world.tcp_ask(via_host), Ok("fd99::2".to_owned()));
    assert_eq!(common::tcp_ask(server), Ok("fd63::1".to_owned()));

    firewall.clear().unwrap();
    host.detach(&a, "brv6");
    host.detach(&world, "brout6");
    drop((a, world));
    host.block_on(async {
        let netlink = Netlink::connect()?;
        netlink.delete("brv6").await?;
        netlink.delete("brout6").await
    })
    .unwrap();
    assert_eq!(snapshot(), before);
}

//! Namespaces, bridges and veth endpoints on the real kernel, each test in its own private
//! network and mount namespace.

mod common;

use berth_network::link::{Bridge, Endpoint, LinkError, Netlink};
use berth_network::netns::{Netns, NetnsError};
use common::{snapshot, Host};

#[test]
fn two_containers_on_a_bridge_reach_each_other() {
    let host = Host::new("pair");
    host.bridge("brpair", "10.51.0.1/24");
    let a = host.container("a");
    let b = host.container("b");
    host.attach(&a, "brpair", "10.51.0.2/24", Some("10.51.0.1"));
    host.attach(&b, "brpair", "10.51.0.3/24", Some("10.51.0.1"));

    let server = a.tcp_echo("10.51.0.2:7000");
    assert_eq!(b.tcp_ask(server), Ok("10.51.0.3".to_owned()));
    let ping = b.command("busybox", &["ping", "-c", "1", "-W", "2", "10.51.0.2"]);
    assert!(ping.status.success(), "{ping:?}");
    // The host reaches them through the bridge's address too.
    assert_eq!(common::tcp_ask(server), Ok("10.51.0.1".to_owned()));

    let routes = b.command("ip", &["route"]);
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(
        routes.contains("default via 10.51.0.1 dev eth0"),
        "{routes}"
    );
}

#[test]
fn isolated_endpoints_reach_the_host_but_not_each_other() {
    let host = Host::new("icc");
    host.bridge("bricc", "10.55.0.1/24");
    let a = host.container("a");
    let b = host.container("b");
    for (c, address) in [(&a, "10.55.0.2/24"), (&b, "10.55.0.3/24")] {
        let mut endpoint = host.endpoint(c, "bricc", address, Some("10.55.0.1"));
        endpoint.isolated = true;
        host.add(c, &endpoint);
    }
    let server = a.tcp_echo("10.55.0.2:7000");
    assert!(b.tcp_ask(server).is_err(), "isolated ports talked");
    assert_eq!(common::tcp_ask(server), Ok("10.55.0.1".to_owned()));
}

#[test]
fn endpoints_get_their_name_mac_mtu_and_ipv6_address() {
    let host = Host::new("ep");
    // New links start with IPv6 disabled: ensure_bridge must turn it on for the bridge.
    berth_network::sysctl::set("net/ipv6/conf/default/disable_ipv6", "1").unwrap();
    let bridge = Bridge {
        name: "brep".to_owned(),
        mtu: Some(1400),
        addresses: vec![
            "10.52.0.1/24".parse().unwrap(),
            "fd52::1/64".parse().unwrap(),
        ],
    };
    host.block_on(async {
        let netlink = Netlink::connect()?;
        let first = netlink.ensure_bridge(&bridge).await?;
        // Idempotent: the same bridge, nothing added twice.
        assert_eq!(netlink.ensure_bridge(&bridge).await?, first);
        Ok::<_, LinkError>(())
    })
    .unwrap();
    let c = host.container("c");
    let endpoint = Endpoint {
        host_name: "bvtest000001".to_owned(),
        bridge: "brep".to_owned(),
        name: "eth1".to_owned(),
        mac: Some([0x02, 0x42, 0x0a, 0x34, 0x00, 0x02]),
        mtu: Some(1400),
        addresses: vec![
            "10.52.0.2/24".parse().unwrap(),
            "fd52::2/64".parse().unwrap(),
        ],
        gateways: vec!["10.52.0.1".parse().unwrap(), "fd52::1".parse().unwrap()],
        isolated: false,
    };
    host.block_on(async { Netlink::connect()?.add_endpoint(&endpoint, &c.netns).await })
        .unwrap();

    let link = String::from_utf8(c.command("ip", &["-o", "link", "show", "eth1"]).stdout).unwrap();
    assert!(link.contains("mtu 1400"), "{link}");
    assert!(link.contains("link/ether 02:42:0a:34:00:02"), "{link}");
    assert!(link.contains("state UP"), "{link}");
    let routes6 = String::from_utf8(c.command("ip", &["-6", "route"]).stdout).unwrap();
    assert!(
        routes6.contains("default via fd52::1 dev eth1"),
        "{routes6}"
    );

    let server = c.tcp_echo("[fd52::2]:7001");
    assert_eq!(common::tcp_ask(server), Ok("fd52::1".to_owned()));

    let bridge_addrs = common::run("ip", &["-o", "addr", "show", "brep"]);
    assert_eq!(
        bridge_addrs.matches("10.52.0.1/24").count(),
        1,
        "{bridge_addrs}"
    );
}

#[test]
fn removing_endpoints_and_bridges_leaves_the_host_as_it_was() {
    let host = Host::new("clean");
    let before = snapshot();
    {
        host.bridge("brclean", "10.53.0.1/24");
        let a = host.container("a");
        let b = host.container("b");
        host.attach(&a, "brclean", "10.53.0.2/24", Some("10.53.0.1"));
        host.attach(&b, "brclean", "10.53.0.3/24", Some("10.53.0.1"));
        assert_ne!(snapshot(), before);
        host.block_on(async {
            let netlink = Netlink::connect()?;
            let veths: Vec<String> = netlink
                .link_names()
                .await?
                .into_iter()
                .filter(|n| berth_network::link::is_host_veth_name(n))
                .collect();
            assert_eq!(veths.len(), 2, "{veths:?}");
            for veth in &veths {
                netlink.remove_endpoint(veth).await?;
                // Idempotent: removing again is not an error.
                netlink.remove_endpoint(veth).await?;
            }
            netlink.delete("brclean").await?;
            netlink.delete("brclean").await
        })
        .unwrap();
    }
    assert_eq!(snapshot(), before);
    assert_eq!(std::fs::read_dir(host.dir.path()).unwrap().count(), 0);
}

#[test]
fn a_failed_endpoint_leaves_no_veth_behind() {
    let host = Host::new("fail");
    let before = snapshot();
    host.bridge("brfail", "10.54.0.1/24");
    let c = host.container("c");
    let endpoint = Endpoint {
        host_name: "bvfail0000001".to_owned(),
        bridge: "brfail".to_owned(),
        name: "eth0".to_owned(),
        mac: None,
        mtu: None,
        addresses: vec!["10.54.0.2/24".parse().unwrap()],
        // Not on any subnet of the container: the kernel refuses the route.
        gateways: vec!["192.0.2.1".parse().unwrap()],
        isolated: false,
    };
    let err = host
        .block_on(async { Netlink::connect()?.add_endpoint(&endpoint, &c.netns).await })
        .unwrap_err();
    assert!(err.to_string().contains("default route"), "{err}");
    let links = common::run("ip", &["-o", "link"]);
    assert!(!links.contains("bvfail"), "{links}");
    host.block_on(async { Netlink::connect()?.delete("brfail").await })
        .unwrap();
    assert_eq!(snapshot(), before);
    let inside = String::from_utf8(c.command("ip", &["-o", "link"]).stdout).unwrap();
    assert!(!inside.contains("eth0"), "{inside}");
}

#[test]
fn a_missing_bridge_or_a_non_bridge_is_named() {
    let host = Host::new("nobr");
    let c = host.container("c");
    let endpoint = Endpoint {
        host_name: "bvnobr0000001".to_owned(),
        bridge: "brnosuch".to_owned(),
        name: "eth0".to_owned(),
        mac: None,
        mtu: None,
        addresses: vec![],
        gateways: vec![],
        isolated: false,
    };
    let err = host
        .block_on(async { Netlink::connect()?.add_endpoint(&endpoint, &c.netns).await })
        .unwrap_err();
    assert_eq!(err.to_string(), "link brnosuch not found");
    let lo_bridge = Bridge {
        name: "lo".to_owned(),
        mtu: None,
        addresses: vec![],
    };
    let err = host
        .block_on(async { Netlink::connect()?.ensure_bridge(&lo_bridge).await })
        .unwrap_err();
    assert_eq!(err.to_string(), "link lo exists and is not a bridge");
}

#[test]
fn namespace_files_are_created_opened_and_removed_idempotently() {
    let host = Host::new("ns");
    let path = host.dir.join("n1");
    let ns = Netns::create(&path).unwrap();
    assert!(matches!(
        Netns::create(&path),
        Err(NetnsError::Io {
            action: "create the namespace file",
            ..
        })
    ));
    let again = Netns::open(&path).unwrap();
    let inode = |n: &Netns| {
        n.run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
            .unwrap()
    };
    assert_eq!(inode(&ns), inode(&again));
    assert_ne!(
        inode(&ns),
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    );
    drop((ns, again));

    let plain = host.dir.join("plain");
    std::fs::write(&plain, "").unwrap();
    let err = Netns::open(&plain).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is not a network namespace", plain.display())
    );

    Netns::remove(&path).unwrap();
    assert!(!path.exists());
    Netns::remove(&path).unwrap();
    Netns::remove(&plain).unwrap();
    assert!(!plain.exists());
}

use super::*;

/// A systemd-resolved host: only a local stub resolver.
const RESOLVED: &str = "# This is /run/systemd/resolve/stub-resolv.conf\n\
nameserver 127.0.0.53\n\
options edns0 trust-ad\n\
search corp.example\n";

/// A host with a local cache and two real servers.
const MIXED: &str = "nameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\n\
nameserver fe80::1%eth0\ndomain old.example\nsearch a.example b.example\n";

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn flags(servers: &[&str], search: &[&str], options: &[&str]) -> DnsFlags {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    DnsFlags {
        servers: v(servers),
        search: v(search),
        options: v(options),
    }
}

#[test]
fn host_files_parse() {
    let conf = ResolvConf::parse(MIXED);
    assert_eq!(
        conf.nameservers,
        ips(&["127.0.0.1", "10.0.0.2", "::1", "fe80::1"])
    );
    assert_eq!(conf.search, ["a.example", "b.example"]);
    let conf = ResolvConf::parse(RESOLVED);
    assert_eq!(
        conf.render(),
        "nameserver 127.0.0.53\nsearch corp.example\noptions edns0 trust-ad\n"
    );
}

#[test]
fn user_networks_ask_the_embedded_server() {
    let host = ResolvConf::parse(RESOLVED);
    let dns = container_dns(&host, &DnsFlags::default(), true).unwrap();
    assert_eq!(
        dns.resolv_conf.render(),
        "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 trust-ad ndots:0\n"
    );
    // Forwarding leaves from the daemon's namespace, so the local stub is fine.
    assert_eq!(dns.upstreams, ips(&["127.0.0.53"]));
    let given = flags(&["10.9.9.9"], &["x.example"], &["ndots:2"]);
    let dns = container_dns(&host, &given, true).unwrap();
    assert_eq!(
        dns.resolv_conf.render(),
        "nameserver 127.0.0.11\nsearch x.example\noptions ndots:2\n"
    );
    assert_eq!(dns.upstreams, ips(&["10.9.9.9"]));
    let none = container_dns(&ResolvConf::default(), &DnsFlags::default(), true).unwrap();
    assert_eq!(none.upstreams, FALLBACK_NAMESERVERS);
}

#[test]
fn the_default_bridge_gets_the_hosts_servers_without_loopback_ones() {
    let dns = container_dns(&ResolvConf::parse(MIXED), &DnsFlags::default(), false).unwrap();
    assert_eq!(
        dns.resolv_conf.render(),
        "nameserver 10.0.0.2\nnameserver fe80::1\nsearch a.example b.example\n"
    );
    assert!(dns.upstreams.is_empty());
    let dns = container_dns(&ResolvConf::parse(RESOLVED), &DnsFlags::default(), false).unwrap();
    assert_eq!(
        dns.resolv_conf.render(),
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch corp.example\noptions edns0 trust-ad\n"
    );
    // Servers given with --dns are kept even when local; `--dns-search .` clears the search.
    let given = flags(&["127.0.0.1", "::1"], &["."], &[]);
    let dns = container_dns(&ResolvConf::parse(MIXED), &given, false).unwrap();
    assert_eq!(
        dns.resolv_conf.render(),
        "nameserver 127.0.0.1\nnameserver ::1\n"
    );
    let bad = flags(&["dns.example"], &[], &[]);
    assert_eq!(
        container_dns(&ResolvConf::default(), &bad, false)
            .unwrap_err()
            .to_string(),
        "dns.example is not an ip address"
    );
}

#[test]
fn extra_hosts_read_like_dockers() {
    let gw: Option<IpAddr> = "172.18.0.1".parse().ok();
    let ok = |s: &str| parse_extra_host(s, gw).unwrap();
    assert_eq!(ok("db:10.0.0.5"), ("db".into(), ips(&["10.0.0.5"])[0]));
    assert_eq!(ok("db=10.0.0.5"), ("db".into(), ips(&["10.0.0.5"])[0]));
    assert_eq!(ok("v6:::1"), ("v6".into(), ips(&["::1"])[0]));
    assert_eq!(
        ok("v6:[2001:db8::1]"),
        ("v6".into(), ips(&["2001:db8::1"])[0])
    );
    assert_eq!(ok("v6=::1"), ("v6".into(), ips(&["::1"])[0]));
    assert_eq!(ok("host.docker.internal:host-gateway").1, gw.unwrap());
    let err = |s: &str| parse_extra_host(s, None).unwrap_err().to_string();
    assert_eq!(err("db"), "bad format for add-host: \"db\"");
    assert_eq!(err(":10.0.0.1"), "bad format for add-host: \":10.0.0.1\"");
    assert_eq!(
        err("db:10.0.0"),
        "invalid IP address in add-host: \"10.0.0\""
    );
    assert_eq!(
        err("gw:host-gateway"),
        "add-host \"gw:host-gateway\": host-gateway has no address on this network"
    );
}

#[test]
fn hosts_files_read_like_dockers() {
    let hosts = Hosts {
        hostname: "abcdef123456".into(),
        domainname: String::new(),
        addresses: ips(&["172.18.0.2", "fd00::2"]),
        ipv6: true,
        extra: vec![("db".into(), ips(&["10.0.0.5"])[0])],
    };
    assert_eq!(
        hosts.render(),
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n10.0.0.5\tdb\n172.18.0.2\tabcdef123456\n\
         fd00::2\tabcdef123456\n"
    );
    let hosts = Hosts {
        hostname: "web".into(),
        domainname: "example.org".into(),
        addresses: ips(&["172.18.0.2", "fd00::2"]),
        ipv6: false,
        extra: vec![],
    };
    assert_eq!(
        hosts.render(),
        "127.0.0.1\tlocalhost\n172.18.0.2\tweb.example.org web\n"
    );
    let none = Hosts {
        hostname: "solo".into(),
        ..Hosts::default()
    };
    assert_eq!(none.render(), "127.0.0.1\tlocalhost\n");
}

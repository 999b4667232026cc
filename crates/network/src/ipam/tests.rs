use super::*;
use berth_testkit::tempdir::TempDir;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn subnet(s: &str) -> SubnetConfig {
    SubnetConfig {
        subnet: net(s),
        gateway: None,
        ip_range: None,
    }
}

fn open(dir: &TempDir) -> Ipam {
    Ipam::open(dir.join("ipam.json")).unwrap()
}

#[test]
fn addresses_are_sequential_unique_and_skip_the_reserved_ones() {
    let dir = TempDir::new("ipam-seq");
    let ipam = open(&dir);
    let subnets = ipam.add_network("n1", &[subnet("10.9.0.0/29")]).unwrap();
    assert_eq!(subnets[0].gateway, ip("10.9.0.1"));
    // .0 is the network, .1 the gateway, .7 the broadcast address: .2 to .6 remain.
    let got: Vec<IpNet> = (0..5)
        .map(|i| ipam.allocate("n1", &format!("c{i}"), &[]).unwrap()[0])
        .collect();
    let want: Vec<IpNet> = (2..=6).map(|i| net(&format!("10.9.0.{i}/29"))).collect();
    assert_eq!(got, want);
    let err = ipam.allocate("n1", "c5", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no available addresses in subnet 10.9.0.0/29 of network n1"
    );
    // Freed addresses come back only after the sequence wraps around, like Docker's.
    assert_eq!(ipam.release("n1", "c1").unwrap(), [ip("10.9.0.3")]);
    assert_eq!(ipam.release("n1", "c3").unwrap(), [ip("10.9.0.5")]);
    assert_eq!(ipam.allocate("n1", "d", &[]).unwrap(), [net("10.9.0.3/29")]);
    assert_eq!(ipam.allocate("n1", "e", &[]).unwrap(), [net("10.9.0.5/29")]);
    assert!(ipam.release("n1", "nobody").unwrap().is_empty());
}

#[test]
fn requested_addresses_are_checked() {
    let dir = TempDir::new("ipam-req");
    let ipam = open(&dir);
    ipam.add_network("n1", &[subnet("10.9.1.0/24")]).unwrap();
    let got = ipam.allocate("n1", "a", &[ip("10.9.1.50")]).unwrap();
    assert_eq!(got, [net("10.9.1.50/24")]);
    let err = |want: &str| {
        ipam.allocate("n1", "b", &[ip(want)])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("10.9.1.50"),
        "address 10.9.1.50 of network n1 is already in use"
    );
    assert_eq!(
        err("10.9.1.1"),
        "address 10.9.1.1 of network n1 is already in use"
    );
    assert_eq!(
        err("10.9.2.5"),
        "address 10.9.2.5 is not in any subnet of network n1"
    );
    assert_eq!(
        ipam.allocate("nope", "b", &[]).unwrap_err().to_string(),
        "network nope has no address pool"
    );
    // The sequence does not hand out a requested address later.
    for i in 0..60 {
        let got = ipam.allocate("n1", &format!("s{i}"), &[]).unwrap();
        assert_ne!(got[0].addr(), ip("10.9.1.50"));
    }
}

#[test]
fn dual_stack_networks_give_one_address_per_family() {
    let dir = TempDir::new("ipam-v6");
    let ipam = open(&dir);
    let subnets = ipam
        .add_network("n6", &[subnet("10.9.3.0/24"), subnet("fd00::/64")])
        .unwrap();
    assert_eq!(subnets[1].gateway, ip("fd00::1"));
    let got = ipam.allocate("n6", "a", &[]).unwrap();
    assert_eq!(got, [net("10.9.3.2/24"), net("fd00::2/64")]);
    let got = ipam.allocate("n6", "b", &[ip("fd00::99")]).unwrap();
    assert_eq!(got, [net("fd00::99/64"), net("10.9.3.3/24")]);
    // The widest subnets do not overflow the address arithmetic.
    let dir = TempDir::new("ipam-wide");
    let wide = open(&dir);
    wide.add_network("all", &[subnet("0.0.0.0/0"), subnet("::/0")])
        .unwrap();
    let got = wide.allocate("all", "a", &[ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]);
    assert_eq!(got.unwrap()[1], net("0.0.0.2/0"));
    assert_eq!(
        wide.allocate("all", "b", &[]).unwrap(),
        [net("0.0.0.3/0"), net("::2/0")]
    );
}

#[test]
fn subnets_are_validated_and_overlaps_name_both_networks() {
    let dir = TempDir::new("ipam-valid");
    let ipam = open(&dir);
    ipam.add_network("first", &[subnet("10.10.0.0/16")])
        .unwrap();
    let err =
        |configs: &[SubnetConfig]| ipam.add_network("second", configs).unwrap_err().to_string();
    assert_eq!(
        err(&[subnet("10.10.5.0/24")]),
        "subnet 10.10.5.0/24 overlaps 10.10.0.0/16 of network first"
    );
    assert_eq!(
        err(&[subnet("10.0.0.0/8")]),
        "subnet 10.0.0.0/8 overlaps 10.10.0.0/16 of network first"
    );
    assert_eq!(
        err(&[subnet("10.20.0.0/24"), subnet("10.20.0.128/25")]),
        "subnet 10.20.0.128/25 overlaps 10.20.0.0/24 of network second"
    );
    assert_eq!(
        err(&[subnet("10.20.0.5/16")]),
        "invalid subnet 10.20.0.5/16: it should be 10.20.0.0/16"
    );
    let gateway = SubnetConfig {
        gateway: Some(ip("10.21.0.1")),
        ..subnet("10.20.0.0/16")
    };
    assert_eq!(
        err(&[gateway]),
        "gateway 10.21.0.1 is not a usable address of subnet 10.20.0.0/16"
    );
    let range = SubnetConfig {
        ip_range: Some(net("10.20.0.0/15")),
        ..subnet("10.20.0.0/16")
    };
    assert_eq!(
        err(&[range]),
        "ip range 10.20.0.0/15 is not inside subnet 10.20.0.0/16"
    );
    assert_eq!(
        err(&[subnet("10.20.0.0/31")]),
        "subnet 10.20.0.0/31 is too small"
    );
    assert_eq!(
        ipam.add_network("first", &[subnet("10.30.0.0/16")])
            .unwrap_err()
            .to_string(),
        "network first already has an address pool"
    );
    // Nothing of the refused networks was kept.
    assert!(ipam.network("second").is_none());
    ipam.add_network("second", &[subnet("10.20.0.0/16")])
        .unwrap();
}

#[test]
fn ip_range_and_custom_gateway_limit_what_is_handed_out() {
    let dir = TempDir::new("ipam-range");
    let ipam = open(&dir);
    let config = SubnetConfig {
        subnet: net("10.40.0.0/16"),
        gateway: Some(ip("10.40.5.254")),
        ip_range: Some(net("10.40.5.252/30")),
    };
    ipam.add_network("r", &[config]).unwrap();
    let got: Vec<IpAddr> = (0..3)
        .map(|i| ipam.allocate("r", &format!("c{i}"), &[]).unwrap()[0].addr())
        .collect();
    // .254 is the gateway; the range's first and last are ordinary hosts of the /16.
    assert_eq!(
        got,
        [ip("10.40.5.252"), ip("10.40.5.253"), ip("10.40.5.255")]
    );
    let err = ipam.allocate("r", "c3", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no available addresses in ip range 10.40.5.252/30 of network r"
    );
    // Outside the range but inside the subnet, a requested address is fine.
    assert_eq!(
        ipam.allocate("r", "c4", &[ip("10.40.0.9")]).unwrap(),
        [net("10.40.0.9/16")]
    );
}

#[test]
fn default_subnets_skip_what_is_in_use() {
    let dir = TempDir::new("ipam-default");
    let ipam = open(&dir);
    assert_eq!(ipam.default_subnet(&[]).unwrap(), net("172.17.0.0/16"));
    let docker0 = net("172.17.0.0/16");
    assert_eq!(
        ipam.default_subnet(&[docker0]).unwrap(),
        net("172.18.0.0/16")
    );
    ipam.add_network("b", &[subnet("172.18.0.0/16")]).unwrap();
    let host = net("172.19.3.0/24");
    assert_eq!(
        ipam.default_subnet(&[docker0, host]).unwrap(),
        net("172.20.0.0/16")
    );
    let all = [net("172.16.0.0/12"), net("192.168.0.0/17")];
    assert_eq!(ipam.default_subnet(&all).unwrap(), net("192.168.128.0/20"));
    let everything = [net("0.0.0.0/0")];
    assert_eq!(
        ipam.default_subnet(&everything).unwrap_err().to_string(),
        "all predefined address pools have been fully subnetted"
    );
}

#[test]
fn state_survives_reopening_and_reconcile_rebuilds_it() {
    let dir = TempDir::new("ipam-persist");
    {
        let ipam = open(&dir);
        ipam.add_network("p", &[subnet("10.50.0.0/24")]).unwrap();
        ipam.allocate("p", "a", &[]).unwrap();
        ipam.allocate("p", "b", &[]).unwrap();
    }
    let ipam = open(&dir);
    assert_eq!(ipam.allocate("p", "c", &[]).unwrap(), [net("10.50.0.4/24")]);
    assert_eq!(
        ipam.remove_network("p").unwrap_err().to_string(),
        "network p still has 3 allocated addresses"
    );
    // The records say only `b` is alive, plus one address on a network we no longer know.
    let live = [
        ("p".to_string(), "b".to_string(), ip("10.50.0.3")),
        ("gone".to_string(), "x".to_string(), ip("10.60.0.2")),
    ];
    let skipped = ipam.reconcile(&live).unwrap();
    assert_eq!(skipped, [live[1].clone()]);
    assert!(ipam.release("p", "a").unwrap().is_empty());
    assert_eq!(ipam.release("p", "b").unwrap(), [ip("10.50.0.3")]);
    ipam.remove_network("p").unwrap();
    drop(ipam);
    let ipam = open(&dir);
    assert!(ipam.network("p").is_none());
    assert!(!dir.join("ipam.json.tmp").exists());
}

#[test]
fn unreadable_state_names_the_file() {
    let dir = TempDir::new("ipam-corrupt");
    let path = dir.join("ipam.json");
    fs::write(&path, "{not json").unwrap();
    let err = Ipam::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("reading IPAM state {}", path.display())
    );
}

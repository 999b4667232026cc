use super::*;

fn one(spec: &str) -> (String, String, String) {
    let mut all = parse_publish(spec).unwrap();
    assert_eq!(all.len(), 1, "{spec}");
    let (key, b) = all.remove(0);
    (key, b.host_ip, b.host_port)
}

fn s(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

#[test]
fn single_ports_read_like_dockers() {
    assert_eq!(one("80"), s("80/tcp", "", ""));
    assert_eq!(one("8080:80"), s("80/tcp", "", "8080"));
    assert_eq!(one("53/udp"), s("53/udp", "", ""));
    assert_eq!(one("127.0.0.1::80"), s("80/tcp", "127.0.0.1", ""));
    assert_eq!(
        one("127.0.0.1:8080:80/UDP"),
        s("80/udp", "127.0.0.1", "8080")
    );
    assert_eq!(one("[::1]:8080:80"), s("80/tcp", "::1", "8080"));
    assert_eq!(one("::1:8080:80"), s("80/tcp", "::1", "8080"));
    assert_eq!(one("9000/sctp"), s("9000/sctp", "", ""));
    // A host range for one container port stays a range: the engine picks in it.
    assert_eq!(one("8000-8010:80"), s("80/tcp", "", "8000-8010"));
}

#[test]
fn ranges_pair_host_and_container_ports() {
    let all = parse_publish("8000-8002:80-82/udp").unwrap();
    let flat: Vec<_> = all
        .iter()
        .map(|(k, b)| (k.as_str(), b.host_port.as_str()))
        .collect();
    assert_eq!(
        flat,
        [("80/udp", "8000"), ("81/udp", "8001"), ("82/udp", "8002")]
    );
    let all = parse_publish("80-81").unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|(_, b)| b.host_port.is_empty()));
}

#[test]
fn bad_specs_fail_in_dockers_words() {
    let err = |s: &str| parse_publish(s).unwrap_err().to_string();
    assert_eq!(err("x"), "Invalid containerPort: x");
    assert_eq!(err("8080:"), "No port specified: 8080:<empty>");
    assert_eq!(err("99999:80"), "Invalid hostPort: 99999");
    assert_eq!(err("0:80"), "Invalid hostPort: 0");
    assert_eq!(err("80:90-80"), "Invalid containerPort: 90-80");
    assert_eq!(
        err("8000-8001:80-82"),
        "Invalid ranges specified for container and host Ports: 80-82 and 8000-8001"
    );
    assert!(err("80:80-81").starts_with("Invalid ranges specified"));
    assert_eq!(err("1.2.3:80:80"), "Invalid ip address: 1.2.3");
    assert_eq!(err("80/icmp"), "Invalid proto: icmp");
    assert_eq!(
        err("[::1:80:80"),
        "invalid port specification: \"[::1:80:80\""
    );
    assert_eq!(
        err("[::1]80:80"),
        "invalid port specification: \"[::1]80:80\""
    );
}

#[test]
fn expose_and_publish_all() {
    assert_eq!(parse_expose("80").unwrap(), ["80/tcp"]);
    assert_eq!(parse_expose("53/udp").unwrap(), ["53/udp"]);
    assert_eq!(
        parse_expose("7000-7002/tcp").unwrap(),
        ["7000/tcp", "7001/tcp", "7002/tcp"]
    );
    assert_eq!(
        parse_expose("http").unwrap_err().to_string(),
        "invalid port specification: \"http\""
    );
    let exposed: ExposedPorts = ["80/tcp".to_string(), "443/tcp".to_string()].into();
    let mut bindings = PortBindings::new();
    bindings.insert(
        "80/tcp".into(),
        vec![PortBinding {
            host_ip: String::new(),
            host_port: "8080".into(),
        }],
    );
    publish_all(&exposed, &mut bindings);
    assert_eq!(bindings["80/tcp"][0].host_port, "8080");
    assert_eq!(bindings["443/tcp"], [PortBinding::default()]);
}

#[test]
fn bindings_flatten_into_mappings() {
    let mut bindings = PortBindings::new();
    for spec in [
        "127.0.0.1:8080:80",
        "[::1]:8080:80",
        "53:53/udp",
        "9000-9009:90",
    ] {
        for (k, b) in parse_publish(spec).unwrap() {
            bindings.entry(k).or_default().push(b);
        }
    }
    bindings.insert("443/tcp".into(), vec![PortBinding::default()]);
    let got = mappings(&bindings).unwrap();
    let ip = |s: &str| Some(s.parse().unwrap());
    let port = |p| Some(PortRange { start: p, end: p });
    let tcp = Protocol::Tcp;
    assert_eq!(
        got,
        [
            PortMapping {
                proto: tcp,
                host_ip: None,
                host_ports: None,
                container_port: 443
            },
            PortMapping {
                proto: Protocol::Udp,
                host_ip: None,
                host_ports: port(53),
                container_port: 53
            },
            PortMapping {
                proto: tcp,
                host_ip: ip("127.0.0.1"),
                host_ports: port(8080),
                container_port: 80
            },
            PortMapping {
                proto: tcp,
                host_ip: ip("::1"),
                host_ports: port(8080),
                container_port: 80
            },
            PortMapping {
                proto: tcp,
                host_ip: None,
                host_ports: Some(PortRange {
                    start: 9000,
                    end: 9009
                }),
                container_port: 90
            },
        ]
    );
    let bad = |k: &str, ip: &str, port: &str| {
        let b = PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        };
        mappings(&[(k.to_string(), vec![b])].into())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(bad("80-81/tcp", "", ""), "Invalid containerPort: 80-81");
    assert_eq!(bad("80/tcp", "nope", ""), "Invalid ip address: nope");
    assert_eq!(bad("80/tcp", "", "x"), "Invalid hostPort: x");
    assert_eq!(bad("80/gre", "", ""), "Invalid proto: gre");
}

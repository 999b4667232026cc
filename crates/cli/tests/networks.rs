//! `berth network …` against berthd: create, ls, inspect, connect, disconnect, rm and prune print
//! what `docker network …` with the same arguments prints against the same berthd.

mod common;

use common::berthd::{same, words, Berthd};

#[test]
fn create_ls_inspect_and_refusals_print_what_docker_prints() {
    let daemon = Berthd::start("cli-netl");
    let made = daemon.berth_ok(&words(
        "network create --subnet 10.95.0.0/24 --gateway 10.95.0.254 --label team=a \
         -o com.docker.network.driver.mtu=1400 alpha",
    ));
    assert_eq!(made.trim().len(), 64, "{made}");
    daemon.docker_ok(&words(
        "network create --internal --subnet 10.96.0.0/24 beta",
    ));
    for line in [
        "network ls",
        "network ls --no-trunc",
        "network ls -q",
        "network ls --filter label=team=a",
        "network ls --filter name=bet --filter driver=bridge",
        "network inspect alpha",
        "network inspect alpha beta",
        "network inspect nowhere",
        "network inspect beta nowhere",
        "network create --subnet 10.95.0.0/25 gamma",
        "network create alpha",
        "network rm bridge",
        "network rm nowhere",
    ] {
        same(&daemon, &words(line));
    }
    let template = "{{.Name}} {{.Internal}} {{json .IPAM.Config}} {{json .Labels}}";
    let shown = same(
        &daemon,
        &["network", "inspect", "--format", template, "alpha", "beta"],
    );
    assert!(shown.starts_with("alpha false [{"), "{shown}");
    let listed = daemon.berth_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(listed, "alpha\nbeta\nbridge\nhost\nnone\n");
}

#[test]
fn connect_disconnect_rm_and_prune_print_what_docker_prints() {
    let daemon = Berthd::start("cli-netc");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&words("network create --subnet 10.95.0.0/24 alpha"));
    daemon.berth_ok(&words("network create --subnet 10.96.0.0/24 beta"));
    daemon.berth_ok(&words(
        "run -d --name member --network alpha busybox sleep 60",
    ));
    let connect = words("network connect --alias m2 --ip 10.96.0.9 beta member");
    assert_eq!(daemon.berth_ok(&connect), "");
    let template = "{{.NetworkSettings.Networks.alpha.IPAddress}} \
                    {{.NetworkSettings.Networks.beta.IPAddress}} \
                    {{json .NetworkSettings.Networks.beta.Aliases}}";
    let attached = same(&daemon, &["inspect", "--format", template, "member"]);
    assert!(
        attached.starts_with("10.95.0.2 10.96.0.9 [\"m2\""),
        "{attached}"
    );
    same(
        &daemon,
        &[
            "network",
            "inspect",
            "--format",
            "{{json .Containers}}",
            "beta",
        ],
    );
    // The way scripts read a container's addresses: a range over its networks.
    let addresses = same(
        &daemon,
        &[
            "inspect",
            "--format",
            "{{range $name, $n := .NetworkSettings.Networks}}{{$name}}={{$n.IPAddress}} {{end}}",
            "member",
        ],
    );
    assert_eq!(addresses, "alpha=10.95.0.2 beta=10.96.0.9 \n");
    same(&daemon, &connect);
    assert_eq!(
        daemon.berth_ok(&words("network disconnect beta member")),
        ""
    );
    for line in [
        "network disconnect beta member",
        "network disconnect beta nobody",
        "network rm alpha",
    ] {
        same(&daemon, &words(line));
    }

    daemon.berth_ok(&["rm", "-f", "member"]);
    assert_eq!(daemon.berth_ok(&words("network rm alpha")), "alpha\n");
    let ours = daemon.berth_ok(&words("network prune -f"));
    daemon.docker_ok(&words("network create beta"));
    assert_eq!(ours, daemon.docker_ok(&words("network prune -f")));
    assert!(ours.starts_with("Deleted Networks:\nbeta\n"), "{ours}");
    same(&daemon, &words("network prune -f"));
    same(&daemon, &words("network ls -q"));
}

#[test]
fn port_and_the_ps_ports_column_print_what_docker_prints() {
    let daemon = Berthd::start("cli-netp");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&words("run -d --name taken -p 18500:80 busybox sleep 60"));
    let run = "run -d --name ranged -p 18500-18502:80 -p 127.0.0.1::81/udp --expose 90 \
               -p 18510-18511:18510-18511";
    daemon.berth_ok(&words(&format!("{run} busybox sleep 60")));
    for line in [
        "port ranged",
        "port ranged 80",
        "port ranged 81/udp",
        "port ranged 90",
        "port ranged 99",
        "port ranged 18511",
        "port nobody",
    ] {
        same(&daemon, &words(line));
    }
    assert_eq!(daemon.berth_ok(&words("port ranged 80")), "0.0.0.0:18501\n");
    // Runs of consecutive ports merge, exposed-only ones come first, as in docker's column.
    for name in ["taken", "ranged"] {
        same(
            &daemon,
            &[
                "ps",
                "--filter",
                &format!("name={name}"),
                "--format",
                "{{.Ports}}",
            ],
        );
    }
    let ports = daemon.berth_ok(&["ps", "--filter", "name=ranged", "--format", "{{.Ports}}"]);
    assert!(
        ports.contains("0.0.0.0:18510-18511->18510-18511/tcp"),
        "{ports}"
    );
}

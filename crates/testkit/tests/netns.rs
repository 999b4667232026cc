//! A test's network namespace: commands run inside it, its snapshot shows what was set up there
//! and nothing of the host's, and it is gone after drop.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_testkit::{run, NetNs};

fn stdout(netns: &NetNs, argv: &[&str]) -> String {
    String::from_utf8(run(&mut netns.command(argv)).stdout).unwrap()
}

#[test]
fn commands_run_inside_with_loopback_up() {
    let netns = NetNs::new();
    assert!(netns.path().starts_with("/run/netns"));
    let inside = stdout(&netns, &["readlink", "/proc/self/ns/net"]);
    assert_ne!(
        inside.trim(),
        std::fs::read_link("/proc/self/ns/net")
            .unwrap()
            .display()
            .to_string()
    );
    assert_eq!(
        inside.trim(),
        format!("net:[{}]", std::fs::metadata(netns.path()).unwrap().ino())
    );
    let links = stdout(&netns, &["ip", "-o", "link", "show"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains(": lo: <LOOPBACK,UP,LOWER_UP>"), "{links}");
    // The mount namespace is the caller's: the same root file system, not a remounted /sys.
    assert_eq!(
        stdout(&netns, &["readlink", "/proc/self/ns/mnt"]).trim(),
        std::fs::read_link("/proc/self/ns/mnt")
            .unwrap()
            .display()
            .to_string()
    );
}

#[test]
fn the_snapshot_shows_what_is_set_up_and_returns_when_it_is_gone() {
    let netns = NetNs::new();
    let first = netns.snapshot();
    assert!(first.contains("\"ifname\":\"lo\""), "{first}");
    assert!(first.contains("127.0.0.1"), "{first}");
    // Asking again, with nothing done in between, gives the same.
    assert_eq!(netns.snapshot(), first);

    run(&mut netns.command(["ip", "link", "add", "br-snap", "type", "bridge"]));
    run(&mut netns.command(["ip", "addr", "add", "10.231.0.1/24", "dev", "br-snap"]));
    run(&mut netns.command(["ip", "link", "set", "br-snap", "up"]));
    run(&mut netns.command(["nft", "add", "table", "inet", "snap"]));
    let busy = netns.snapshot();
    for seen in ["br-snap", "10.231.0.1", "table inet snap"] {
        assert!(busy.contains(seen), "{seen} not in {busy}");
    }

    run(&mut netns.command(["nft", "delete", "table", "inet", "snap"]));
    run(&mut netns.command(["ip", "link", "del", "br-snap"]));
    assert_eq!(netns.snapshot(), first);
}

#[test]
fn drop_deletes_the_namespace() {
    let netns = NetNs::new();
    let path = netns.path().to_path_buf();
    let name = netns.name().to_string();
    assert!(path.exists());
    drop(netns);
    assert!(!Path::new(&path).exists(), "{} left behind", path.display());
    let listed =
        String::from_utf8(run(std::process::Command::new("ip").args(["netns", "list"])).stdout)
            .unwrap();
    assert!(
        !listed.lines().any(|l| l.split(' ').next() == Some(&name)),
        "{listed}"
    );
}

#[test]
fn namespaces_of_one_process_are_distinct() {
    let (a, b) = (NetNs::new(), NetNs::new());
    assert_ne!(a.name(), b.name());
    let inode = |n: &NetNs| std::fs::metadata(n.path()).unwrap().ino();
    assert_ne!(inode(&a), inode(&b));
}

#[test]
fn a_forwarded_address_answers_inside_until_dropped() {
    let outside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = outside.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = outside.accept().unwrap();
        let mut asked = [0; 4];
        std::io::Read::read_exact(&mut conn, &mut asked).unwrap();
        std::io::Write::write_all(&mut conn, &[&b"got "[..], &asked].concat()).unwrap();
    });
    let netns = NetNs::new();
    let talk = |netns: &NetNs| {
        netns
            .command([
                "busybox",
                "nc",
                "127.0.0.1",
                address.rsplit(':').next().unwrap(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Nothing listens inside before.
    let refused = talk(&netns).wait_with_output().unwrap();
    assert!(!refused.status.success());

    let forward = netns.forward(&address);
    let mut client = talk(&netns);
    std::io::Write::write_all(&mut client.stdin.take().unwrap(), b"ping").unwrap();
    let out = client.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got ping");
    server.join().unwrap();

    drop(forward);
    let after = talk(&netns).wait_with_output().unwrap();
    assert!(!after.status.success(), "still forwarded after drop");
}

//! `berth system df` and `berth system prune` against berthd: df prints what `docker system df`
//! prints against the same daemon, its numbers follow what containers write into their root
//! file systems and volumes, and prune removes what docker's removes and nothing in use.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use berth_testkit::archive::{docker_archive, random_layer};
use common::berthd::{words, Berthd};
use serde_json::Value;

/// `GET path` on the daemon's socket, as JSON.
fn api_get(daemon: &Berthd, path: &str) -> Value {
    let mut stream = UnixStream::connect(&daemon.socket).expect("connect to berthd");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: berth\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// `berth args` and `docker args` print the same; a second apart, "N seconds ago" may differ,
/// so a mismatch is retried a few times.
fn same(daemon: &Berthd, args: &[&str]) -> String {
    let mut last = None;
    for _ in 0..3 {
        let ours = daemon.berth(args);
        let theirs = daemon.docker(args);
        assert!(ours.success(), "{}", ours.describe());
        if ours.stdout == theirs.stdout {
            return ours.stdout;
        }
        last = Some((ours, theirs));
    }
    let (ours, theirs) = last.unwrap();
    panic!(
        "{args:?}: berth\n{}\ndocker\n{}",
        ours.describe(),
        theirs.describe()
    );
}

fn container<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Names"][0] == format!("/{name}"))
        .unwrap_or_else(|| panic!("no container {name} in {usage}"))
}

fn volume<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == name)
        .unwrap_or_else(|| panic!("no volume {name} in {usage}"))
}

const MIB: u64 = 1 << 20;

#[test]
fn df_prints_what_docker_prints_and_follows_what_containers_write() {
    let daemon = Berthd::start("cli-df");
    // Nothing yet: both print the same empty summary.
    same(&daemon, &words("system df"));
    same(&daemon, &words("system df -v"));
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&words("tag busybox:latest spare:1"));
    daemon.berth_ok(&words("run -d --name writer busybox sleep 300"));
    daemon.berth_ok(&words("run --name done busybox true"));
    // Containers cannot take named volumes yet: the test fills one from the host.
    daemon.berth_ok(&words("volume create data"));
    daemon.berth_ok(&words("volume create unused"));

    let before = api_get(&daemon, "/system/df");
    let image_size = before["Images"][0]["Size"].as_u64().unwrap();
    assert_eq!(before["LayersSize"].as_u64(), Some(image_size));
    assert_eq!(before["Images"][0]["Containers"], 2);
    assert_eq!(before["Images"][0]["SharedSize"], 0);
    let written = container(&before, "writer")["SizeRw"].as_u64().unwrap();
    assert!(
        written < 64 << 10,
        "a fresh container wrote {written} bytes"
    );
    assert_eq!(volume(&before, "data")["UsageData"]["Size"], 0);
    assert_eq!(volume(&before, "unused")["UsageData"]["RefCount"], 0);
    assert_eq!(before["BuildCache"], Value::Array(vec![]));

    // 1 MiB into the container's root file system, 512 KiB into a volume (and a hard link and
    // a symlink to outside it, which add nothing and 4 bytes).
    daemon.berth_ok(&words(
        "exec writer dd if=/dev/zero of=/big bs=1024 count=1024",
    ));
    let data = volume(&before, "data")["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let data = std::path::Path::new(&data);
    std::fs::write(data.join("blob"), vec![0u8; 512 * 1024]).unwrap();
    std::fs::hard_link(data.join("blob"), data.join("again")).unwrap();
    std::os::unix::fs::symlink("/etc", data.join("etc")).unwrap();
    let after = api_get(&daemon, "/system/df");
    let writer = container(&after, "writer");
    let rw = writer["SizeRw"].as_u64().unwrap();
    assert!(
        (written + MIB..written + MIB + (64 << 10)).contains(&rw),
        "SizeRw {rw} after writing 1 MiB over {written}"
    );
    assert_eq!(writer["SizeRootFs"].as_u64(), Some(rw + image_size));
    assert_eq!(volume(&after, "data")["UsageData"]["Size"], 512 * 1024 + 4);
    // ps -s and inspect -s measure the same way.
    let listed = api_get(&daemon, "/containers/json?size=true");
    assert_eq!(listed[0]["SizeRw"].as_u64(), Some(rw));
    let inspected = api_get(&daemon, "/containers/writer/json?size=true");
    assert_eq!(inspected["SizeRw"].as_u64(), Some(rw));
    assert_eq!(inspected["SizeRootFs"].as_u64(), Some(rw + image_size));

    // Only the kinds asked for.
    let volumes_only = api_get(&daemon, "/system/df?type=volume");
    assert!(volumes_only["Images"].is_null() && volumes_only["Containers"].is_null());
    assert_eq!(volumes_only["Volumes"].as_array().unwrap().len(), 2);

    let summary = same(&daemon, &words("system df"));
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    );
    assert!(
        lines[2].starts_with("Containers      2         1         1.049MB   0B (0%)"),
        "{summary}"
    );
    assert!(
        lines[3].starts_with("Local Volumes   2         0         524.3kB   524.3kB (100%)"),
        "{summary}"
    );
    same(&daemon, &words("system df -v"));
    same(&daemon, &["system", "df", "--format", "json"]);
    same(
        &daemon,
        &["system", "df", "--format", "{{.Type}}: {{.Size}}"],
    );
    same(
        &daemon,
        &[
            "system",
            "df",
            "-v",
            "--format",
            "{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}};{{end}}",
        ],
    );
    let ps = daemon.berth_ok(&words("ps -s --format {{.Names}}:{{.Size}}"));
    assert_eq!(
        ps,
        daemon.docker_ok(&words("ps -s --format {{.Names}}:{{.Size}}"))
    );
    assert!(ps.starts_with("writer:1.05MB (virtual "), "{ps}");
    assert!(ps.contains(" (virtual "), "{ps}");
}

#[test]
fn system_prune_removes_what_docker_would_and_keeps_what_is_in_use() {
    let daemon = Berthd::start("cli-sprune");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&words("tag busybox:latest spare:1"));
    // Its anonymous volume is in use: no prune takes it.
    daemon.berth_ok(&words("run -d --name keeper -v /kept busybox sleep 300"));
    let kept = daemon.berth_ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}}{{end}}",
        "keeper",
    ]);
    let kept = kept.trim();
    let stopped = daemon.berth_ok(&words("run -d --name stopped busybox true"));
    let stopped = stopped.trim();
    daemon.berth_ok(&words("wait stopped"));
    daemon.berth_ok(&words("volume create named"));
    // An image no container uses, which only -a removes.
    let archive = daemon.dir.join("other.tar");
    let other = docker_archive(&archive, &[random_layer(7, 200_000)], Some("other:1"));
    daemon.berth_ok(&["load", "-i", archive.to_str().unwrap()]);
    let anonymous = daemon.berth_ok(&words("volume create"));
    let anonymous = anonymous.trim();
    daemon.berth_ok(&words("network create spare-net"));

    // Answering no removes nothing; the question is docker's.
    let asked = daemon.berth_with_stdin(&words("system prune"), b"n\n");
    assert!(asked.success(), "{}", asked.describe());
    assert_eq!(
        asked.stdout,
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(daemon.berth_ok(&words("ps -aq")).lines().count(), 2);

    let pruned = daemon.berth_ok(&words("system prune -f"));
    assert_eq!(
        pruned,
        format!(
            "Deleted Containers:\n{stopped}\n\nDeleted Networks:\nspare-net\n\nTotal reclaimed space: 0B\n"
        )
    );
    let left = daemon.berth_ok(&words("ps -a --format {{.Names}}"));
    assert_eq!(left, "keeper\n");
    // --volumes takes the unused anonymous volume, and only it, even with -a.
    let pruned = daemon.berth_ok(&words("system prune -f -a --volumes"));
    let report = format!(
        "Deleted Volumes:\n{anonymous}\n\nDeleted Images:\nuntagged: other:1\ndeleted: {other}\n"
    );
    assert!(pruned.starts_with(&report), "{pruned}");
    // The layer's blob and its unpacked snapshot, each at least the 200 kB file.
    let total = pruned.rsplit_once("\n\nTotal reclaimed space: ").unwrap().1;
    assert!(total.ends_with("kB\n") && total > "400", "{pruned}");
    let mut volumes: Vec<String> = daemon
        .berth_ok(&words("volume ls -q"))
        .lines()
        .map(str::to_string)
        .collect();
    volumes.sort();
    let mut wanted = vec![kept.to_string(), "named".to_string()];
    wanted.sort();
    assert_eq!(volumes, wanted);
    let refs = daemon.berth_ok(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{range .Volumes}}{{.Name}} {{.Links}}\n{{end}}",
    ]);
    assert!(
        refs.contains(&format!("{kept} 1\n")) && refs.contains("named 0\n"),
        "{refs}"
    );
    // The image in use keeps all its names (docker prunes by image, not by name).
    assert_eq!(
        daemon.berth_ok(&words("images --format {{.Repository}}:{{.Tag}}")),
        "busybox:latest\nspare:1\n"
    );
    assert_eq!(
        daemon.berth_ok(&words("ps --format {{.Names}}")),
        "keeper\n"
    );

    // docker's system prune against the same daemon finds nothing more, and says so alike.
    let ours = daemon.berth_ok(&words("system prune -f -a --volumes"));
    let theirs = daemon.docker_ok(&words("system prune -f -a --volumes"));
    assert_eq!(ours, "Total reclaimed space: 0B\n");
    assert_eq!(ours, theirs);
    // And what docker's prune removes, berth's would have: a new stopped container goes.
    let again = daemon.berth_ok(&words("run -d --name again busybox true"));
    daemon.berth_ok(&words("wait again"));
    let theirs = daemon.docker_ok(&words("system prune -f"));
    assert_eq!(
        theirs,
        format!(
            "Deleted Containers:\n{}\n\nTotal reclaimed space: 0B\n",
            again.trim()
        )
    );
    let refused = daemon.berth(&["system", "prune", "-f", "--volumes", "--filter", "until=1h"]);
    assert_eq!(refused.code(), Some(1), "{}", refused.describe());
    assert_eq!(
        refused.stderr,
        "ERROR: The \"until\" filter is not supported with \"--volumes\"\n"
    );
}

//! `docker cp` against berthd: the real docker CLI copies trees into and out of running and
//! stopped containers and gets them back as they were (modes, owners, times, symlinks, hard
//! links); the archive API answers bad input as Docker does; and a container swapping symlinks
//! under the copy never makes the daemon touch anything outside it.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

use berth_testkit::files::set_mtime;
use common::Daemon;
use nix::unistd::{chown, Gid, Uid};

const MTIME: i64 = 1_600_000_000;

/// `tree/{file (setuid, 1234:5678), sub/ (0750), sub/hard (a hard link to file), link -> file,
/// abs -> /etc/passwd}`, every time set to [`MTIME`].
fn build_tree(tree: &Path) {
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("file"), b"hello").unwrap();
    chown(
        &tree.join("file"),
        Some(Uid::from_raw(1234)),
        Some(Gid::from_raw(5678)),
    )
    .unwrap();
    fs::set_permissions(tree.join("file"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(tree.join("file"), tree.join("sub/hard")).unwrap();
    fs::set_permissions(tree.join("sub"), fs::Permissions::from_mode(0o750)).unwrap();
    symlink("file", tree.join("link")).unwrap();
    symlink("/etc/passwd", tree.join("abs")).unwrap();
    for p in ["file", "link", "abs", "sub", ""] {
        set_mtime(&tree.join(p), MTIME);
    }
}

/// One entry of a tar as the daemon sent it.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    owner: (u64, u64),
    mtime: u64,
    link: String,
    data: Vec<u8>,
}

fn entries(tar: &[u8]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for entry in tar::Archive::new(tar).entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => 'f',
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(
            name,
            Entry {
                kind,
                mode: h.mode().unwrap(),
                owner: (h.uid().unwrap(), h.gid().unwrap()),
                mtime: h.mtime().unwrap(),
                link,
                data,
            },
        );
    }
    out
}

/// One HTTP/1.0 request with a binary body; the status, head and body.
fn request(socket: &Path, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: berth\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

/// The path stat a GET or HEAD answered with.
fn stat_of(head: &str) -> serde_json::Value {
    use base64::Engine;
    let value = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(": ")?;
            name.eq_ignore_ascii_case("x-docker-container-path-stat")
                .then_some(value)
        })
        .expect("a path stat header");
    let json = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[test]
fn docker_cp_round_trips_trees_into_and_out_of_running_and_stopped_containers() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let tree = daemon.dir.join("tree");
    build_tree(&tree);
    daemon.docker_ok(&["run", "-d", "--name", "running", "busybox", "sleep", "1000"]);
    daemon.docker_ok(&["create", "--name", "stopped", "busybox", "true"]);
    for name in ["running", "stopped"] {
        let tree_arg = tree.to_str().unwrap();
        daemon.docker_ok(&["cp", "-a", tree_arg, &format!("{name}:/")]);
        daemon.docker_ok(&["cp", tree_arg, &format!("{name}:/tmp/plain")]);
        let (status, _, tar) = request(
            &daemon.socket,
            "GET",
            &format!("/containers/{name}/archive?path=/tree"),
            b"",
        );
        assert_eq!(status, 200, "{name}");
        let got = entries(&tar);
        let names: Vec<_> = got.keys().cloned().collect();
        assert_eq!(
            names,
            [
                "tree/",
                "tree/abs",
                "tree/file",
                "tree/link",
                "tree/sub/",
                "tree/sub/hard"
            ],
            "{name}"
        );
        let file = &got["tree/file"];
        assert_eq!(
            (file.kind, file.mode, file.owner, file.mtime, &file.data[..]),
            ('f', 0o4755, (1234, 5678), MTIME as u64, &b"hello"[..]),
            "{name}: -a keeps owners, modes, times"
        );
        assert_eq!(
            (got["tree/sub/"].mode, got["tree/sub/"].mtime),
            (0o750, MTIME as u64)
        );
        assert_eq!(
            (got["tree/link"].kind, got["tree/link"].link.as_str()),
            ('l', "file")
        );
        assert_eq!(got["tree/abs"].link, "/etc/passwd");
        assert_eq!(
            (
                got["tree/sub/hard"].kind,
                got["tree/sub/hard"].link.as_str()
            ),
            ('h', "tree/file")
        );
        // Without -a everything belongs to the container's root.
        let (_, _, tar) = request(
            &daemon.socket,
            "GET",
            &format!("/containers/{name}/archive?path=/tmp/plain/file"),
            b"",
        );
        let plain = entries(&tar);
        assert_eq!(plain["file"].owner, (0, 0), "{name}");
        assert_eq!(plain["file"].mode, 0o4755, "{name}");

        // And out again to a destination that does not exist: it takes the destination's name.
        let out = daemon.dir.join(format!("out-{name}"));
        daemon.docker_ok(&["cp", &format!("{name}:/tree"), out.to_str().unwrap()]);
        let meta = fs::symlink_metadata(out.join("file")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o4755);
        assert_eq!(meta.mtime(), MTIME);
        assert_eq!(fs::read(out.join("file")).unwrap(), b"hello");
        assert_eq!(fs::read_link(out.join("link")).unwrap(), Path::new("file"));
        assert_eq!(
            fs::read_link(out.join("abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            fs::metadata(out.join("sub/hard")).unwrap().ino(),
            meta.ino(),
            "hard links stay linked"
        );
        assert_eq!(
            fs::metadata(out.join("sub")).unwrap().mode() & 0o7777,
            0o750
        );
        // `dir/.` copies the contents into an existing directory.
        let contents = daemon.dir.join(format!("contents-{name}"));
        fs::create_dir(&contents).unwrap();
        daemon.docker_ok(&[
            "cp",
            &format!("{name}:/tree/sub/."),
            contents.to_str().unwrap(),
        ]);
        assert!(contents.join("hard").is_file(), "{name}");
    }
    // The stopped container's root file system is not left mounted.
    let stopped = daemon.inspect("{{.Id}}", "stopped");
    assert!(
        !daemon.mounts().iter().any(|m| m.contains(stopped.trim())),
        "{:?}",
        daemon.mounts()
    );
}

#[test]
fn the_archive_api_answers_bad_input_as_docker_does() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let call = |method: &str, query: &str, body: &[u8]| {
        let (status, head, body) = request(
            &daemon.socket,
            method,
            &format!("/containers/box/archive{query}"),
            body,
        );
        (status, head, String::from_utf8_lossy(&body).into_owned())
    };
    let (status, head, _) = call("HEAD", "?path=/etc/passwd", b"");
    assert_eq!(status, 200);
    let stat = stat_of(&head);
    assert_eq!(stat["name"], "passwd");
    assert_eq!(stat["mode"], 0o644);
    assert!(stat["size"].as_i64().unwrap() > 0, "{stat}");
    let (_, head, _) = call("HEAD", "?path=/bin/sh", b"");
    let stat = stat_of(&head);
    assert_eq!(stat["mode"], (1u64 << 27) | 0o777, "a symlink: {stat}");
    assert_eq!(stat["linkTarget"], "/bin/busybox");
    let (_, head, _) = call("HEAD", "?path=/etc/", b"");
    assert_eq!(stat_of(&head)["mode"], (1u64 << 31) | 0o755);

    let (status, _, body) = call("GET", "?path=/nope", b"");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("Could not find the file /nope in container box"),
        "{body}"
    );
    let (status, _, _) = call("HEAD", "?path=/nope/deeper", b"");
    assert_eq!(status, 404);
    let (status, _, body) = call("GET", "", b"");
    assert_eq!(status, 400, "{body}");
    let mut file = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(2);
    file.append_data(&mut h, "tmp", &b"x\n"[..]).unwrap();
    let file = file.into_inner().unwrap();
    let (status, _, body) = call("PUT", "?path=/etc/passwd", &file);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("extraction point is not a directory"),
        "{body}"
    );
    let (status, _, body) = call("PUT", "?path=/nope", &file);
    assert_eq!(status, 404, "{body}");
    // A file may not replace the directory /tmp when asked not to.
    let (status, _, body) = call("PUT", "?path=/&noOverwriteDirNonDir=true", &file);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("tmp"), "{body}");
    let (status, _, body) = request(
        &daemon.socket,
        "GET",
        "/containers/ghost/archive?path=/",
        b"",
    );
    assert_eq!(status, 404);
    assert!(
        String::from_utf8_lossy(&body).contains("No such container: ghost"),
        "{body:?}"
    );

    // The docker CLI shows the daemon's words.
    let out = daemon.docker(&["cp", "box:/nope", daemon.dir.join("x").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Could not find the file /nope in container box"),
        "{stderr}"
    );
    let local = daemon.dir.join("local");
    fs::write(&local, b"data").unwrap();
    let out = daemon.docker(&["cp", local.to_str().unwrap(), "box:/nope/sub/x"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Could not find the file /nope/sub in container box"),
        "{stderr}"
    );
}

#[test]
fn a_hostile_tar_put_into_a_container_stays_inside_it() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let host = daemon.dir.join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("marker"), b"host").unwrap();
    let h = host.display().to_string();
    let mut tar = Vec::new();
    use tar::EntryType::{Regular, Symlink};
    berth_testkit::raw_tar_entry(
        &mut tar,
        &format!("../../../../../..{h}/dotdot"),
        Regular,
        "",
        b"x",
    );
    berth_testkit::raw_tar_entry(&mut tar, &format!("{h}/absolute"), Regular, "", b"x");
    berth_testkit::raw_tar_entry(&mut tar, "evil", Symlink, &h, b"");
    berth_testkit::raw_tar_entry(&mut tar, "evil/through-link", Regular, "", b"x");
    berth_testkit::raw_tar_entry(&mut tar, "up", Symlink, "../../../../../..", b"");
    berth_testkit::raw_tar_entry(&mut tar, &format!("up{h}/through-up"), Regular, "", b"x");
    berth_testkit::raw_tar_entry(
        &mut tar,
        &format!("up{h}/marker"),
        Regular,
        "",
        b"overwritten",
    );
    tar.extend_from_slice(&[0; 1024]);
    let (status, _, body) = request(
        &daemon.socket,
        "PUT",
        "/containers/box/archive?path=/tmp",
        &tar,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let mut seen: Vec<_> = fs::read_dir(&host)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, ["marker"], "nothing was written on the host");
    assert_eq!(fs::read(host.join("marker")).unwrap(), b"host");
    // What the tar held landed inside the container.
    let inside = daemon.docker_ok(&["exec", "box", "find", "/tmp", "-name", "through-*"]);
    assert!(inside.contains("through-link"), "{inside}");
    // A hard link to a file only the host has is refused, the file left alone.
    fs::write(host.join("host-only"), b"host").unwrap();
    let mut tar = Vec::new();
    berth_testkit::raw_tar_entry(
        &mut tar,
        "hl",
        tar::EntryType::Link,
        &format!("../../../..{h}/host-only"),
        b"",
    );
    tar.extend_from_slice(&[0; 1024]);
    let (status, _, _) = request(
        &daemon.socket,
        "PUT",
        "/containers/box/archive?path=/tmp",
        &tar,
    );
    assert_eq!(status, 400);
    assert_eq!(fs::metadata(host.join("host-only")).unwrap().nlink(), 1);
}

#[test]
fn symlinks_swapped_in_the_container_during_copies_never_reach_the_host() {
    // About 7 s for all of them on a debug build: none need wait for BERTH_SOAK.
    let iterations = 10_000;
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let host = daemon.dir.join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("secret"), b"host secret").unwrap();
    set_mtime(&host.join("secret"), MTIME);
    let h = host.display().to_string();
    // The same path exists in the container twice: under /data/inner and from its root. The
    // link flips between the two; a daemon resolving it on the host would reach `host`.
    let script = format!(
        "mkdir -p /data/inner{h} {h} && echo inner > /data/inner{h}/secret && \
         echo root > {h}/secret && \
         while true; do ln -sfn /data/inner /data/swap; ln -sfn / /data/swap; done"
    );
    daemon.docker_ok(&[
        "run", "-d", "--name", "racer", "busybox", "sh", "-c", &script,
    ]);
    let mut put = Vec::new();
    berth_testkit::raw_tar_entry(
        &mut put,
        "written",
        tar::EntryType::Regular,
        "",
        b"from the copy",
    );
    put.extend_from_slice(&[0; 1024]);
    let started = Instant::now();
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..iterations {
        let (status, _, body) = if i % 4 == 3 {
            request(
                &daemon.socket,
                "PUT",
                &format!("/containers/racer/archive?path=/data/swap{h}"),
                &put,
            )
        } else {
            request(
                &daemon.socket,
                "GET",
                &format!("/containers/racer/archive?path=/data/swap{h}/secret"),
                b"",
            )
        };
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("host secret"),
            "iteration {i} read the host's file"
        );
        let outcome = if status != 200 {
            format!("{status}")
        } else if text.contains("inner") {
            "inner".into()
        } else if text.contains("root") {
            "root".into()
        } else {
            "200".into()
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!(
        "{iterations} copies in {:?}: {outcomes:?}",
        started.elapsed()
    );
    let mut seen: Vec<_> = fs::read_dir(&host)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, ["secret"], "nothing was created on the host");
    let meta = fs::metadata(host.join("secret")).unwrap();
    assert_eq!(fs::read(host.join("secret")).unwrap(), b"host secret");
    assert_eq!(meta.mtime(), MTIME, "the host file was not touched");
    assert!(
        outcomes.contains_key("inner") || outcomes.contains_key("root"),
        "copies went through the swapping link: {outcomes:?}"
    );
}

#[test]
fn a_running_container_is_copied_through_its_own_mounts() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let data = daemon.dir.join("data-bind");
    let ro = daemon.dir.join("ro-bind");
    fs::create_dir(&data).unwrap();
    fs::create_dir(&ro).unwrap();
    fs::write(data.join("from-host"), b"bound").unwrap();
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--read-only",
        "-v",
        &format!("{}:/data", data.display()),
        "-v",
        &format!("{}:/ro:ro", ro.display()),
        "busybox",
        "sleep",
        "1000",
    ]);
    let local = daemon.dir.join("local");
    fs::write(&local, b"copied").unwrap();
    let l = local.to_str().unwrap();
    // Into the bind mount: the host directory receives it; out of it: the host's file.
    daemon.docker_ok(&["cp", l, "box:/data/"]);
    assert_eq!(fs::read(data.join("local")).unwrap(), b"copied");
    let (status, _, tar) = request(
        &daemon.socket,
        "GET",
        "/containers/box/archive?path=/data/from-host",
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(entries(&tar)["from-host"].data, b"bound");
    // The read-only root and the read-only bind refuse, as Docker words it.
    for (dst, wanted) in [
        ("box:/tmp/", "container rootfs is marked read-only"),
        ("box:/ro/", "mounted volume is marked read-only"),
    ] {
        let out = daemon.docker(&["cp", l, dst]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{dst}: {stderr}");
        assert!(stderr.contains(wanted), "{dst}: {stderr}");
    }
    assert_eq!(fs::read_dir(&ro).unwrap().count(), 0);
}

//! `ADD <url>` through `DOCKER_BUILDKIT=0 docker build` against berthd: the daemon downloads
//! from an HTTP server on 127.0.0.1 inside its own network namespace.

mod common;

use std::process::Stdio;
use std::time::Duration;

use berth_testkit::tempdir::TempDir;
use common::build::{build, build_ok, daemon, write};
use common::{Daemon, Killed};

/// `python3 -m http.server` serving a directory inside the daemon's namespace; stopped when
/// dropped.
fn start_server(daemon: &Daemon, dir: &std::path::Path, port: u16) -> Killed {
    let port = port.to_string();
    let dir = dir.to_str().unwrap();
    let argv = [
        "python3",
        "-m",
        "http.server",
        &port,
        "--bind",
        "127.0.0.1",
        "--directory",
        dir,
    ];
    let child = daemon
        .in_netns(&argv)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3 -m http.server");
    let server = Killed(child);
    let probe =
        format!("import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/')");
    for _ in 0..100 {
        let ready = daemon
            .in_netns(&["python3", "-c", &probe])
            .stderr(Stdio::null())
            .status();
        if ready.is_ok_and(|s| s.success()) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the HTTP server did not start");
}

fn run(daemon: &Daemon, image: &str, script: &str) -> String {
    daemon.docker_ok(&["run", "--rm", image, "sh", "-c", script])
}

#[test]
fn add_downloads_a_url_keeps_it_packed_and_caches_by_content() {
    let daemon = daemon();
    let served = TempDir::new("build-add-url-served");
    write(served.path(), "hello.txt", "hello from the server\n");
    // An archive is downloaded as a file, never unpacked.
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, "inside", &b"x"[..])
        .unwrap();
    std::fs::write(served.join("packed.tar"), archive.into_inner().unwrap()).unwrap();
    let mtime = std::fs::metadata(served.join("hello.txt")).unwrap();
    let mtime = mtime
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let _server = start_server(&daemon, served.path(), 18231);

    let ctx = TempDir::new("build-add-url");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox
ADD http://127.0.0.1:18231/hello.txt /got/
ADD http://127.0.0.1:18231/packed.tar /packed
RUN true
",
    );
    let context = ctx.path().to_str().unwrap();
    let first = build_ok(&daemon, &["-t", "added", context]);
    assert_eq!(first.matches("Using cache").count(), 0, "{first}");
    let seen = run(
        &daemon,
        "added",
        "cat /got/hello.txt; stat -c '%a %u:%g %Y' /got/hello.txt; [ -f /packed ] && echo packed is a file",
    );
    assert_eq!(
        seen,
        format!("hello from the server\n600 0:0 {mtime}\npacked is a file\n")
    );

    // Same content: every step from the cache. New content: the ADD and what follows run.
    let again = build_ok(&daemon, &["-t", "added", context]);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    write(served.path(), "hello.txt", "changed\n");
    let changed = build_ok(&daemon, &["-t", "added", context]);
    assert_eq!(changed.matches("Using cache").count(), 0, "{changed}");
    assert_eq!(run(&daemon, "added", "cat /got/hello.txt"), "changed\n");

    // COPY takes no URL; a missing file is a failed download, named.
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nCOPY http://127.0.0.1:18231/hello.txt /\n",
    );
    let (ok, text) = build(&daemon, &[context]);
    assert!(
        !ok && text.contains("source can't be a URL for COPY"),
        "{text}"
    );
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nADD http://127.0.0.1:18231/missing.txt /\n",
    );
    let (ok, text) = build(&daemon, &[context]);
    assert!(
        !ok && text.contains("failed to download http://127.0.0.1:18231/missing.txt"),
        "{text}"
    );
    assert!(text.contains("404"), "{text}");
}

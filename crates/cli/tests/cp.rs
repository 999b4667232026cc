//! `berth cp` against berthd: for each way of naming a source and a destination, it leaves
//! the same files (names, modes, times, link targets) and prints the same errors with the same
//! exit codes as `docker cp` run against the same daemon.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_testkit::files::set_mtime;
use common::berthd::Berthd;

/// Every entry under `root`: relative name, type and permissions, size, mtime, link target.
fn listing(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let link = fs::read_link(&path)
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let size = if meta.is_dir() { 0 } else { meta.size() };
            out.push(format!(
                "{} {:o} {size} {} {link}",
                path.strip_prefix(root).unwrap().display(),
                meta.mode(),
                meta.mtime()
            ));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(meta) = fs::symlink_metadata(root) {
        out.push(format!(
            "{:o} {}",
            meta.mode(),
            meta.len() * u64::from(meta.is_file())
        ));
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Runs `cp args` with docker then with berth, the destination `out` emptied before each;
/// both must end the same way and leave the same files. Returns berth's stderr.
fn same(daemon: &Berthd, out: &Path, args: &[&str]) -> String {
    let reset = || {
        let _ = fs::remove_dir_all(out);
        fs::create_dir(out).unwrap();
    };
    reset();
    let mut cp = vec!["cp"];
    cp.extend_from_slice(args);
    let theirs = daemon.docker(&cp);
    let their_files = listing(out);
    reset();
    let ours = daemon.berth(&cp);
    let our_files = listing(out);
    // The docker CLI also logs its own tar writer's broken pipe when the daemon refuses.
    let their_stderr: String = theirs
        .stderr
        .lines()
        .filter(|l| !l.starts_with("time="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        (ours.code(), ours.stderr.clone()),
        (theirs.code(), their_stderr.replace("docker", "berth")),
        "{args:?}: berth\n{}\ndocker\n{}",
        ours.describe(),
        theirs.describe()
    );
    assert_eq!(our_files, their_files, "{args:?}");
    ours.stderr
}

#[test]
fn cp_out_of_a_container_leaves_what_docker_cp_leaves() {
    let daemon = Berthd::start("cli-cp-out");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    daemon.berth_ok(&["create", "--name", "idle", "busybox", "true"]);
    let out = daemon.dir.join("out");
    let o = out.display().to_string();
    for container in ["box", "idle"] {
        for (src, dst) in [
            ("/etc/passwd", format!("{o}/copy")),
            ("/etc/passwd", o.clone()),
            ("/etc", o.clone()),
            ("/etc", format!("{o}/new")),
            ("/etc/", format!("{o}/new/")),
            ("/etc/.", format!("{o}/contents")),
            ("/etc/.", o.clone()),
            ("/bin/sh", format!("{o}/sh-link")),
            ("/bin", format!("{o}/bin")),
            // Errors: a missing source, a missing destination directory, a file for a directory.
            ("/nope", format!("{o}/x")),
            ("/etc/passwd", format!("{o}/missing/x")),
            ("/etc/passwd", format!("{o}/missing/")),
            ("/etc/passwd", "/dev/null".to_string()),
        ] {
            same(&daemon, &out, &[&format!("{container}:{src}"), &dst]);
        }
        same(
            &daemon,
            &out,
            &["-L", &format!("{container}:/bin/sh"), &format!("{o}/sh")],
        );
        // A tar on stdout: the daemon's, unchanged.
        let ours = daemon.berth_ok(&["cp", &format!("{container}:/etc"), "-"]);
        let theirs = daemon.docker_ok(&["cp", &format!("{container}:/etc"), "-"]);
        assert_eq!(ours, theirs);
        assert!(ours.contains("etc/passwd"), "a tar of /etc");
    }
    // Errors that never reach a container.
    for args in [
        vec!["box:/etc", "box:/tmp"],
        vec!["a", "b"],
        vec!["", "box:/tmp"],
        vec!["ghost:/etc", "out"],
    ] {
        same(&daemon, &out, &args);
    }
}

/// What `docker cp SRC -` sends, one line per entry below the top: name, mode, owner, time,
/// size, link target.
fn tar_listing(daemon: &Berthd, src: &str) -> Vec<String> {
    let mut command = std::process::Command::new("docker");
    command
        .env("DOCKER_CONFIG", daemon.dir.join("docker-config"))
        .args(["-H", &daemon.host(), "cp", src, "-"]);
    let out = command.output().unwrap();
    assert!(out.status.success(), "{src}: {out:?}");
    let mut lines = Vec::new();
    for entry in tar::Archive::new(&out.stdout[..]).entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some((_, below)) = name.trim_end_matches('/').split_once('/') else {
            continue;
        };
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        lines.push(format!(
            "{below} {:o} {}:{} {} {} {link}",
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            h.size().unwrap()
        ));
    }
    lines.sort();
    lines
}

#[test]
fn cp_into_a_container_keeps_what_docker_cp_keeps() {
    let daemon = Berthd::start("cli-cp-in");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let tree = daemon.dir.join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("file"), b"hello").unwrap();
    fs::set_permissions(tree.join("file"), fs::Permissions::from_mode(0o640)).unwrap();
    nix::unistd::chown(
        &tree.join("file"),
        Some(nix::unistd::Uid::from_raw(1234)),
        Some(nix::unistd::Gid::from_raw(5678)),
    )
    .unwrap();
    symlink("file", tree.join("link")).unwrap();
    for p in ["file", "link", "sub", ""] {
        set_mtime(&tree.join(p), 1_600_000_000);
    }
    let t = tree.display().to_string();
    let empty = daemon.dir.join("empty");
    fs::create_dir(&empty).unwrap();
    daemon.berth_ok(&["create", "--name", "idle", "busybox", "true"]);
    // Each tool copies into its own directory of each container; all are read back as tars.
    for container in ["box", "idle"] {
        for tool in ["docker", "berth"] {
            let run = |args: &[&str]| {
                let mut cp = vec!["cp"];
                cp.extend_from_slice(args);
                let out = if tool == "docker" {
                    daemon.docker(&cp)
                } else {
                    daemon.berth(&cp)
                };
                assert!(out.success(), "{tool} {args:?}: {}", out.describe());
            };
            let dir = format!("{container}:/{tool}");
            daemon.docker_ok(&["cp", empty.to_str().unwrap(), &dir]);
            run(&["-a", &t, &format!("{dir}/kept")]);
            run(&[&t, &format!("{dir}/")]);
            run(&[&format!("{t}/."), &format!("{dir}/contents")]);
            run(&[&format!("{t}/file"), &format!("{dir}/renamed")]);
        }
        let ours = tar_listing(&daemon, &format!("{container}:/berth"));
        assert_eq!(ours, tar_listing(&daemon, &format!("{container}:/docker")));
        assert!(
            ours.contains(&"kept/file 640 1234:5678 1600000000 5 ".to_string()),
            "{container}: {ours:?}"
        );
        assert!(
            ours.contains(&"tree/file 640 0:0 1600000000 5 ".to_string()),
            "{container}: {ours:?}"
        );
        assert!(
            ours.contains(&"contents/link 777 0:0 1600000000 0 file".to_string()),
            "{container}: {ours:?}"
        );
    }
    // Errors: a missing parent, a directory onto a file, stdin to a non-directory, a file to
    // a directory that does not exist.
    let out = daemon.dir.join("unused");
    let file = format!("{t}/file");
    for args in [
        vec![t.as_str(), "box:/nope/x"],
        vec![file.as_str(), "box:/tmp/newdir/"],
        vec![t.as_str(), "box:/etc/passwd"],
        vec!["-", "box:/etc/passwd"],
    ] {
        same(&daemon, &out, &args);
    }
    // A tar on stdin lands in the directory as is.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_size(3);
    tar.append_data(&mut h, "streamed", &b"abc"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let result = daemon.berth_with_stdin(&["cp", "-", "box:/tmp"], &tar);
    assert!(result.success(), "{}", result.describe());
    assert_eq!(
        daemon.docker_ok(&["exec", "box", "cat", "/tmp/streamed"]),
        "abc"
    );
}

#[test]
fn cp_reports_the_size_copied_on_a_terminal_only() {
    let daemon = Berthd::start("cli-cp-tty");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&["create", "--name", "box", "busybox", "true"]);
    let dst = daemon.dir.join("passwd");
    let d = dst.display().to_string();
    let piped = daemon.berth(&["cp", "box:/etc/passwd", &d]);
    assert!(
        piped.success() && piped.stderr.is_empty(),
        "{}",
        piped.describe()
    );
    fs::remove_file(&dst).unwrap();
    let shown = daemon.berth_on_terminal(&["cp", "box:/etc/passwd", &d]);
    let line = shown
        .stdout
        .lines()
        .find(|l| l.starts_with("Successfully copied "))
        .unwrap_or_else(|| panic!("{}", shown.describe()));
    assert!(line.trim_end().ends_with(&format!("B to {d}")), "{line}");
    let quiet = daemon.berth_on_terminal(&["cp", "-q", "box:/etc/passwd", &d]);
    assert!(
        !quiet.stdout.contains("Successfully"),
        "{}",
        quiet.describe()
    );
}

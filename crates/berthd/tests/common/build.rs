//! `docker build` against a test daemon, with the legacy builder's client
//! (`DOCKER_BUILDKIT=0`: the CLI only sends the context; berthd's builder does the rest).

use std::path::Path;

use super::Daemon;

/// `docker build` with the legacy builder; returns whether it succeeded and what it printed.
pub fn build(daemon: &Daemon, args: &[&str]) -> (bool, String) {
    let out = daemon
        .docker_command(&[&["build"], args].concat())
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run docker build");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// [`build`], which must succeed; returns what it printed.
pub fn build_ok(daemon: &Daemon, args: &[&str]) -> String {
    let (ok, text) = build(daemon, args);
    assert!(
        ok,
        "docker build {args:?} failed:\n{text}\n{}",
        daemon.log()
    );
    text
}

/// Writes `contents` to `dir/name`, making its directories.
pub fn write(dir: &Path, name: &str, contents: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A test daemon with busybox loaded as `busybox:latest`.
pub fn daemon() -> Daemon {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon
}

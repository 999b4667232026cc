//! `version`, `info`, and what happens without a daemon.

mod common;

use berth_testkit::{Engine, EngineOptions, TempDir};
use common::{berth_at, berth_ok};

#[test]
fn version_and_info_show_the_daemon() {
    let engine = Engine::start("cli-version", EngineOptions::default());
    let version = berth_ok(&engine, &["version"]);
    assert!(version.starts_with("Client:\n Version:"), "{version}");
    // dockerd 20.10 speaks 1.41: the client negotiates down to it.
    assert!(
        version.contains(" API version:       1.41 (downgraded from 1.44)"),
        "{version}"
    );
    assert!(
        version.contains("\nServer:\n Engine:\n  Version:"),
        "{version}"
    );
    let server = berth_ok(&engine, &["version", "--format", "{{.Server.ApiVersion}}"]);
    assert_eq!(server, "1.41\n");

    let info = berth_ok(&engine, &["info"]);
    assert!(info.contains("\n Images: 0\n"), "{info}");
    assert!(info.contains("\n Server Version: 20.10"), "{info}");
    assert!(
        info.contains(" runc\n Default Runtime: runc\n"),
        "the runtimes, as docker info lists them: {info}"
    );
    let images = berth_ok(&engine, &["info", "--format", "{{.Images}} {{.OSType}}"]);
    assert_eq!(images, "0 linux\n");
}

#[test]
fn without_a_daemon_commands_exit_125() {
    let dir = TempDir::new("cli-no-daemon");
    let host = format!("unix://{}", dir.join("nothing.sock").display());
    for args in [&["images"][..], &["pull", "busybox"], &["info"]] {
        let out = berth_at(&host, &dir.join("config"), dir.path(), args);
        assert_eq!(out.code(), Some(125), "{}", out.describe());
        assert_eq!(
            out.stderr,
            format!("Cannot connect to the berth daemon at {host}. Is the daemon running?\n")
        );
    }
    let usage = berth_at(
        &host,
        &dir.join("config"),
        dir.path(),
        &["images", "--bogus"],
    );
    assert_eq!(usage.code(), Some(125), "{}", usage.describe());
    let version = berth_at(&host, &dir.join("config"), dir.path(), &["--version"]);
    assert!(
        version.stdout.starts_with("berth version "),
        "{}",
        version.describe()
    );
    let completion = berth_at(
        &host,
        &dir.join("config"),
        dir.path(),
        &["completion", "bash"],
    );
    assert!(
        completion.stdout.contains("_berth()"),
        "{}",
        completion.describe()
    );
}

//! Bad input gets a clear one-line error, a non-zero exit, and leaves nothing behind.

mod common;

use std::path::Path;

use common::{leftover_cgroups, stderr, unique, Bundle, Runtime};
use serde_json::json;

/// Runs `args`, expects failure with `needle` in a single-line error, and no leftovers for `id`.
fn refused(rt: &Runtime, cwd: &Path, args: &[&str], needle: &str, id: &str) {
    let out = rt.run_in(cwd, args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = stderr(&out);
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err:?}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line of error: {err:?}"
    );
    assert!(!rt.root.join(id).exists(), "state left for {id}");
    assert!(leftover_cgroups(id).is_empty(), "cgroup left for {id}");
}

#[test]
fn missing_bundle() {
    let rt = Runtime::new();
    let id = unique("nobundle");
    refused(
        &rt,
        Path::new("/"),
        &["create", "--bundle", "/nonexistent/bundle", &id],
        "/nonexistent/bundle",
        &id,
    );
}

#[test]
fn broken_config_json() {
    let bundle = Bundle::busybox(&["true"]);
    std::fs::write(bundle.dir.join("config.json"), "{ this is not json").unwrap();
    let rt = Runtime::new();
    let id = unique("broken");
    refused(&rt, &bundle.dir, &["run", &id], "config.json", &id);
}

#[test]
fn unknown_namespace_type() {
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "bogus" }]));
    let rt = Runtime::new();
    let id = unique("badns");
    refused(&rt, &bundle.dir, &["run", &id], "bogus", &id);
}

#[test]
fn duplicate_namespace() {
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "mount" }]));
    let rt = Runtime::new();
    let id = unique("dupns");
    refused(&rt, &bundle.dir, &["run", &id], "listed twice", &id);
}

#[test]
fn duplicate_id_keeps_the_first_container() {
    let bundle = Bundle::busybox(&["sleep", "60"]);
    let rt = Runtime::new();
    let id = unique("dup");
    rt.ok(&bundle.dir, &["create", &id]);
    let out = rt.run_in(&bundle.dir, &["create", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(
        rt.state(&id)["status"],
        "created",
        "the first container is untouched"
    );
}

#[test]
fn ids_with_slashes_or_dots_are_refused() {
    let bundle = Bundle::busybox(&["true"]);
    let rt = Runtime::new();
    for id in ["a/b", "..", "../escape"] {
        let out = rt.run_in(&bundle.dir, &["create", id]);
        assert!(!out.status.success(), "{id} accepted");
        assert!(
            stderr(&out).contains("invalid container id"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!rt.root.parent().unwrap().join("escape").exists());
}

#[test]
fn operations_on_a_missing_container() {
    let rt = Runtime::new();
    for args in [
        vec!["state", "ghost"],
        vec!["start", "ghost"],
        vec!["kill", "ghost", "KILL"],
        vec!["delete", "ghost"],
        vec!["exec", "ghost", "true"],
        vec!["pause", "ghost"],
    ] {
        refused(
            &rt,
            Path::new("/"),
            &args,
            "container ghost does not exist",
            "ghost",
        );
    }
    // Forced deletion of something already gone succeeds, as runc's does.
    assert!(rt
        .run_in(Path::new("/"), &["delete", "-f", "ghost"])
        .status
        .success());
}

#[test]
fn a_missing_executable_fails_create_cleanly() {
    let bundle = Bundle::busybox(&["/no/such/program"]);
    let rt = Runtime::new();
    let id = unique("noexec");
    let out = rt.run_in(&bundle.dir, &["run", &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/no/such/program"),
        "{}",
        stderr(&out)
    );
    assert!(!rt.root.join(&id).exists());
    assert!(leftover_cgroups(&id).is_empty());
}

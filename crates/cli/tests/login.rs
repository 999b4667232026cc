//! `login`, then pull and push with the stored credentials, and `logout`, against a registry
//! that requires a password (htpasswd), served in dockerd's network namespace.

mod common;

use berth_testkit::{Engine, EngineOptions, LocalRegistry};
use common::{berth, berth_ok, berth_with_stdin, busybox_in, serve_with_password};

#[test]
fn login_stores_credentials_that_pull_and_push_use() {
    let registry = LocalRegistry::start();
    let name = busybox_in(&registry);
    let engine = Engine::start("cli-login", EngineOptions::default());
    let _served = serve_with_password(&engine, &registry, "alice", "s3cret");
    let server = registry.address.as_str();
    let config = engine.dir.join("berth-config").join("config.json");

    let wrong = berth(&engine, &["login", "-u", "alice", "-p", "wrong", server]);
    assert_eq!(wrong.code(), Some(1), "{}", wrong.describe());
    assert!(
        wrong.stderr.contains("Error response from daemon: ") && wrong.stderr.contains("401"),
        "{}",
        wrong.describe()
    );
    assert!(!config.exists(), "a failed login stored nothing");

    let denied = berth(&engine, &["pull", &name]);
    assert_eq!(denied.code(), Some(1), "{}", denied.describe());

    let ok = berth_with_stdin(
        &engine,
        &["login", "-u", "alice", "--password-stdin", server],
        b"s3cret\n",
    );
    assert!(ok.success(), "{}", ok.describe());
    assert_eq!(ok.stdout, "Login Succeeded\n");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(stored["auths"][server]["auth"].is_string(), "{stored}");

    berth_ok(&engine, &["pull", "-q", &name]);
    let copy = format!("{server}/berth-test/pushed:1");
    berth_ok(&engine, &["tag", &name, &copy]);
    assert_eq!(
        berth_ok(&engine, &["push", "-q", &copy]),
        format!("{copy}\n")
    );

    assert_eq!(
        berth_ok(&engine, &["logout", server]),
        format!("Removing login credentials for {server}\n")
    );
    assert_eq!(
        berth_ok(&engine, &["logout", server]),
        format!("Not logged in to {server}\n")
    );
    let after = berth(&engine, &["push", &copy]);
    assert_eq!(after.code(), Some(1), "{}", after.describe());
}

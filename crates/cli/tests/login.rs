//! `login`, then pull and push with the stored credentials, and `logout`, against a registry
//! that requires a password (htpasswd), served in dockerd's network namespace.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use berth_testkit::{Engine, EngineOptions, LocalRegistry};
use common::{berth, berth_ok, berth_with_stdin, busybox_in};

/// A registry process started in dockerd's namespace; killed on drop.
struct NetnsRegistry(u32);

impl Drop for NetnsRegistry {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

/// Serves `registry`'s storage on its address inside `engine`'s namespace, requiring
/// `user`/`password`.
fn serve_with_password(
    engine: &Engine,
    registry: &LocalRegistry,
    user: &str,
    password: &str,
) -> NetnsRegistry {
    let htpasswd = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (apt-get install apache2-utils)");
    assert!(htpasswd.status.success());
    let htpasswd_path = engine.dir.join("htpasswd");
    std::fs::write(&htpasswd_path, htpasswd.stdout).unwrap();
    let config = engine.dir.join("auth-registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {}\nauth:\n  htpasswd:\n    realm: berth-test\n    path: {}\nlog:\n  level: error\n",
            registry.dir.join("storage").display(),
            registry.address,
            htpasswd_path.display()
        ),
    )
    .unwrap();
    let log = engine.dir.join("auth-registry.log");
    engine.expect_ok(engine.in_netns(&["ip", "link", "set", "lo", "up"]));
    let script = format!(
        "docker-registry serve {} >{} 2>&1 & echo $!",
        config.display(),
        log.display()
    );
    let started = engine.expect_ok(engine.in_netns(&["sh", "-c", &script]));
    let guard = NetnsRegistry(started.stdout.trim().parse().expect("the registry's pid"));
    let probe = format!(
        "/bin/busybox wget -q -O /dev/null http://{}/v2/ 2>&1 | grep -q 401",
        registry.address
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !engine.in_netns(&["sh", "-c", &probe]).success() {
        assert!(
            Instant::now() < deadline,
            "the registry with a password did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    guard
}

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

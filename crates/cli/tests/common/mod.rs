//! Running the `berth` binary against a private dockerd (the Engine API berthd will serve).
// Each test binary uses a part of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::engine::{run_command, Outcome};
use berth_testkit::{busybox_layer, docker_archive, layer_tar, Engine, LocalRegistry};

/// `berth -H unix://<engine's socket> --config <dir> args…`, output captured.
pub fn berth(engine: &Engine, args: &[&str]) -> Outcome {
    berth_at(
        &format!("unix://{}", engine.docker_sock.display()),
        &engine.dir.join("berth-config"),
        &engine.dir,
        args,
    )
}

/// `berth` against any host, with its credentials in `config`.
pub fn berth_at(host: &str, config: &Path, scratch: &Path, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .arg("-H")
        .arg(host)
        .arg("--config")
        .arg(config)
        .args(args);
    run_command(&mut cmd, scratch)
}

/// Like [`berth`], and it must succeed; returns stdout.
pub fn berth_ok(engine: &Engine, args: &[&str]) -> String {
    let out = berth(engine, args);
    assert!(out.success(), "{}", out.describe());
    out.stdout
}

/// A busybox image with a greeting file, pushed to `registry` as `berth-test/busybox:1`;
/// returns its full name.
pub fn busybox_in(registry: &LocalRegistry) -> String {
    let archive = registry.dir.join("busybox.tar");
    let mut layer = busybox_layer();
    layer.truncate(layer.len() - 1024);
    layer.extend_from_slice(&layer_tar(&[("etc/greeting", 0o644, b"hi\n")]));
    docker_archive(&archive, &[layer], None);
    registry.push_archive(&archive, "berth-test/busybox:1")
}

/// A file in the engine's directory.
pub fn scratch_file(engine: &Engine, name: &str) -> PathBuf {
    engine.dir.join(name)
}

/// `berth` with `input` as its stdin.
pub fn berth_with_stdin(engine: &Engine, args: &[&str], input: &[u8]) -> Outcome {
    berth_with_stdin_at(
        &format!("unix://{}", engine.docker_sock.display()),
        &engine.dir.join("berth-config"),
        &engine.dir,
        args,
        input,
    )
}

/// [`berth_with_stdin`] against any host.
pub fn berth_with_stdin_at(
    host: &str,
    config: &Path,
    scratch: &Path,
    args: &[&str],
    input: &[u8],
) -> Outcome {
    let path = scratch.join("berth-stdin");
    std::fs::write(&path, input).unwrap();
    // run_command gives commands an empty stdin: a shell redirects it.
    let mut cmd = Command::new("sh");
    cmd.env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .env("BERTH_TEST_STDIN", &path)
        .args(["-c", "exec \"$0\" \"$@\" < \"$BERTH_TEST_STDIN\""])
        .arg(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(host)
        .arg("--config")
        .arg(config)
        .args(args);
    run_command(&mut cmd, scratch)
}

/// `berth args…` with stdin, stdout and stderr on a pseudo-terminal (util-linux `script`);
/// returns what the terminal showed and the exit code.
pub fn berth_on_terminal(engine: &Engine, args: &[&str]) -> Outcome {
    berth_on_terminal_at(
        &format!("unix://{}", engine.docker_sock.display()),
        &engine.dir.join("berth-config"),
        &engine.dir,
        args,
    )
}

/// [`berth_on_terminal`] against any host.
pub fn berth_on_terminal_at(host: &str, config: &Path, scratch: &Path, args: &[&str]) -> Outcome {
    let mut line = vec![
        env!("CARGO_BIN_EXE_berth").to_string(),
        "-H".into(),
        host.to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    line.extend(args.iter().map(|a| a.to_string()));
    let quoted: Vec<String> = line
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut cmd = Command::new("script");
    cmd.env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .args(["-qec", &quoted.join(" "), "/dev/null"]);
    run_command(&mut cmd, scratch)
}

/// A registry process started in dockerd's namespace; killed on drop.
pub struct NetnsRegistry(u32);

impl Drop for NetnsRegistry {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

/// Serves `registry`'s storage on its address inside `engine`'s namespace, requiring
/// `user`/`password`.
pub fn serve_with_password(
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

pub mod berthd;

//! berthd driven by the real docker CLI and by raw HTTP, with images from a real registry.

use std::process::{Command, Output};

use berth_testkit::archive::{busybox_layer, docker_archive, random_layer};
use berth_testkit::registry::{LocalRegistry, Options};

mod common;
use common::Daemon;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn ping_versions_and_errors_over_raw_http() {
    let daemon = Daemon::start();
    for path in ["/_ping", "/v1.24/_ping", "/v1.44/_ping"] {
        let (status, head, body) = daemon.http("GET", path, b"");
        assert_eq!((status, body.as_str()), (200, "OK"), "{path}");
        assert!(head.contains("api-version: 1.44"), "{head}");
        assert!(head.contains("ostype: linux"), "{head}");
        assert!(head.contains("docker-experimental: false"), "{head}");
        assert!(head.contains("server: berth/"), "{head}");
    }
    let (status, head, body) = daemon.http("HEAD", "/_ping", b"");
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("api-version: 1.44"), "{head}");

    let (status, head, body) = daemon.http("GET", "/v1.99/version", b"");
    assert_eq!(status, 400);
    assert!(head.contains("api-version: 1.44"), "{head}");
    let message: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        message["message"].as_str().unwrap().contains("1.99"),
        "{body}"
    );

    let (status, _, body) = daemon.http("GET", "/v1.41/no/such/endpoint", b"");
    assert_eq!(status, 404);
    let message: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        message["message"]
            .as_str()
            .unwrap()
            .contains("/no/such/endpoint"),
        "{body}"
    );

    let (status, _, body) = daemon.http("POST", "/auth", b"{not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed JSON"), "{body}");
    let (status, _, body) = daemon.http("DELETE", "/images/x?force=perhaps", b"");
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = daemon.http("GET", "/images/no/such:1/json", b"");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no/such:1"), "{body}");

    let (status, _, body) = daemon.http("GET", "/version", b"");
    assert_eq!(status, 200);
    let version: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(version["ApiVersion"], "1.44");
    assert_eq!(version["MinAPIVersion"], "1.24");
}

#[test]
fn docker_cli_version_and_info() {
    let daemon = Daemon::start();
    let version = daemon.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(version.trim(), "1.44 linux");
    let info = daemon.docker_ok(&["info", "--format", "{{.Images}} {{.DockerRootDir}}"]);
    assert_eq!(
        info.trim(),
        format!("0 {}", daemon.dir.join("data").display())
    );
}

#[test]
fn a_second_daemon_on_the_same_roots_refuses_to_start() {
    let daemon = Daemon::start();
    let out = daemon
        .berthd(daemon.dir.path(), &daemon.dir.join("other.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains("another berthd"), "{message}");
    assert!(
        message.contains(&daemon.child.id().to_string()),
        "{message}"
    );
    // The first one still serves.
    assert_eq!(daemon.http("GET", "/_ping", b"").0, 200);
}

#[test]
fn pull_inspect_tag_push_save_load_rmi_prune_with_the_docker_cli() {
    let registry = LocalRegistry::start();
    let daemon = Daemon::start();
    let _registry_inside = daemon.forward(&registry.address);
    let archive = daemon.dir.join("source.tar");
    let id = docker_archive(
        &archive,
        &[busybox_layer(), random_layer(1, 100_000)],
        Some("source:1"),
    );
    let remote = registry.push_archive(&archive, "team/app:1");

    let pulled = daemon.docker_ok(&["pull", &remote]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert!(pulled.contains("Digest: sha256:"), "{pulled}");
    assert!(
        pulled.contains(&format!("Downloaded newer image for {remote}")),
        "{pulled}"
    );

    let images = daemon.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(images.trim(), format!("{remote} {}", &id[7..19]));

    let inspected = daemon.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{len .RootFS.Layers}}",
        &remote,
    ]);
    assert_eq!(inspected.trim(), format!("{id} 2"));
    let history = daemon.docker_ok(&[
        "history",
        "--format",
        "{{.CreatedBy}}",
        "--no-trunc",
        &remote,
    ]);
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(history.starts_with("layer sha256:"), "{history}");

    let copy = format!("{}/copy/app:2", registry.address);
    daemon.docker_ok(&["tag", &remote, &copy]);
    let pushed = daemon.docker_ok(&["push", &copy]);
    assert!(pushed.contains("2: digest: sha256:"), "{pushed}");
    // The registry now serves the copy: skopeo reads its manifest.
    let check = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{copy}"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));

    let saved = daemon.dir.join("saved.tar");
    daemon.docker_ok(&["save", "-o", saved.to_str().unwrap(), &copy]);
    let removed = daemon.docker_ok(&["rmi", &copy, &remote]);
    assert!(removed.contains(&format!("Untagged: {copy}")), "{removed}");
    assert!(removed.contains(&format!("Deleted: {id}")), "{removed}");
    assert_eq!(daemon.docker_ok(&["images", "-q"]).trim(), "");

    let loaded = daemon.docker_ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(loaded.trim(), format!("Loaded image: {copy}"));
    let inspected = daemon.docker_ok(&["image", "inspect", "--format", "{{.Id}}", &copy]);
    assert_eq!(inspected.trim(), id);

    let missing = daemon.docker(&["rmi", "no-such-image"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no-such-image"),
        "{}",
        stderr(&missing)
    );
    let missing = daemon.docker(&["pull", &format!("{}/no/such:1", registry.address)]);
    assert!(!missing.status.success());

    let pruned = daemon.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains(&format!("deleted: {id}")), "{pruned}");
    assert_eq!(daemon.docker_ok(&["images", "-q"]).trim(), "");
    let blobs = std::fs::read_dir(daemon.dir.join("data/image/blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "prune leaves blobs behind");
}

#[test]
fn login_and_credentials_per_operation_against_a_registry_with_auth() {
    let registry = LocalRegistry::start_with(Options {
        user: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    let daemon = Daemon::start();
    let _registry_inside = daemon.forward(&registry.address);
    let archive = daemon.dir.join("source.tar");
    let id = docker_archive(&archive, &[busybox_layer()], Some("private:1"));
    daemon.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    let target = format!("{}/private/app:1", registry.address);
    daemon.docker_ok(&["tag", "private:1", &target]);

    let denied = daemon.docker(&["push", &target]);
    assert!(
        !denied.status.success(),
        "a push without credentials went through"
    );

    let wrong = daemon.docker(&["login", "-u", "alice", "-p", "wrong", &registry.address]);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("unauthorized"),
        "{}",
        stderr(&wrong)
    );
    let login = daemon.docker_ok(&["login", "-u", "alice", "-p", "s3cret", &registry.address]);
    assert!(login.contains("Login Succeeded"), "{login}");

    // The CLI now sends X-Registry-Auth from its own config; the daemon keeps nothing.
    daemon.docker_ok(&["push", &target]);
    daemon.docker_ok(&["rmi", &target, "private:1"]);
    daemon.docker_ok(&["pull", &target]);
    let inspected = daemon.docker_ok(&["image", "inspect", "--format", "{{.Id}}", &target]);
    assert_eq!(inspected.trim(), id);
    daemon.docker_ok(&["logout", &registry.address]);
    daemon.docker_ok(&["rmi", &target]);
    assert!(
        std::fs::read_dir(daemon.dir.join("exec/registry-auth"))
            .unwrap()
            .next()
            .is_none(),
        "per-operation credentials were left in the exec root"
    );
}

#[test]
fn a_refused_upload_is_answered_even_if_the_client_stops_sending() {
    use std::io::{Read, Write};
    let daemon = Daemon::start();
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    // An import whose change is refused, of a body announced far larger than what is sent.
    write!(
        stream,
        "POST /images/create?fromSrc=-&changes=FROM+scratch HTTP/1.1\r\nHost: berth\r\n\
         Content-Type: application/x-tar\r\nContent-Length: 100000000\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[0u8; 4096]).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .expect("an answer while the client sends nothing more");
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

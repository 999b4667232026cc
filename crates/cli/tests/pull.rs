//! `berth pull` against berthd and a real registry, as a user sees it: the lines per layer, a
//! second pull that finds everything, the errors (naming the digest) when the registry serves
//! bad content, a pull cut off by killing the client or the daemon, a multi-platform image
//! known by its index digest, and other image commands going on while a pull, a load or a push is
//! under way.
//! Each daemon reaches the registry through a forward into its network namespace.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_testkit::forward::{Forward, Gate};
use berth_testkit::{
    busybox_layer, docker_archive, manifest_layer_digests, random_layer, LocalRegistry,
};
use common::berthd::{spawn_lines, Berthd, Spawned};

/// A berthd that reaches `registry` at its address.
fn daemon_for(test: &str, registry: &LocalRegistry) -> (Berthd, Forward) {
    let daemon = Berthd::start(test);
    let forward = daemon.forward(&registry.address);
    (daemon, forward)
}

/// A registry, a berthd that reaches it, and a path in the daemon's directory for an image
/// archive.
fn setup(test: &str) -> (LocalRegistry, Berthd, Forward, PathBuf) {
    let registry = LocalRegistry::start();
    let (daemon, forward) = daemon_for(test, &registry);
    let archive = daemon.dir.join("image.tar");
    (registry, daemon, forward, archive)
}

/// The registry's manifest for `<repository>:<tag>` and its digest.
fn registry_manifest(registry: &LocalRegistry, repository: &str, tag: &str) -> (Vec<u8>, String) {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{repository}:{tag}", registry.address))
        .output()
        .expect("skopeo inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = berth_testkit::archive::sha256(&out.stdout);
    (out.stdout, digest)
}

/// The layer digests the registry's manifest for `<repository>:<tag>` lists.
fn registry_layers(registry: &LocalRegistry, repository: &str, tag: &str) -> Vec<String> {
    let (manifest, _) = registry_manifest(registry, repository, tag);
    manifest_layer_digests(&serde_json::from_slice(&manifest).unwrap())
}

/// The entries of `dir` whose name starts with one of `prefixes` (half-done work).
fn leftovers(dir: &Path, prefixes: &[&str]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
        .collect()
}

/// Asserts that nothing half-written is left in the daemon's data root: no ingest files, no
/// unfinished or half-removed snapshots.
fn assert_no_leftovers(daemon: &Berthd) {
    let data = daemon.dir.join("data");
    let ingest = leftovers(&data.join("image/ingest"), &[""]);
    assert!(ingest.is_empty(), "ingest files left: {ingest:?}");
    let snapshots = leftovers(&data.join("snapshots"), &["tmp-", "trash-"]);
    assert!(snapshots.is_empty(), "snapshots left: {snapshots:?}");
}

/// `berth images` lists one image, by `name` only, and nothing half-written is left.
fn assert_only_image(daemon: &Berthd, name: &str) {
    let listed = daemon.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(listed, format!("{name}\n"));
    assert_eq!(image_ids(daemon).lines().count(), 1);
    assert_no_leftovers(daemon);
}

/// `berth images -q --no-trunc`, one id a line.
fn image_ids(daemon: &Berthd) -> String {
    daemon.berth_ok(&["images", "-q", "--no-trunc"])
}

#[test]
fn an_image_one_daemon_pushed_is_pulled_layer_by_layer_by_another_then_up_to_date() {
    let (registry, first, _first_forward, archive) = setup("pull-push");
    let id = docker_archive(
        &archive,
        &[busybox_layer(), random_layer(1, 1 << 20)],
        Some("example/app:1"),
    );
    first.berth_ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let name = format!("{}/example/app:1", registry.address);
    first.berth_ok(&["tag", "example/app:1", &name]);
    let pushed = first.berth_ok(&["push", &name]);
    let digest = pushed
        .lines()
        .find_map(|l| l.strip_prefix("1: digest: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest line in {pushed}"))
        .to_string();

    let (second, _second_forward) = daemon_for("pull-2nd", &registry);
    let pulled = second.berth_ok(&["pull", &name]);
    let lines: Vec<&str> = pulled.lines().collect();
    assert_eq!(lines[0], "1: Pulling from example/app", "{pulled}");
    let layers = registry_layers(&registry, "example/app", "1");
    assert_eq!(layers.len(), 2);
    for layer in &layers {
        let complete = format!("{}: Pull complete", &layer[7..19]);
        assert!(lines.contains(&complete.as_str()), "{pulled}");
    }
    assert!(
        lines.contains(&format!("Digest: {digest}").as_str()),
        "{pulled}"
    );
    assert!(
        lines.contains(&format!("Status: Downloaded newer image for {name}").as_str()),
        "{pulled}"
    );
    assert_eq!(lines.last(), Some(&name.as_str()), "{pulled}");
    assert_eq!(image_ids(&second), format!("{id}\n"), "the same image");

    let again = second.berth_ok(&["pull", &name]);
    for layer in &layers {
        let exists = format!("{}: Already exists", &layer[7..19]);
        assert!(again.lines().any(|l| l == exists), "{again}");
    }
    assert!(!again.contains("Pull complete"), "{again}");
    assert!(
        again.contains(&format!("Status: Image is up to date for {name}\n")),
        "{again}"
    );

    // By digest: the same image again, still listed once (under its tag).
    let by_digest = format!("{}/example/app@{digest}", registry.address);
    let out = second.berth_ok(&["pull", "-q", &by_digest]);
    assert!(out.ends_with(&format!("{by_digest}\n")), "{out}");
    assert_eq!(image_ids(&second), format!("{id}\n"));
    assert_only_image(&second, &name);
}

#[test]
fn a_corrupted_layer_fails_the_pull_naming_its_digest_and_stores_nothing() {
    let (registry, daemon, _forward, archive) = setup("pull-bad");
    docker_archive(&archive, &[busybox_layer(), random_layer(2, 1 << 20)], None);
    let name = registry.push_archive(&archive, "test/corrupt:1");
    let layers = registry_layers(&registry, "test/corrupt", "1");
    let bad = &layers[1];
    let path = registry.blob_data(bad);
    let original = std::fs::read(&path).unwrap();
    let mut data = original.clone();
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    std::fs::write(&path, data).unwrap();

    let out = daemon.berth(&["pull", &name]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains(bad.as_str()),
        "the error does not name {bad}: {}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("Status: Downloaded"),
        "{}",
        out.describe()
    );
    assert_eq!(image_ids(&daemon), "", "an image was stored");
    let blob = daemon.dir.join("data/image/blobs/sha256").join(&bad[7..]);
    assert!(!blob.exists(), "the corrupted layer was stored");
    assert_no_leftovers(&daemon);

    // Once the registry serves the right bytes, the same daemon pulls the image.
    std::fs::write(&path, original).unwrap();
    daemon.berth_ok(&["pull", "-q", &name]);
    assert_only_image(&daemon, &name);
}

#[test]
fn a_corrupted_manifest_fails_the_pull_naming_its_digest() {
    let (registry, daemon, _forward, archive) = setup("pull-mani");
    docker_archive(&archive, &[busybox_layer()], None);
    let name = registry.push_archive(&archive, "test/manifest:1");
    let (manifest, digest) = registry_manifest(&registry, "test/manifest", "1");
    let text = String::from_utf8(manifest).unwrap();
    // Same JSON, other bytes: only the digest can tell.
    let corrupted = text.replacen('{', "{ ", 1);
    std::fs::write(registry.blob_data(&digest), corrupted).unwrap();

    let out = daemon.berth(&["pull", &name]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains(&digest),
        "the error does not name {digest}: {}",
        out.describe()
    );
    assert_eq!(image_ids(&daemon), "", "an image was stored");
}

/// Starts `berth pull name` and waits until the daemon is writing a layer into its ingest
/// directory: the pull is midway.
fn pull_until_midway(daemon: &Berthd, name: &str) -> Spawned {
    let (client, _stdin, _lines) = spawn_lines(daemon.berth_command(&["pull", name]));
    let ingest = daemon.dir.join("data/image/ingest");
    let deadline = Instant::now() + Duration::from_secs(30);
    while leftovers(&ingest, &[""]).is_empty() {
        assert!(Instant::now() < deadline, "the pull never wrote a layer");
        std::thread::sleep(Duration::from_millis(2));
    }
    client
}

#[test]
fn a_pull_cut_off_by_killing_the_client_or_the_daemon_is_completed_by_the_next() {
    let (registry, mut daemon, _forward, archive) = setup("pull-kill");
    let layers: Vec<Vec<u8>> = (10..14).map(|seed| random_layer(seed, 16 << 20)).collect();
    docker_archive(&archive, &layers, None);
    let name = registry.push_archive(&archive, "test/big:1");

    // The client killed midway (as ^C would): the next pull completes the image.
    let client = pull_until_midway(&daemon, &name);
    drop(client); // SIGKILL
    let out = daemon.berth_ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}"))
            || out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );
    assert_only_image(&daemon, &name);

    // The daemon killed midway, then started again: nothing is listed, the next pull
    // downloads the image and nothing of the cut pull is left behind.
    daemon.berth_ok(&["rmi", &name]);
    daemon.berth_ok(&["image", "prune", "-af"]);
    let client = pull_until_midway(&daemon, &name);
    daemon.kill_and_restart();
    drop(client);
    assert_eq!(image_ids(&daemon), "", "a half-pulled image is listed");
    let out = daemon.berth_ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_only_image(&daemon, &name);
}

#[test]
fn a_multi_platform_image_is_known_by_its_index_digest() {
    let (registry, daemon, _forward, archive) = setup("pull-idx");
    docker_archive(&archive, &[busybox_layer()], None);
    registry.push_archive(&archive, "test/multi:single");
    let (manifest, manifest_digest) = registry_manifest(&registry, "test/multi", "single");
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["mediaType"]
        .as_str()
        .unwrap()
        .to_string();
    let entry = |architecture: &str| {
        serde_json::json!({
            "mediaType": media_type, "digest": manifest_digest, "size": manifest.len(),
            "platform": { "os": "linux", "architecture": architecture }
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("arm64"), entry("amd64")]
    })
    .to_string();
    let index_path = daemon.dir.join("index.json");
    std::fs::write(&index_path, &index).unwrap();
    let put = Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.oci.image.index.v1+json")
        .arg("--data-binary")
        .arg(format!("@{}", index_path.display()))
        .arg(format!(
            "http://{}/v2/test/multi/manifests/multi",
            registry.address
        ))
        .status()
        .expect("curl");
    assert!(put.success(), "the registry refused the index");
    let index_digest = berth_testkit::archive::sha256(index.as_bytes());

    let name = format!("{}/test/multi:multi", registry.address);
    let pulled = daemon.berth_ok(&["pull", &name]);
    assert!(
        pulled
            .lines()
            .any(|l| l == format!("Digest: {index_digest}")),
        "{pulled}"
    );
    let repo_digest = format!("{}/test/multi@{index_digest}", registry.address);
    let shown: serde_json::Value =
        serde_json::from_str(&daemon.berth_ok(&["image", "inspect", &name])).unwrap();
    assert_eq!(shown[0]["RepoDigests"], serde_json::json!([repo_digest]));

    // Pulled by the index digest, it is the same image; a prune keeps what it needs.
    let id = image_ids(&daemon);
    let again = daemon.berth_ok(&["pull", &repo_digest]);
    assert!(again.contains("Status: Image is up to date"), "{again}");
    daemon.berth_ok(&["image", "prune", "-f"]);
    assert_eq!(image_ids(&daemon), id);
    let index_blob = daemon
        .dir
        .join("data/image/blobs/sha256")
        .join(&index_digest[7..]);
    assert!(index_blob.exists(), "the index is not kept");
    let run = daemon.berth_ok(&["run", "--rm", &repo_digest, "/bin/busybox", "echo", "ran"]);
    assert_eq!(run, "ran\n");

    let wrong = daemon.berth(&["pull", "--platform", "linux/s390x", &name]);
    assert_eq!(wrong.code(), Some(1), "{}", wrong.describe());
    assert!(
        wrong.stderr.contains("no image for linux/s390x"),
        "{}",
        wrong.describe()
    );
}

/// Runs `command` to its end, failing the test if that takes over a minute (a daemon that
/// waits for a stalled pull would otherwise hang the test for ever).
fn finishes(mut command: Command, what: &str) -> String {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} waited for the stalled pull");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `command` and waits until its transfer is held at `gate`; `stuck` says otherwise.
fn start_held(mut command: Command, gate: &Gate, stuck: &str) -> std::process::Child {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(gate.wait_until_holding(Duration::from_secs(60)), "{stuck}");
    child
}

#[test]
fn other_image_commands_go_on_while_a_pull_a_load_or_a_push_is_under_way() {
    let registry = LocalRegistry::start();
    let daemon = Berthd::start("pull-busy");
    daemon.load_busybox("busybox:latest");
    // The registry's answers stall after their first MiB: the pull stays under way.
    let gate = Gate::closed_after(1 << 20);
    let _forward = daemon.forward_gated(&registry.address, &gate);
    let archive = daemon.dir.join("image.tar");
    let layers: Vec<Vec<u8>> = (20..22).map(|seed| random_layer(seed, 8 << 20)).collect();
    docker_archive(&archive, &layers, None);
    let name = registry.push_archive(&archive, "test/slow:1");

    let pull = start_held(
        daemon.berth_command(&["pull", "-q", &name]),
        &gate,
        "the pull never reached its layers",
    );

    let listed = finishes(
        daemon.berth_command(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "images",
    );
    assert_eq!(listed, "busybox:latest\n");
    finishes(daemon.berth_command(&["tag", "busybox", "other:1"]), "tag");
    let ran = finishes(
        daemon.berth_command(&["run", "--rm", "other:1", "echo", "ran"]),
        "run",
    );
    assert_eq!(ran, "ran\n");
    finishes(daemon.berth_command(&["rmi", "other:1"]), "rmi");
    let saved = daemon.dir.join("busybox.tar");
    finishes(
        daemon.berth_command(&["save", "-o", saved.to_str().unwrap(), "busybox"]),
        "save",
    );

    gate.open();
    let out = pull.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{name}\n"));
    let listed = daemon.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(listed, format!("busybox:latest\n{name}\n"));

    // A load whose client has sent half the archive: the same commands go on meanwhile.
    let layers = [random_layer(30, 4 << 20)];
    docker_archive(&archive, &layers, Some("loaded:1"));
    let bytes = std::fs::read(&archive).unwrap();
    let mut load = daemon.berth_command(&["load", "-q"]);
    let mut load = load
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = load.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, &bytes[..bytes.len() / 2]).unwrap();
    let listed = finishes(
        daemon.berth_command(&["images", "-q"]),
        "images during a load",
    );
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let ran = finishes(
        daemon.berth_command(&["run", "--rm", "busybox", "echo", "ran"]),
        "run during a load",
    );
    assert_eq!(ran, "ran\n");
    std::io::Write::write_all(&mut input, &bytes[bytes.len() / 2..]).unwrap();
    drop(input);
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Loaded image: loaded:1\n"
    );
    let listed = daemon.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(listed.contains("loaded:1\n"), "{listed}");

    // A push to a registry that does not answer yet: the same again.
    let other = LocalRegistry::start();
    let held = Gate::closed_after(0);
    let _other_forward = daemon.forward_gated(&other.address, &held);
    let target = format!("{}/test/pushed:1", other.address);
    daemon.berth_ok(&["tag", "loaded:1", &target]);
    let push = start_held(
        daemon.berth_command(&["push", "-q", &target]),
        &held,
        "the push never reached the registry",
    );
    let listed = finishes(
        daemon.berth_command(&["images", "-q"]),
        "images during a push",
    );
    // One line a name: loaded:1 and the push's name are the same image.
    assert_eq!(listed.lines().count(), 4, "{listed}");
    finishes(
        daemon.berth_command(&["tag", "busybox", "during:push"]),
        "tag",
    );
    held.open();
    let out = push.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let digests = daemon.berth_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &target,
    ]);
    assert!(
        digests.contains(&format!("{}/test/pushed@sha256:", other.address)),
        "{digests}"
    );
}

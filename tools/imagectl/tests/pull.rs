//! `berth-imagectl pull` against a real registry, as a user sees it: output, exit codes, and
//! what is (not) left in the data root when the registry serves bad content or the pull is
//! killed.

use std::fs;
use std::io::{BufRead, BufReader};
mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use berth_testkit::{
    busybox_layer, docker_archive, manifest_layer_digests, random_layer, LocalRegistry, TempDir,
};
use common::{imagectl, text};

/// Files left under `dir` whose name starts with one of `prefixes` (half-done work).
fn leftovers(dir: &Path, prefixes: &[&str]) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
        .collect()
}

/// The layer digests of an image in the registry, as its manifest lists them.
fn registry_layers(registry: &LocalRegistry, repository: &str, tag: &str) -> Vec<String> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{repository}:{tag}", registry.address))
        .output()
        .expect("skopeo inspect");
    assert!(out.status.success(), "{}", text(&out.stderr));
    manifest_layer_digests(&serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn pull_reports_each_layer_and_a_second_pull_is_up_to_date() {
    let registry = LocalRegistry::start();
    let work = TempDir::new("pull-output");
    let archive = work.join("image.tar");
    docker_archive(&archive, &[busybox_layer(), random_layer(1, 1 << 20)], None);
    let name = registry.push_archive(&archive, "test/busybox:1");
    let root = work.join("root");

    let out = imagectl(&root, &["pull", &name]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("1: Pulling from test/busybox"), "{stdout}");
    for layer in registry_layers(&registry, "test/busybox", "1") {
        let id = &layer[7..19];
        assert!(stdout.contains(&format!("{id}: Pull complete")), "{stdout}");
    }
    assert!(stdout.contains("Digest: sha256:"), "{stdout}");
    assert!(
        stdout.contains(&format!("Status: Downloaded newer image for {name}")),
        "{stdout}"
    );

    // By digest, into another store: the same image.
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .expect("a Digest line")
        .to_string();
    let by_digest = format!("{}/test/busybox@{digest}", registry.address);
    let other = work.join("other");
    let out = imagectl(&other, &["pull", "-q", &by_digest]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&imagectl(&other, &["images", "-q"]).stdout),
        text(&imagectl(&root, &["images", "-q"]).stdout)
    );

    let again = imagectl(&root, &["pull", &name]);
    let stdout = text(&again.stdout);
    assert!(again.status.success());
    assert!(stdout.contains("Already exists"), "{stdout}");
    assert!(stdout.contains("Status: Image is up to date"), "{stdout}");

    let images = text(&imagectl(&root, &["images"]).stdout);
    assert!(
        images.contains(&format!("{}/test/busybox", registry.address)),
        "{images}"
    );
    assert!(imagectl(&root, &["verify"]).status.success());
}

#[test]
fn a_corrupted_layer_fails_the_pull_naming_its_digest_and_stores_nothing() {
    let registry = LocalRegistry::start();
    let work = TempDir::new("pull-corrupt");
    let archive = work.join("image.tar");
    docker_archive(&archive, &[busybox_layer(), random_layer(2, 1 << 20)], None);
    let name = registry.push_archive(&archive, "test/corrupt:1");
    let layers = registry_layers(&registry, "test/corrupt", "1");
    let bad = &layers[1];
    let path = registry.blob_data(bad);
    let mut data = fs::read(&path).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    fs::write(&path, data).unwrap();

    let root = work.join("root");
    let out = imagectl(&root, &["pull", &name]);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "the pull of a corrupted layer succeeded"
    );
    assert!(
        stderr.contains(bad.as_str()),
        "the error does not name {bad}: {stderr}"
    );
    let listed = text(&imagectl(&root, &["images", "-q"]).stdout);
    assert!(listed.trim().is_empty(), "an image was stored: {listed}");
    assert!(!root.join("image/blobs/sha256").join(&bad[7..]).exists());
    assert!(leftovers(&root.join("image/ingest"), &[""]).is_empty());
    assert!(leftovers(&root.join("snapshots"), &["tmp-"]).is_empty());
}

#[test]
fn a_corrupted_manifest_fails_the_pull_naming_its_digest() {
    let registry = LocalRegistry::start();
    let work = TempDir::new("pull-manifest");
    let archive = work.join("image.tar");
    docker_archive(&archive, &[busybox_layer()], None);
    let name = registry.push_archive(&archive, "test/manifest:1");
    let link = registry.dir.join(
        "storage/docker/registry/v2/repositories/test/manifest/_manifests/tags/1/current/link",
    );
    let digest = fs::read_to_string(link).unwrap();
    let path = registry.blob_data(digest.trim());
    let corrupted = fs::read_to_string(&path)
        .unwrap()
        .replacen("amd64", "AMD64", 1);
    let corrupted = if corrupted.contains("AMD64") {
        corrupted
    } else {
        fs::read_to_string(&path).unwrap().replacen('{', "{ ", 1)
    };
    fs::write(&path, corrupted).unwrap();

    let root = work.join("root");
    let out = imagectl(&root, &["pull", &name]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(digest.trim()),
        "the error does not name {digest}: {stderr}"
    );
    assert!(text(&imagectl(&root, &["images", "-q"]).stdout)
        .trim()
        .is_empty());
}

#[test]
fn a_pull_killed_midway_leaves_a_store_the_next_pull_completes() {
    let registry = LocalRegistry::start();
    let work = TempDir::new("pull-kill");
    let archive = work.join("image.tar");
    let layers: Vec<Vec<u8>> = (10..14).map(|seed| random_layer(seed, 16 << 20)).collect();
    docker_archive(&archive, &layers, None);
    let name = registry.push_archive(&archive, "test/big:1");
    let root = work.join("root");

    let mut child = Command::new(env!("CARGO_BIN_EXE_berth-imagectl"))
        .arg("--data-root")
        .arg(&root)
        .args(["pull", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let started = lines.any(|l| l.is_ok_and(|l| l.ends_with("Downloading")));
    assert!(started, "the pull never reported a download");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(text(&imagectl(&root, &["images", "-q"]).stdout)
        .trim()
        .is_empty());
    let gc = imagectl(&root, &["gc"]);
    assert!(gc.status.success(), "{}", text(&gc.stderr));
    assert!(leftovers(&root.join("image/ingest"), &[""]).is_empty());
    assert!(leftovers(&root.join("snapshots"), &["tmp-", "trash-"]).is_empty());
    assert!(
        leftovers(&root.join("image/blobs/sha256"), &[""]).is_empty(),
        "no image references any blob yet"
    );

    let out = imagectl(&root, &["pull", "-q", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(imagectl(&root, &["verify"]).status.success());
    assert!(
        text(&imagectl(&root, &["images", "-q"]).stdout)
            .lines()
            .count()
            == 1
    );
}

#[test]
fn a_multi_platform_image_is_known_by_its_index_digest() {
    let registry = LocalRegistry::start();
    let work = TempDir::new("pull-index");
    let archive = work.join("image.tar");
    docker_archive(&archive, &[busybox_layer()], None);
    registry.push_archive(&archive, "test/multi:single");
    let manifest = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/test/multi:single", registry.address))
        .output()
        .unwrap()
        .stdout;
    let manifest_digest = berth_testkit::archive::sha256(&manifest);
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["mediaType"]
        .as_str()
        .unwrap()
        .to_string();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            { "mediaType": media_type, "digest": manifest_digest, "size": manifest.len(),
              "platform": { "os": "linux", "architecture": "arm64" } },
            { "mediaType": media_type, "digest": manifest_digest, "size": manifest.len(),
              "platform": { "os": "linux", "architecture": "amd64" } }
        ]
    })
    .to_string();
    let index_path = work.join("index.json");
    fs::write(&index_path, &index).unwrap();
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

    let root = work.join("root");
    let name = format!("{}/test/multi:multi", registry.address);
    let out = imagectl(&root, &["pull", &name]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("Digest: {index_digest}")),
        "{stdout}"
    );
    let inspect: serde_json::Value =
        serde_json::from_slice(&imagectl(&root, &["inspect", &name]).stdout).unwrap();
    assert_eq!(
        inspect[0]["RepoDigests"][0],
        format!("{}/test/multi@{index_digest}", registry.address)
    );
    // Pulled by the index digest, it is the same image; gc keeps index, manifest and config.
    let by_digest = format!("{}/test/multi@{index_digest}", registry.address);
    assert!(imagectl(&root, &["pull", "-q", &by_digest])
        .status
        .success());
    assert!(imagectl(&root, &["gc"]).status.success());
    assert!(imagectl(&root, &["verify"]).status.success());
    assert!(root
        .join("image/blobs/sha256")
        .join(&index_digest[7..])
        .exists());
    let pull_wrong = imagectl(&root, &["pull", "--platform", "linux/s390x", &name]);
    assert!(!pull_wrong.status.success());
    assert!(text(&pull_wrong.stderr).contains("no image for linux/s390x"));
}

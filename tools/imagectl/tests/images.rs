//! The image commands end to end, as a user types them: load, images, tag, history, inspect,
//! save, push, rmi, prune, gc — each output checked the way the docker CLI prints it.

mod common;

use std::path::Path;

use berth_testkit::{busybox_layer, docker_archive, random_layer, LocalRegistry, TempDir};
use common::imagectl;

/// Runs a command that must succeed; returns its standard output.
fn ok(data_root: &Path, args: &[&str]) -> String {
    let out = imagectl(data_root, args);
    assert!(
        out.status.success(),
        "berth-imagectl {args:?} failed: {}",
        common::text(&out.stderr)
    );
    common::text(&out.stdout)
}

#[test]
fn load_list_tag_save_and_remove_like_docker() {
    let work = TempDir::new("imagectl-images");
    let archive = work.join("image.tar");
    let id = docker_archive(
        &archive,
        &[busybox_layer(), random_layer(3, 100_000)],
        Some("example/app:1"),
    );
    let root = work.join("root");
    let archive_arg = archive.to_str().unwrap();

    let out = ok(&root, &["load", "-q", "-i", archive_arg]);
    assert_eq!(out.trim(), "Loaded image: example/app:1");
    let listed = ok(&root, &["images"]);
    let mut lines = listed.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("REPOSITORY"), "{listed}");
    for column in ["TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(column), "{listed}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with("example/app"), "{listed}");
    assert!(row.contains(&id[7..19]), "{listed}");

    ok(&root, &["tag", "example/app:1", "example/app:2"]);
    let ids = ok(&root, &["images", "-q"]);
    assert_eq!(ids.lines().count(), 1, "one image, two names: {ids}");
    assert_eq!(ok(&root, &["images"]).lines().count(), 3);

    let history = ok(&root, &["history", "example/app:2"]);
    assert_eq!(history.lines().count(), 3, "{history}");
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&root, &["inspect", "example/app:1"])).unwrap();
    assert_eq!(inspect[0]["Id"], id);
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        inspect[0]["Config"]["Cmd"],
        serde_json::json!(["/bin/busybox", "true"])
    );

    // save → rmi → load: the same image comes back.
    let saved = work.join("saved.tar");
    ok(
        &root,
        &["save", "-o", saved.to_str().unwrap(), "example/app:1"],
    );
    let out = ok(&root, &["rmi", "example/app:2"]);
    assert_eq!(out.trim(), "Untagged: example/app:2");
    let out = ok(&root, &["rmi", "example/app:1"]);
    assert!(out.contains("Untagged: example/app:1"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert!(ok(&root, &["images", "-q"]).trim().is_empty());
    let out = ok(&root, &["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: example/app:1"), "{out}");
    assert_eq!(ok(&root, &["images", "-q", "--no-trunc"]).trim(), id);

    // A missing image is an error naming it, with a failing exit code.
    let out = imagectl(&root, &["rmi", "example/nothing:1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("example/nothing"));

    // Untagging by prune -a, then gc: nothing left but the store's own files.
    let out = ok(&root, &["prune", "-a", "-f"]);
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    ok(&root, &["gc"]);
    let blobs = std::fs::read_dir(root.join("image/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "blobs left after prune and gc");
}

#[test]
fn push_then_pull_into_another_store_gives_the_same_image() {
    let registry = LocalRegistry::start();
    let work = TempDir::new("imagectl-push");
    let archive = work.join("image.tar");
    let id = docker_archive(&archive, &[busybox_layer()], Some("example/app:1"));
    let root = work.join("root");
    ok(&root, &["load", "-q", "-i", archive.to_str().unwrap()]);
    let name = format!("{}/example/app:1", registry.address);
    ok(&root, &["tag", "example/app:1", &name]);
    let out = ok(&root, &["push", &name]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/example/app]",
            registry.address
        )),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("1: digest: sha256:"), "{out}");
    let again = ok(&root, &["push", &name]);
    assert!(
        again.contains("Layer already exists") || again.contains("Already exists"),
        "{again}"
    );

    let other = work.join("other");
    ok(&other, &["pull", "-q", &name]);
    assert_eq!(ok(&other, &["images", "-q", "--no-trunc"]).trim(), id);
    ok(&other, &["verify"]);
    let zstd = ok(&root, &["push", "-q", "--compression", "zstd", &name]);
    assert_eq!(zstd.trim(), name);
}

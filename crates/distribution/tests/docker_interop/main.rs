//! Interop with docker: an image berth pushes to a real registry is pulled by a real dockerd
//! (20.10, which treats 127.0.0.0/8 registries as insecure) and runs, and an image docker
//! pushes is pulled by berth and runs.

#[path = "../common/mod.rs"]
mod common;

use std::fs;

use berth_distribution::push;
use berth_image::archive::load_docker_archive;
use berth_image::layer::Compression;
use berth_image::progress::Silent;
use berth_image::{ImageStore, Reference};
use berth_testkit::{busybox_layer, layer_tar, LocalRegistry};
use berth_testkit::{Engine, EngineOptions};
use common::{busybox_archive, client_config, pull_quietly, run_in_rootfs};

#[test]
fn dockerd_pulls_and_runs_an_image_berth_pushed() {
    let registry = LocalRegistry::start();
    let name = format!("{}/berth-test/busybox:docker", registry.address);
    let archive = registry.dir.join("image.tar");
    busybox_archive(
        &archive,
        Some(&name),
        &[layer_tar(&[("etc/greeting", 0o644, b"pushed by berth\n")])],
    );
    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    load_docker_archive(&mut store, fs::File::open(&archive).unwrap()).unwrap();
    let reference: Reference = name.parse().unwrap();
    let digest = push(
        &mut store,
        &reference,
        &client_config(&registry),
        Compression::Gzip,
        &Silent,
    )
    .unwrap();

    let mut engine = Engine::start("docker-interop", EngineOptions::default());
    engine.serve_registry(&registry.dir.join("storage"), &registry.address);
    let out = engine.docker_ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");

    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", "none", &name, "/bin/busybox"];
        all.extend_from_slice(args);
        engine.docker_ok(&all)
    };
    assert_eq!(run(&["cat", "/etc/greeting"]), "pushed by berth\n");
    assert_eq!(run(&["true"]), "");
}

#[test]
fn berth_pulls_and_runs_an_image_docker_pushed() {
    let registry = LocalRegistry::start();
    let name = format!("{}/docker-made/busybox:1", registry.address);
    // `docker import` makes a new image (its own layer), so `docker push` really uploads it.
    let rootfs = registry.dir.join("rootfs.tar");
    let mut layer = busybox_layer();
    // One more file, so that the image is not just the busybox layer berth tests everywhere.
    let greeting = layer_tar(&[("etc/greeting", 0o644, b"pushed by docker\n")]);
    layer.truncate(layer.len() - 1024); // drop the end-of-archive blocks, then append
    layer.extend_from_slice(&greeting);
    fs::write(&rootfs, &layer).unwrap();

    let mut engine = Engine::start("docker-push-interop", EngineOptions::default());
    engine.serve_registry(&registry.dir.join("storage"), &registry.address);
    engine.docker_ok(&["import", rootfs.to_str().unwrap(), &name]);
    let pushed = engine.docker_ok(&["push", &name]);
    let digest = pushed
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in docker push's output: {pushed}"))
        .to_string();

    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let reference: Reference = name.parse().unwrap();
    let snapshots_dir = registry.dir.join("snapshots");
    let image = pull_quietly(
        &mut store,
        &snapshots_dir,
        &reference,
        &client_config(&registry),
    )
    .unwrap();
    assert_eq!(
        image.repo_digests,
        vec![format!("{}/docker-made/busybox@{digest}", registry.address)]
    );
    let snapshots = berth_image::snapshot::Snapshotter::open(&snapshots_dir).unwrap();
    let out = run_in_rootfs(
        &snapshots,
        store.blobs(),
        &image,
        &registry.dir.join("container"),
        &["cat", "/etc/greeting"],
    );
    assert_eq!(out, "pushed by docker\n");
}

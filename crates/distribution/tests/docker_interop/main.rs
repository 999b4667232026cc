//! Interop with docker: an image berth pushes to a real registry is pulled by a real dockerd
//! (20.10, which treats 127.0.0.0/8 registries as insecure) and runs.

#[path = "../common/mod.rs"]
mod common;

use std::fs;

use berth_distribution::push;
use berth_image::archive::load_docker_archive;
use berth_image::layer::Compression;
use berth_image::progress::Silent;
use berth_image::{ImageStore, Reference};
use berth_testkit::{layer_tar, LocalRegistry};
use berth_testkit::{Engine, EngineOptions};
use common::{busybox_archive, client_config};

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

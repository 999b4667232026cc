//! Interop with docker: an image berth pushes to a real registry is pulled by a real dockerd
//! (20.10, which treats 127.0.0.0/8 registries as insecure) and runs.

#[path = "../common/mod.rs"]
mod common;
mod engines;

use std::fs;

use berth_distribution::push;
use berth_image::archive::load_docker_archive;
use berth_image::layer::Compression;
use berth_image::progress::Silent;
use berth_image::{ImageStore, Reference};
use berth_testkit::{layer_tar, LocalRegistry};
use common::{busybox_archive, client_config};
use engines::Engines;

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

    let mut engines = Engines::start("docker-interop");
    engines.serve_registry(&registry.dir.join("storage"), &registry.address);
    let pulled = engines.docker(&["pull", &name]);
    let out = String::from_utf8_lossy(&pulled.stdout);
    assert!(
        pulled.status.success(),
        "docker pull: {out}{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");

    let run = engines.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "/bin/busybox",
        "cat",
        "/etc/greeting",
    ]);
    assert!(
        run.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), "pushed by berth\n");
    let run = engines.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "/bin/busybox",
        "true",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

//! berth's archives against a real Docker engine (Debian's dockerd 20.10): what berth saves
//! `docker load`s and runs; what `docker save` writes berth loads as the same image.
//!
//! Needs root, `docker.io`, `containerd` and `busybox-static`; fails (does not skip) without them.

#[path = "../fixture/mod.rs"]
mod fixture;

use std::fs;

use berth_image::archive::load_docker_archive;
use berth_image::save::{save, Format};
use berth_image::ImageStore;
use berth_testkit::TempDir;
use berth_testkit::{Engine, EngineOptions};
use fixture::*;

#[test]
fn docker_loads_and_runs_what_berth_saves_and_berth_loads_what_docker_saves() {
    let engine = Engine::start("interop", EngineOptions::default());
    let dir = TempDir::new("interop");
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    let image = busybox_image(&mut store, "from berth\n", &["berth-test/saved:1"]);
    store
        .tag("berth-test/saved:1", &"berth-test/saved:2".parse().unwrap())
        .unwrap();
    // A second image sharing the busybox layer, saved in the same archive.
    let second = busybox_image(&mut store, "second\n", &["berth-test/second:1"]);
    let archive = dir.join("berth.tar");
    save(
        &store,
        &[
            "berth-test/saved:1",
            "berth-test/saved:2",
            "berth-test/second:1",
        ],
        Format::Docker,
        fs::File::create(&archive).unwrap(),
    )
    .unwrap();

    let out = engine.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: berth-test/saved:1"), "{out}");
    let id = engine.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "berth-test/saved:2"]);
    assert_eq!(
        id.trim(),
        image.id.to_string(),
        "docker sees the same image id"
    );
    let out = engine.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "berth-test/saved:1",
        "/bin/busybox",
        "true",
    ]);
    assert_eq!(out, "");
    let out = engine.docker_ok(&["run", "--rm", "--network", "none", "berth-test/saved:1"]);
    assert_eq!(
        out, "from berth\n",
        "the image's CMD reads the gzip layer's file"
    );

    // Back: docker's own archive format (20.10: one directory per layer, `<id>.json` configs).
    engine.docker_ok(&["tag", "berth-test/saved:1", "berth-test/docker:7"]);
    let docker_archive = dir.join("docker.tar");
    engine.docker_ok(&[
        "save",
        "-o",
        docker_archive.to_str().unwrap(),
        "berth-test/docker:7",
        "berth-test/saved:2",
        "berth-test/second:1",
    ]);
    let mut other = ImageStore::open(&dir.join("other")).unwrap();
    let loaded = load_docker_archive(&mut other, fs::File::open(&docker_archive).unwrap()).unwrap();
    assert_eq!(loaded.len(), 2);
    let first = loaded
        .iter()
        .find(|(id, _)| *id == image.id)
        .expect("the first image is loaded under its id");
    let mut names: Vec<String> = first.1.iter().map(|r| r.familiar()).collect();
    names.sort();
    assert_eq!(names, ["berth-test/docker:7", "berth-test/saved:2"]);
    let loaded_second = other.get("berth-test/second:1").unwrap();
    assert_eq!(
        (&loaded_second.id, &loaded_second.diff_ids),
        (&second.id, &second.diff_ids)
    );
    assert_eq!(
        other.get("berth-test/docker:7").unwrap().diff_ids,
        image.diff_ids
    );
}

//! A full disk: loads and unpacks that do not fit fail with the system's words and the path
//! concerned, and leave the store as it was (after garbage collection, not a byte of partial
//! data).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use berth_image::archive::load_docker_archive;
use berth_image::digest::sha256;
use berth_image::gc::collect;
use berth_image::snapshot::{Driver, Snapshotter};
use berth_image::ImageStore;
use berth_testkit::{noise, LoopFs};
use common::{docker_save_archive, docker_save_archive_with, LayerBuilder};

const NOISE_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

fn assert_only_referenced_blobs(root: &Path) {
    let store = ImageStore::open(root).unwrap();
    let mut referenced = BTreeSet::new();
    for (image, _) in store.list() {
        referenced.insert(image.id.clone());
        referenced.extend(image.layers.iter().cloned());
    }
    let stored: BTreeSet<_> = store.blobs().digests().unwrap().into_iter().collect();
    assert_eq!(stored, referenced);
    for digest in &stored {
        store.blobs().verify(digest).unwrap();
    }
    assert_eq!(fs::read_dir(root.join("ingest")).unwrap().count(), 0);
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_the_store_intact() {
    let small_fs = LoopFs::new("disk-full", 24);
    let (images_root, snaps_root) = (
        small_fs.mount.join("store"),
        small_fs.mount.join("snapshots"),
    );
    let small = LayerBuilder::default()
        .file("hello", b"small image\n", 0o644)
        .finish();
    let mut store = ImageStore::open(&images_root).unwrap();
    load_docker_archive(&mut store, &docker_save_archive(&[&small], "small:1")[..]).unwrap();
    let small_image = store.get("small:1").unwrap().clone();
    let snapshots = Snapshotter::open_with(&snaps_root, Driver::Overlay).unwrap();
    snapshots.layers(store.blobs(), &small_image).unwrap();
    let index_before = fs::read(images_root.join("images.json")).unwrap();

    // 40 MiB that do not compress: the blob itself does not fit.
    let big = LayerBuilder::default()
        .file("big", &noise(40 << 20, NOISE_SEED), 0o644)
        .finish();
    let err = load_docker_archive(&mut store, &docker_save_archive(&[&big], "big:1")[..])
        .unwrap_err()
        .to_string();
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(&images_root.display().to_string()),
        "names the file: {err}"
    );
    assert_eq!(
        fs::read(images_root.join("images.json")).unwrap(),
        index_before
    );
    drop(store);

    // 40 MiB of zeros, gzipped: the blob fits, unpacking it does not.
    let zeros = LayerBuilder::default()
        .file("zeros", &vec![0u8; 40 << 20], 0o644)
        .finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&zeros).unwrap();
    let gz = gz.finish().unwrap();
    let mut store = ImageStore::open(&images_root).unwrap();
    let archive = docker_save_archive_with(&[&gz], &[sha256(&zeros)], "zeros:1");
    load_docker_archive(&mut store, &archive[..]).unwrap();
    let zeros_image = store.get("zeros:1").unwrap().clone();
    let err = snapshots
        .create_container(store.blobs(), &zeros_image, "c1")
        .unwrap_err()
        .to_string();
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("write zeros"), "names the layer entry: {err}");
    assert!(snapshots.containers().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(snaps_root.join("containers")).unwrap().count(),
        0,
        "a failed create leaves no directory"
    );
    drop(store);

    let report = collect(&images_root, &snaps_root, &[]).unwrap();
    assert!(
        !report.blobs_removed.is_empty(),
        "the failed load's blobs: {report:?}"
    );
    assert_only_referenced_blobs(&images_root);
    let left: Vec<String> = fs::read_dir(&snaps_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp-") || n.starts_with("trash-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(snapshots.containers().unwrap().is_empty());

    let store = ImageStore::open(&images_root).unwrap();
    let names: Vec<Vec<&str>> = store.list().into_iter().map(|(_, n)| n).collect();
    assert_eq!(names.len(), 2, "small and zeros: {names:?}");
    let listed = store.get("small:1").unwrap();
    assert_eq!(listed, &small_image);
    let dirs = snapshots.layers(store.blobs(), listed).unwrap();
    assert_eq!(fs::read(dirs[0].join("hello")).unwrap(), b"small image\n");
}

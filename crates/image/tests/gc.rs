//! Garbage collection: it keeps exactly what images and containers use, and cleans up after
//! writers (and itself) killed with SIGKILL midway.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_image::archive::load_docker_archive;
use berth_image::digest::{sha256, Digest};
use berth_image::gc::collect;
use berth_image::lock::DataLock;
use berth_image::snapshot::{chain_ids, Driver, Snapshotter};
use berth_image::{ImageRecord, ImageStore};
use berth_testkit::noise;
use berth_testkit::TempDir;
use common::{docker_save_archive, LayerBuilder};

const CHILD_MODE: &str = "BERTH_GC_TEST_CHILD";
const CHILD_ROOT: &str = "BERTH_GC_TEST_ROOT";
const CHILD_DIFF_ID: &str = "BERTH_GC_TEST_DIFF_ID";

fn small_layer() -> Vec<u8> {
    LayerBuilder::default()
        .dir("etc", 0o755)
        .file("etc/motd", b"small\n", 0o644)
        .finish()
}

/// A layer of `files` files of 16 KiB each.
fn big_layer(files: usize, seed: u64) -> Vec<u8> {
    let mut b = LayerBuilder::default();
    b.dir("data", 0o755);
    for i in 0..files {
        b.file(
            &format!("data/{i:05}"),
            &noise(16 << 10, seed + i as u64),
            0o644,
        );
    }
    b.finish()
}

fn snapshot_names(root: &Path) -> BTreeSet<String> {
    fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Blobs no image references (a loaded archive's manifest.json).
fn unreferenced(store: &ImageStore) -> BTreeSet<Digest> {
    let mut all: BTreeSet<Digest> = store.blobs().digests().unwrap().into_iter().collect();
    for (image, _) in store.list() {
        all.remove(&image.id);
        for layer in &image.layers {
            all.remove(layer);
        }
    }
    all
}

/// The config blob `docker_save_archive` makes for an image of `layer`.
fn big_config(layer: &[u8]) -> Digest {
    let archive = docker_save_archive(&[layer], "x:1");
    let mut entries = tar::Archive::new(&archive[..]);
    let name = entries
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .find(|n| n.ends_with(".json") && n != "manifest.json")
        .unwrap();
    format!("sha256:{}", name.trim_end_matches(".json"))
        .parse()
        .unwrap()
}

fn hexes(digests: &[Digest]) -> BTreeSet<String> {
    digests.iter().map(|d| d.hex().to_string()).collect()
}

/// Every blob verifies, and the blobs are exactly what the images reference.
fn assert_store_is_exactly(root: &Path, extra: &[Digest]) {
    let store = ImageStore::open(root).unwrap();
    let mut expected: BTreeSet<Digest> = extra.iter().cloned().collect();
    for (image, _) in store.list() {
        expected.insert(image.id.clone());
        expected.extend(image.layers.iter().cloned());
    }
    let stored: BTreeSet<Digest> = store.blobs().digests().unwrap().into_iter().collect();
    assert_eq!(stored, expected);
    for digest in &stored {
        store.blobs().verify(digest).unwrap();
    }
    assert_eq!(
        fs::read_dir(root.join("ingest")).unwrap().count(),
        0,
        "ingest is empty"
    );
}

#[test]
fn collect_keeps_exactly_what_images_and_containers_use() {
    let dir = TempDir::new("gc-mark");
    let (images_root, snaps_root) = (dir.join("store"), dir.join("snapshots"));
    let small = small_layer();
    let other = big_layer(2, 7);
    let mut store = ImageStore::open(&images_root).unwrap();
    load_docker_archive(&mut store, &docker_save_archive(&[&small], "keep:1")[..]).unwrap();
    let kept = store.get("keep:1").unwrap().clone();
    let archive_files = unreferenced(&store);

    // A pulled image: its manifest, an index above it, and a blob only the manifest names.
    let pulled_layer = store.blobs().put_new(&other).unwrap();
    let config = store
        .blobs()
        .put_new(br#"{"rootfs":{"diff_ids":[]}}"#)
        .unwrap();
    let attestation = store
        .blobs()
        .put_new(b"only the manifest references me")
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"digest": config.to_string(), "size": 1},
        "layers": [
            {"digest": pulled_layer.to_string(), "size": 1},
            {"digest": attestation.to_string(), "size": 1},
        ]
    });
    let manifest = store
        .blobs()
        .put_new(manifest.to_string().as_bytes())
        .unwrap();
    let index = serde_json::json!({"manifests": [{"digest": manifest.to_string(), "size": 1}]});
    let index = store.blobs().put_new(index.to_string().as_bytes()).unwrap();
    let pulled = ImageRecord {
        id: config.clone(),
        layers: vec![pulled_layer.clone()],
        diff_ids: vec![sha256(&other)],
        repo_digests: vec![format!("docker.io/library/pulled@{index}")],
    };
    store
        .add(pulled.clone(), &["pulled:1".parse().unwrap()])
        .unwrap();

    // Garbage: a stray blob, a snapshot of no image, an abandoned ingest file.
    let stray = store.blobs().put_new(b"nobody needs me").unwrap();
    fs::write(images_root.join("ingest/abandoned"), b"partial").unwrap();
    let snapshots = Snapshotter::open_with(&snaps_root, Driver::Copy).unwrap();
    snapshots.layers(store.blobs(), &kept).unwrap();
    snapshots.layers(store.blobs(), &pulled).unwrap();
    let orphan_layer = big_layer(1, 99);
    let orphan = sha256(&orphan_layer);
    let pending = snapshots.prepare(&orphan).unwrap();
    pending.unpack(&orphan_layer[..], &orphan).unwrap();
    pending.commit().unwrap();
    // A snapshot only a container holds, and one only the caller says it holds.
    let container_layer = big_layer(1, 5);
    let container_image = ImageRecord {
        id: sha256(b"unregistered config"),
        layers: vec![store.blobs().put_new(&container_layer).unwrap()],
        diff_ids: vec![sha256(&container_layer)],
        repo_digests: Vec::new(),
    };
    snapshots
        .create_container(store.blobs(), &container_image, "c1")
        .unwrap();
    let held_layer = big_layer(1, 11);
    let held = sha256(&held_layer);
    let pending = snapshots.prepare(&held).unwrap();
    pending.unpack(&held_layer[..], &held).unwrap();
    pending.commit().unwrap();
    drop(store);

    let report = collect(&images_root, &snaps_root, std::slice::from_ref(&held)).unwrap();
    let mut removed = report.blobs_removed.clone();
    removed.sort();
    let mut expected = vec![stray, container_image.layers[0].clone()];
    expected.extend(archive_files);
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(report.snapshots_removed, vec![orphan.clone()]);
    assert_eq!(report.leftovers_removed, 1, "the ingest file");
    assert!(report.bytes_freed >= 2 * (16 << 10), "{report:?}");

    let store = ImageStore::open(&images_root).unwrap();
    for digest in [
        &index,
        &manifest,
        &attestation,
        &config,
        &pulled_layer,
        &kept.id,
    ] {
        assert!(store.blobs().contains(digest), "{digest} kept");
    }
    let mut chains: Vec<Digest> = chain_ids(&kept.diff_ids);
    chains.extend(chain_ids(&pulled.diff_ids));
    chains.extend(chain_ids(&container_image.diff_ids));
    chains.push(held.clone());
    let mut expected_names = hexes(&chains);
    expected_names.insert("containers".into());
    assert_eq!(snapshot_names(&snaps_root), expected_names);
    assert!(snapshots
        .mount_container("c1")
        .unwrap()
        .join("data/00000")
        .is_file());

    let again = collect(&images_root, &snaps_root, &[held]).unwrap();
    assert_eq!(again, Default::default(), "nothing left to collect");
}

/// Kills its child on drop, so a failing test leaves no process behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(mode: &str, root: &Path, diff_id: Option<&Digest>) -> ChildGuard {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--ignored", "--exact", "child_process", "--nocapture"])
        .env(CHILD_MODE, mode)
        .env(CHILD_ROOT, root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    if let Some(d) = diff_id {
        child.env(CHILD_DIFF_ID, d.to_string());
    }
    ChildGuard(child.spawn().unwrap())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn sigkill(mut child: ChildGuard) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the child was killed, not finished: {status:?}"
    );
}

/// What the killed children do: started only by the tests below (ignored otherwise).
#[test]
#[ignore = "the child process of the SIGKILL tests"]
fn child_process() {
    let mode = std::env::var(CHILD_MODE).expect("started by a gc test");
    let root = PathBuf::from(std::env::var_os(CHILD_ROOT).unwrap());
    let (images_root, snaps_root) = (root.join("store"), root.join("snapshots"));
    match mode.as_str() {
        "load" => {
            let _lock = DataLock::writer(&images_root).unwrap();
            let mut store = ImageStore::open(&images_root).unwrap();
            load_docker_archive(&mut store, std::io::stdin().lock()).unwrap();
        }
        "unpack" => {
            let _lock = DataLock::writer(&images_root).unwrap();
            let diff_id: Digest = std::env::var(CHILD_DIFF_ID).unwrap().parse().unwrap();
            let snapshots = Snapshotter::open_with(&snaps_root, Driver::Copy).unwrap();
            let pending = snapshots.prepare(&diff_id).unwrap();
            pending.unpack(std::io::stdin().lock(), &diff_id).unwrap();
            pending.commit().unwrap();
        }
        "gc" => {
            collect(&images_root, &snaps_root, &[]).unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn a_load_killed_midway_leaves_nothing_after_gc_and_can_be_redone() {
    let dir = TempDir::new("gc-kill-load");
    let images_root = dir.join("store");
    let small = small_layer();
    let mut store = ImageStore::open(&images_root).unwrap();
    load_docker_archive(&mut store, &docker_save_archive(&[&small], "small:1")[..]).unwrap();
    let archive_files = unreferenced(&store);
    drop(store);

    let big = big_layer(2048, 1); // 32 MiB
    let archive = docker_save_archive(&[&big], "big:1");
    let big_config = big_config(&big);
    let mut child = spawn_child("load", dir.path(), None);
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(&archive[..archive.len() / 2]).unwrap();
    wait_for("the child's partial blob", || {
        fs::read_dir(images_root.join("ingest"))
            .unwrap()
            .any(|e| e.unwrap().metadata().unwrap().len() > 0)
    });
    assert!(
        DataLock::try_collector(&images_root).unwrap().is_none(),
        "gc waits while a writer works"
    );
    sigkill(child);
    drop(stdin);

    let report = collect(&images_root, &dir.join("snapshots"), &[]).unwrap();
    // The big image's config and the small archive's manifest.json (load stores every file).
    let mut expected = archive_files.clone();
    expected.insert(big_config);
    let removed: BTreeSet<Digest> = report.blobs_removed.iter().cloned().collect();
    assert_eq!(removed, expected, "{report:?}");
    assert_eq!(report.leftovers_removed, 1, "the partial layer");
    assert_store_is_exactly(&images_root, &[]);
    let store = ImageStore::open(&images_root).unwrap();
    assert!(store.get("small:1").is_some() && store.get("big:1").is_none());
    drop(store);

    let mut store = ImageStore::open(&images_root).unwrap();
    load_docker_archive(&mut store, &archive[..]).unwrap();
    assert!(store.get("big:1").is_some());
    drop(store);
    let report = collect(&images_root, &dir.join("snapshots"), &[]).unwrap();
    assert_eq!(
        report.blobs_removed.len(),
        1,
        "its manifest.json: {report:?}"
    );
    assert_store_is_exactly(&images_root, &[]);
}

#[test]
fn an_unpack_killed_midway_leaves_nothing_after_gc_and_can_be_redone() {
    let dir = TempDir::new("gc-kill-unpack");
    let (images_root, snaps_root) = (dir.join("store"), dir.join("snapshots"));
    let big = big_layer(2048, 3);
    let mut store = ImageStore::open(&images_root).unwrap();
    load_docker_archive(&mut store, &docker_save_archive(&[&big], "big:1")[..]).unwrap();
    let image = store.get("big:1").unwrap().clone();
    drop(store);

    let diff_id = image.diff_ids[0].clone();
    let mut child = spawn_child("unpack", dir.path(), Some(&diff_id));
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(&big[..big.len() / 2]).unwrap();
    wait_for("the child's partial snapshot", || {
        snapshot_names(&snaps_root)
            .iter()
            .any(|n| n.starts_with("tmp-"))
    });
    sigkill(child);
    drop(stdin);
    assert!(snapshot_names(&snaps_root)
        .iter()
        .any(|n| n.starts_with("tmp-")));

    let report = collect(&images_root, &snaps_root, &[]).unwrap();
    assert_eq!(report.leftovers_removed, 1, "{report:?}");
    assert!(report.bytes_freed > 0);
    assert_eq!(snapshot_names(&snaps_root), BTreeSet::new());
    assert_store_is_exactly(&images_root, &[]);

    let store = ImageStore::open(&images_root).unwrap();
    let snapshots = Snapshotter::open_with(&snaps_root, Driver::Copy).unwrap();
    let layers = snapshots.layers(store.blobs(), &image).unwrap();
    assert_eq!(fs::read_dir(layers[0].join("data")).unwrap().count(), 2048);
}

#[test]
fn a_collection_killed_midway_is_finished_by_the_next() {
    let dir = TempDir::new("gc-kill-gc");
    let (images_root, snaps_root) = (dir.join("store"), dir.join("snapshots"));
    ImageStore::open(&images_root).unwrap();
    // Many small files: removing them takes long enough to be interrupted.
    let mut b = LayerBuilder::default();
    b.dir("many", 0o755);
    for i in 0..40_000 {
        b.file(&format!("many/{i:05}"), b"x", 0o644);
    }
    let layer = b.finish();
    let chain = sha256(&layer);
    let snapshots = Snapshotter::open_with(&snaps_root, Driver::Copy).unwrap();
    let pending = snapshots.prepare(&chain).unwrap();
    pending.unpack(&layer[..], &chain).unwrap();
    pending.commit().unwrap();

    let child = spawn_child("gc", dir.path(), None);
    wait_for("the collection to start removing", || {
        snapshot_names(&snaps_root)
            .iter()
            .any(|n| n.starts_with("trash-"))
    });
    sigkill(child);
    assert!(
        snapshot_names(&snaps_root)
            .iter()
            .any(|n| n.starts_with("trash-")),
        "killed while removing"
    );
    assert!(
        snapshots.get(&chain).is_none(),
        "the snapshot is gone from use at once"
    );

    let report = collect(&images_root, &snaps_root, &[]).unwrap();
    assert_eq!(report.leftovers_removed, 1, "{report:?}");
    assert_eq!(snapshot_names(&snaps_root), BTreeSet::new());
}
